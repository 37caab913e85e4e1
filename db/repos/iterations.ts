import { and, desc, eq, inArray, isNull } from "drizzle-orm";
import type { IterationRepo, ScheduleRecord, SubscriptionRecord, SweepRecord } from "../../src/core/ports.ts";
import type { Db } from "../client.ts";
import { scheduleFires, schedules, subscriptions, sweeps } from "../schema.ts";

export const asSchedule = (r: typeof schedules.$inferSelect): ScheduleRecord => ({
  ...r,
  state: r.state as ScheduleRecord["state"],
});
export const asSweep = (r: typeof sweeps.$inferSelect): SweepRecord => ({
  ...r,
  cells: r.cells as SweepRecord["cells"],
  state: r.state as SweepRecord["state"],
  summary: r.summary ?? null,
});

export function iterationRepo(db: Db): IterationRepo {
  return {
    createSchedule(s) {
      return asSchedule(db.insert(schedules).values(s).returning().get());
    },
    schedule(id) {
      const r = db.select().from(schedules).where(eq(schedules.id, id)).get();
      return r ? asSchedule(r) : null;
    },
    schedules() {
      return db.select().from(schedules).orderBy(schedules.id).all().map(asSchedule);
    },
    updateSchedule(id, patch) {
      return asSchedule(db.update(schedules).set(patch).where(eq(schedules.id, id)).returning().get());
    },
    removeSchedule(id) {
      db.transaction((tx) => {
        tx.delete(scheduleFires).where(eq(scheduleFires.scheduleId, id)).run();
        tx.delete(schedules).where(eq(schedules.id, id)).run();
      });
    },
    addFire(f) {
      db.insert(scheduleFires).values(f).run();
    },
    fires(scheduleId, limit = 20) {
      return db
        .select()
        .from(scheduleFires)
        .where(eq(scheduleFires.scheduleId, scheduleId))
        .orderBy(desc(scheduleFires.id))
        .limit(limit)
        .all()
        .map((f) => ({ ...f, reason: f.reason as "scheduled", outcome: f.outcome as "ok" }));
    },

    subscribe(s) {
      const where = and(
        eq(subscriptions.channelId, s.channelId),
        s.experimentId === null ? isNull(subscriptions.experimentId) : eq(subscriptions.experimentId, s.experimentId),
      );
      return db.transaction((tx) => {
        const existing = tx.select().from(subscriptions).where(where).get();
        if (existing) {
          const kinds = [...new Set([...(existing.kinds ?? []), ...s.kinds])];
          return tx
            .update(subscriptions)
            .set({ kinds })
            .where(eq(subscriptions.id, existing.id))
            .returning()
            .get() as SubscriptionRecord;
        }
        return tx.insert(subscriptions).values(s).returning().get() as SubscriptionRecord;
      });
    },
    subscriptions(opts = {}) {
      return db
        .select()
        .from(subscriptions)
        .where(opts.channelId ? eq(subscriptions.channelId, opts.channelId) : undefined)
        .all() as SubscriptionRecord[];
    },

    createSweep(s) {
      return asSweep(db.insert(sweeps).values(s).returning().get());
    },
    sweep(id) {
      const r = db.select().from(sweeps).where(eq(sweeps.id, id)).get();
      return r ? asSweep(r) : null;
    },
    sweeps(opts = {}) {
      return db
        .select()
        .from(sweeps)
        .where(opts.states?.length ? inArray(sweeps.state, opts.states) : undefined)
        .orderBy(desc(sweeps.id))
        .all()
        .map(asSweep);
    },
    updateSweep(id, patch) {
      return asSweep(db.update(sweeps).set(patch).where(eq(sweeps.id, id)).returning().get());
    },
  };
}
