import { and, desc, eq, max } from "drizzle-orm";
import type { PackRepo } from "../../../src/core/packs/types.ts";
import { asPack as liteAsPack } from "../../repos/packs.ts";
import type { PgDb } from "../client.ts";
import { experimentPacks, packs } from "../schema.ts";
import { LOCK, lock } from "./budget.ts";
import type { Async } from "./types.ts";

/** SQLite's row mapper (db/repos/packs.ts): a Postgres row has the same fields and JS types. */
const asPack = (r: typeof packs.$inferSelect) => liteAsPack(r as never);

/** Eval packs on Postgres (the contract of db/repos/packs.ts). */
export function pgPackRepo(db: PgDb): Async<PackRepo> {
  return {
    async addPack(p) {
      // The name's lock makes reading the top version and taking the next one atomic across replicas.
      return db.transaction(async (tx) => {
        await lock(tx, LOCK.pack, p.name);
        const [top] = await tx
          .select({ v: max(packs.version) })
          .from(packs)
          .where(eq(packs.name, p.name));
        const [row] = await tx
          .insert(packs)
          .values({ ...p, version: (top?.v ?? 0) + 1 })
          .returning();
        return asPack(row);
      });
    },
    async pack(name, version) {
      const [r] = await db
        .select()
        .from(packs)
        .where(version === undefined ? eq(packs.name, name) : and(eq(packs.name, name), eq(packs.version, version)))
        .orderBy(desc(packs.version))
        .limit(1);
      return r ? asPack(r) : null;
    },
    async listPacks() {
      const all = await db.select().from(packs).orderBy(packs.name, desc(packs.version));
      const seen = new Set<string>();
      return all.filter((r) => !seen.has(r.name) && seen.add(r.name)).map(asPack);
    },
    async setExperimentPacks(experimentId, names) {
      await db
        .insert(experimentPacks)
        .values({ experimentId, packs: names })
        .onConflictDoUpdate({ target: experimentPacks.experimentId, set: { packs: names } });
    },
    async experimentPacks(experimentId) {
      const [r] = await db.select().from(experimentPacks).where(eq(experimentPacks.experimentId, experimentId));
      return r?.packs ?? [];
    },
  };
}
