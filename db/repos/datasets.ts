import { and, desc, eq, max } from "drizzle-orm";
import type { DatasetRepo, DatasetVersionRecord, NewDatasetVersion } from "../../src/core/ports.ts";
import type { Db } from "../client.ts";
import { datasets, datasetVersions } from "../schema.ts";

type Row = typeof datasetVersions.$inferSelect;

export function toRecord(row: Row, name: string): DatasetVersionRecord {
  return {
    id: row.id,
    datasetId: row.datasetId,
    name,
    version: row.version,
    sha256: row.sha256,
    normSha256: row.normSha256,
    tokensSha256: row.tokensSha256,
    format: row.format,
    rows: row.rows,
    bytes: row.bytes,
    filename: row.filename,
    origin: row.origin as DatasetVersionRecord["origin"],
    stats: row.stats as DatasetVersionRecord["stats"],
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}

export function datasetRepo(db: Db): DatasetRepo {
  const select = () =>
    db
      .select({ v: datasetVersions, name: datasets.name })
      .from(datasetVersions)
      .innerJoin(datasets, eq(datasets.id, datasetVersions.datasetId));

  return {
    addVersion(v: NewDatasetVersion) {
      // One immediate transaction: the version number is read and taken atomically, so two uploads
      // of the same name at once get v2 and v3, never two v2s.
      return db.transaction(
        (tx) => {
          let ds = tx.select().from(datasets).where(eq(datasets.name, v.name)).get();
          if (!ds) ds = tx.insert(datasets).values({ name: v.name, createdAt: v.createdAt }).returning().get();
          const top = tx
            .select({ m: max(datasetVersions.version) })
            .from(datasetVersions)
            .where(eq(datasetVersions.datasetId, ds.id))
            .get();
          const row = tx
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
            .returning()
            .get();
          return toRecord(row, ds.name);
        },
        { behavior: "immediate" },
      );
    },

    findVersion(name, version) {
      const where =
        version === undefined
          ? eq(datasets.name, name)
          : and(eq(datasets.name, name), eq(datasetVersions.version, version));
      const r = select().where(where).orderBy(desc(datasetVersions.version)).limit(1).get();
      return r ? toRecord(r.v, r.name) : null;
    },

    versionById(id) {
      const r = select().where(eq(datasetVersions.id, id)).get();
      return r ? toRecord(r.v, r.name) : null;
    },

    findBySha(name, sha256) {
      const r = select()
        .where(and(eq(datasets.name, name), eq(datasetVersions.sha256, sha256)))
        .orderBy(desc(datasetVersions.version))
        .limit(1)
        .get();
      return r ? toRecord(r.v, r.name) : null;
    },

    listLatest() {
      const all = select().orderBy(datasets.name, desc(datasetVersions.version)).all();
      const seen = new Set<string>();
      const out: DatasetVersionRecord[] = [];
      for (const r of all) {
        if (seen.has(r.name)) continue;
        seen.add(r.name);
        out.push(toRecord(r.v, r.name));
      }
      return out;
    },

    listVersions(name) {
      return select()
        .where(eq(datasets.name, name))
        .orderBy(desc(datasetVersions.version))
        .all()
        .map((r) => toRecord(r.v, r.name));
    },

    names() {
      return db
        .select({ name: datasets.name })
        .from(datasets)
        .orderBy(datasets.name)
        .all()
        .map((r) => r.name);
    },
  };
}
