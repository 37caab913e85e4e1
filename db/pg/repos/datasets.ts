import { and, desc, eq, max } from "drizzle-orm";
import type { DatasetRepo, DatasetVersionRecord, NewDatasetVersion } from "../../../src/core/ports.ts";
import { toRecord as liteRecord } from "../../repos/datasets.ts";
import type { PgDb } from "../client.ts";
import { datasets, datasetVersions } from "../schema.ts";
import { LOCK, lock } from "./budget.ts";
import type { Async } from "./types.ts";

type Row = typeof datasetVersions.$inferSelect;

/** SQLite's row mapper (db/repos/datasets.ts): a Postgres row has the same fields and JS types. */
const toRecord = (row: Row, name: string) => liteRecord(row as never, name);

/** Datasets on Postgres (the contract of db/repos/datasets.ts). */
export function pgDatasetRepo(db: PgDb): Async<DatasetRepo> {
  const select = () =>
    db
      .select({ v: datasetVersions, name: datasets.name })
      .from(datasetVersions)
      .innerJoin(datasets, eq(datasets.id, datasetVersions.datasetId));

  return {
    async addVersion(v: NewDatasetVersion) {
      // The name's lock makes reading the top version and taking the next one atomic: two uploads of the same
      // name at once, on two replicas, get v2 and v3, never two v2s.
      return db.transaction(async (tx) => {
        await lock(tx, LOCK.dataset, v.name);
        let [ds] = await tx.select().from(datasets).where(eq(datasets.name, v.name));
        if (!ds) [ds] = await tx.insert(datasets).values({ name: v.name, createdAt: v.createdAt }).returning();
        const [top] = await tx
          .select({ m: max(datasetVersions.version) })
          .from(datasetVersions)
          .where(eq(datasetVersions.datasetId, ds.id));
        const [row] = await tx
          .insert(datasetVersions)
          .values({
            datasetId: ds.id,
            version: (top?.m ?? 0) + 1,
            sha256: v.sha256,
            normSha256: v.normSha256,
            tokensSha256: v.tokensSha256,
            format: v.format,
            rows: v.rows,
            bytes: v.bytes,
            filename: v.filename,
            origin: v.origin,
            stats: v.stats,
            createdBy: v.createdBy,
            createdAt: v.createdAt,
          })
          .returning();
        return toRecord(row, ds.name);
      });
    },
    async findVersion(name, version) {
      const where =
        version === undefined
          ? eq(datasets.name, name)
          : and(eq(datasets.name, name), eq(datasetVersions.version, version));
      const [r] = await select().where(where).orderBy(desc(datasetVersions.version)).limit(1);
      return r ? toRecord(r.v, r.name) : null;
    },
    async versionById(id) {
      const [r] = await select().where(eq(datasetVersions.id, id));
      return r ? toRecord(r.v, r.name) : null;
    },
    async findBySha(name, sha256) {
      const [r] = await select()
        .where(and(eq(datasets.name, name), eq(datasetVersions.sha256, sha256)))
        .orderBy(desc(datasetVersions.version))
        .limit(1);
      return r ? toRecord(r.v, r.name) : null;
    },
    async listLatest() {
      const all = await select().orderBy(datasets.name, desc(datasetVersions.version));
      const seen = new Set<string>();
      const out: DatasetVersionRecord[] = [];
      for (const r of all) {
        if (seen.has(r.name)) continue;
        seen.add(r.name);
        out.push(toRecord(r.v, r.name));
      }
      return out;
    },
    async listVersions(name) {
      return (await select().where(eq(datasets.name, name)).orderBy(desc(datasetVersions.version))).map((r) =>
        toRecord(r.v, r.name),
      );
    },
    async names() {
      return (await db.select({ name: datasets.name }).from(datasets).orderBy(datasets.name)).map((r) => r.name);
    },
  };
}
