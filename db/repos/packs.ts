import { and, desc, eq, max } from "drizzle-orm";
import type { PackRepo, Probe, StoredPack } from "../../src/core/packs/types.ts";
import type { Db } from "../client.ts";
import { experimentPacks, packs } from "../schema.ts";

export const asPack = (r: typeof packs.$inferSelect): StoredPack => ({ ...r, probes: r.probes as Probe[] });

export function packRepo(db: Db): PackRepo {
  return {
    addPack(p) {
      return db.transaction(
        (tx) => {
          const last =
            tx
              .select({ v: max(packs.version) })
              .from(packs)
              .where(eq(packs.name, p.name))
              .get()?.v ?? 0;
          return asPack(
            tx
              .insert(packs)
              .values({ ...p, version: last + 1 })
              .returning()
              .get(),
          );
        },
        { behavior: "immediate" },
      );
    },
    pack(name, version) {
      const r = db
        .select()
        .from(packs)
        .where(version === undefined ? eq(packs.name, name) : and(eq(packs.name, name), eq(packs.version, version)))
        .orderBy(desc(packs.version))
        .limit(1)
        .get();
      return r ? asPack(r) : null;
    },
    listPacks() {
      const all = db.select().from(packs).orderBy(packs.name, desc(packs.version)).all();
      const seen = new Set<string>();
      return all.filter((r) => !seen.has(r.name) && seen.add(r.name)).map(asPack);
    },
    setExperimentPacks(experimentId, names) {
      db.insert(experimentPacks)
        .values({ experimentId, packs: names })
        .onConflictDoUpdate({ target: experimentPacks.experimentId, set: { packs: names } })
        .run();
    },
    experimentPacks(experimentId) {
      return db.select().from(experimentPacks).where(eq(experimentPacks.experimentId, experimentId)).get()?.packs ?? [];
    },
  };
}
