import { and, desc, eq, inArray, isNull } from "drizzle-orm";
import type { IterationRepo, SubscriptionRecord } from "../../../src/core/ports.ts";
import { asSchedule as liteSchedule, asSweep as liteSweep } from "../../repos/iterations.ts";
import type { PgDb } from "../client.ts";
import { scheduleFires, schedules, subscriptions, sweeps } from "../schema.ts";
import type { Async } from "./types.ts";

// SQLite's row mappers (db/repos/iterations.ts): a Postgres row has the same fields and JS types.
const asSchedule = (r: typeof schedules.$inferSelect) => liteSchedule(r as never);
const asSweep = (r: typeof sweeps.$inferSelect) => liteSweep(r as never);

/** Schedules, subscriptions and sweeps on Postgres (the contract of db/repos/iterations.ts). */
export function pgIterationRepo(db: PgDb): Async<IterationRepo> {
  return {
    async createSchedule(s) {
      return asSchedule((await db.insert(schedules).values(s).returning())[0]);
    },
    async schedule(id) {
      const [r] = await db.select().from(schedules).where(eq(schedules.id, id));
      return r ? asSchedule(r) : null;
    },
    async schedules() {
      return (await db.select().from(schedules).orderBy(schedules.id)).map(asSchedule);
    },
    async updateSchedule(id, patch) {
      return asSchedule((await db.update(schedules).set(patch).where(eq(schedules.id, id)).returning())[0]);
    },
    async removeSchedule(id) {
      await db.transaction(async (tx) => {
        await tx.delete(scheduleFires).where(eq(scheduleFires.scheduleId, id));
        await tx.delete(schedules).where(eq(schedules.id, id));
      });
    },
    async addFire(f) {
      await db.insert(scheduleFires).values(f);
    },
    async fires(scheduleId, limit = 20) {
      return (
        await db
          .select()
          .from(scheduleFires)
          .where(eq(scheduleFires.scheduleId, scheduleId))
          .orderBy(desc(scheduleFires.id))
          .limit(limit)
      ).map((f) => ({ ...f, reason: f.reason as "scheduled", outcome: f.outcome as "ok" }));
    },
    async subscribe(s) {
      const where = and(
        eq(subscriptions.channelId, s.channelId),
        s.experimentId === null ? isNull(subscriptions.experimentId) : eq(subscriptions.experimentId, s.experimentId),
      );
      return db.transaction(async (tx) => {
        const [existing] = await tx.select().from(subscriptions).where(where).for("update");
        if (existing) {
          const kinds = [...new Set([...(existing.kinds ?? []), ...s.kinds])];
          return (
            await tx.update(subscriptions).set({ kinds }).where(eq(subscriptions.id, existing.id)).returning()
          )[0] as SubscriptionRecord;
        }
        return (await tx.insert(subscriptions).values(s).returning())[0] as SubscriptionRecord;
      });
    },
    async subscriptions(opts = {}) {
      return (await db
        .select()
        .from(subscriptions)
        .where(opts.channelId ? eq(subscriptions.channelId, opts.channelId) : undefined)) as SubscriptionRecord[];
    },
    async createSweep(s) {
      return asSweep((await db.insert(sweeps).values(s).returning())[0]);
    },
    async sweep(id) {
      const [r] = await db.select().from(sweeps).where(eq(sweeps.id, id));
      return r ? asSweep(r) : null;
    },
    async sweeps(opts = {}) {
      return (
        await db
          .select()
          .from(sweeps)
          .where(opts.states?.length ? inArray(sweeps.state, opts.states) : undefined)
          .orderBy(desc(sweeps.id))
      ).map(asSweep);
    },
    async updateSweep(id, patch) {
      return asSweep((await db.update(sweeps).set(patch).where(eq(sweeps.id, id)).returning())[0]);
    },
  };
}
