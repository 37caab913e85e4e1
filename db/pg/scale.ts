/**
 * What the replicas of one deployment decide together in Postgres, asynchronously (never on the synchronous bridge):
 * leader leases, a missed schedule fire taken once, and run changes told to the others. (Chat deliveries, and each
 * message of a run's thread, are taken once through chat_requests: db/pg/repos/chat.ts.)
 */
import { and, eq, sql } from "drizzle-orm";
import type { PgDb } from "./client.ts";
import { leases, schedules } from "./schema.ts";

/**
 * Takes or renews the lease `name` for `holder` until `until`: succeeds when nobody holds it, the holder is this one,
 * or the current lease ran out by `now`. One statement, so two replicas never both get it.
 */
export async function acquireLease(db: PgDb, name: string, holder: string, now: Date, until: Date): Promise<boolean> {
  const r = await db.execute(sql`
    INSERT INTO leases (name, holder, until, acquired_at) VALUES (${name}, ${holder}, ${until.toISOString()}, ${now.toISOString()})
    ON CONFLICT (name) DO UPDATE SET
      holder = EXCLUDED.holder,
      until = EXCLUDED.until,
      acquired_at = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.acquired_at ELSE EXCLUDED.acquired_at END
    WHERE leases.holder = EXCLUDED.holder OR leases.until < ${now.toISOString()}
    RETURNING holder`);
  return (r.rowCount ?? 0) > 0;
}

/** Gives the lease up at once (a clean stop), so another replica takes over without waiting for it to run out. */
export async function releaseLease(db: PgDb, name: string, holder: string): Promise<void> {
  await db.delete(leases).where(and(eq(leases.name, name), eq(leases.holder, holder)));
}

export async function leaseHolder(db: PgDb, name: string): Promise<{ holder: string; until: Date } | null> {
  const [r] = await db.select().from(leases).where(eq(leases.name, name));
  return r ? { holder: r.holder, until: r.until } : null;
}

/**
 * Takes the missed fire of a schedule found at start: moves its next fire on from `seen` to `next` only if no other
 * replica did first. True: this replica runs the missed fire.
 */
export async function claimMissedFire(db: PgDb, scheduleId: number, seen: Date, next: Date | null): Promise<boolean> {
  const r = await db
    .update(schedules)
    .set({ nextFireAt: next })
    .where(and(eq(schedules.id, scheduleId), eq(schedules.nextFireAt, seen)))
    .returning({ id: schedules.id });
  return r.length > 0;
}

/** The channel of run changes among replicas (LISTEN/NOTIFY). */
export const RUN_CHANNEL = "tuneloop_runs";

export async function notifyRun(db: PgDb, payload: string): Promise<void> {
  await db.execute(sql`SELECT pg_notify(${RUN_CHANNEL}, ${payload})`);
}

/** The channel of queued evals' changes among replicas (progress, the end): as run changes, for evals. */
export const EVAL_CHANNEL = "tuneloop_evals";

export async function notifyEval(db: PgDb, payload: string): Promise<void> {
  await db.execute(sql`SELECT pg_notify(${EVAL_CHANNEL}, ${payload})`);
}

/** The channel that wakes idle workers when a job is queued (pg-boss alone would find it at its next poll). */
export const JOB_CHANNEL = "tuneloop_jobs";

/** Tells every replica and worker that `queue` has a new job. */
export async function notifyJob(db: PgDb, queue: string): Promise<void> {
  await db.execute(sql`SELECT pg_notify(${JOB_CHANNEL}, ${queue})`);
}
