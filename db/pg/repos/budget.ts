/**
 * Budget reservations on Postgres: the same rules as db/repos/budget.ts. SQLite serialises every writer at BEGIN
 * IMMEDIATE; here each check that lets money be spent first takes a transaction-scoped advisory lock on its
 * experiment, so two replicas can never both see the same room under a budget and both take it.
 */
import { and, eq, sql } from "drizzle-orm";
import type { BudgetHold, BudgetUse } from "../../../src/core/ports.ts";
import { USD_EPS } from "../../repos/budget.ts";
import type { PgDb } from "../client.ts";
import { budgetHolds, experiments, runs } from "../schema.ts";
import { rows, type Exec } from "./types.ts";

/** Advisory-lock namespaces (the first key of pg_advisory_xact_lock(int, int)). */
export const LOCK = { budget: 7415101, runKey: 7415102, evalKey: 7415103, dataset: 7415104, pack: 7415105 } as const;

/** Serialises the rest of the transaction with every other one that takes the same (namespace, key). */
export async function lock(x: Exec, ns: number, key: number | string): Promise<void> {
  if (typeof key === "number") await x.execute(sql`SELECT pg_advisory_xact_lock(${ns}::int, ${key}::int)`);
  else await x.execute(sql`SELECT pg_advisory_xact_lock(${ns}::int, hashtext(${key}))`);
}

interface HoldRow {
  id: number;
  experiment_id: number;
  run_id: number | null;
  eval_id: number | null;
  usd: number;
  booked: number;
}

export async function budgetUse(x: Exec, experimentId: number, now: Date): Promise<BudgetUse> {
  const [spent] = await rows<{ spent: number }>(
    x,
    sql`SELECT COALESCE(SUM(usd), 0)::float8 AS spent FROM ledger WHERE experiment_id = ${experimentId} AND NOT estimated`,
  );
  const list = await rows<HoldRow>(
    x,
    sql`SELECT h.id, h.experiment_id, h.run_id, h.eval_id, h.usd,
       CASE WHEN h.eval_id IS NOT NULL
         THEN (SELECT COALESCE(SUM(l.usd), 0) FROM ledger l WHERE l.eval_id = h.eval_id AND NOT l.estimated)
         ELSE (SELECT COALESCE(SUM(l.usd), 0) FROM ledger l WHERE l.run_id = h.run_id AND NOT l.estimated)
       END::float8 AS booked
     FROM budget_holds h LEFT JOIN evals e ON e.id = h.eval_id
     WHERE h.experiment_id = ${experimentId} AND h.state = 'held' AND (h.eval_id IS NULL OR e.lease_until > ${now.toISOString()}::timestamptz)
     ORDER BY h.id`,
  );
  const [b] = await rows<{ budget_usd: number | null }>(
    x,
    sql`SELECT budget_usd FROM experiments WHERE id = ${experimentId}`,
  );
  const holds: BudgetHold[] = list.map((h) => ({
    id: h.id,
    experimentId: h.experiment_id,
    runId: h.run_id,
    evalId: h.eval_id,
    usd: h.usd,
    bookedUsd: h.booked,
    remainingUsd: Math.max(0, h.usd - h.booked),
  }));
  return {
    budgetUsd: b?.budget_usd ?? null,
    spentUsd: spent?.spent ?? 0,
    heldUsd: holds.reduce((a, h) => a + h.remainingUsd, 0),
    holds,
  };
}

export const fits = (u: BudgetUse, usd: number) =>
  u.budgetUsd === null || u.spentUsd + u.heldUsd + usd <= u.budgetUsd + USD_EPS;

export async function insertHold(
  x: Exec,
  h: { experimentId: number; runId: number | null; evalId: number | null; usd: number; now: Date },
): Promise<number> {
  const [r] = await x
    .insert(budgetHolds)
    .values({
      experimentId: h.experimentId,
      runId: h.runId,
      evalId: h.evalId,
      usd: h.usd,
      state: "held",
      createdAt: h.now,
    })
    .returning({ id: budgetHolds.id });
  return r.id;
}

export async function release(x: Exec, where: { runId?: number; evalId?: number }, now: Date): Promise<void> {
  const col = where.runId !== undefined ? budgetHolds.runId : budgetHolds.evalId;
  const id = where.runId ?? where.evalId;
  if (id === undefined) return;
  await x
    .update(budgetHolds)
    .set({ state: "released", releasedAt: now })
    .where(and(eq(col, id), eq(budgetHolds.state, "held")));
}

export function budgetOps(db: PgDb) {
  return {
    async runHold(runId: number, usd: number, now: Date): Promise<BudgetHold> {
      return db.transaction(async (tx) => {
        const [run] = await tx.select({ experimentId: runs.experimentId }).from(runs).where(eq(runs.id, runId));
        if (!run) throw new Error(`no run ${runId}`);
        await lock(tx, LOCK.budget, run.experimentId);
        const [existing] = await tx
          .select({ id: budgetHolds.id })
          .from(budgetHolds)
          .where(and(eq(budgetHolds.runId, runId), eq(budgetHolds.state, "held")));
        const held =
          existing?.id ?? (await insertHold(tx, { experimentId: run.experimentId, runId, evalId: null, usd, now }));
        const h = (await budgetUse(tx, run.experimentId, now)).holds.find((x) => x.id === held);
        if (!h) throw new Error(`hold ${held} of run ${runId} vanished`);
        return h;
      });
    },

    async growHold(holdId: number, usd: number, now: Date): Promise<{ ok: boolean; use: BudgetUse }> {
      return db.transaction(async (tx) => {
        const [h0] = await tx.select().from(budgetHolds).where(eq(budgetHolds.id, holdId));
        if (!h0) throw new Error(`no hold ${holdId}`);
        await lock(tx, LOCK.budget, h0.experimentId);
        const [h] = await tx.select().from(budgetHolds).where(eq(budgetHolds.id, holdId));
        const u = await budgetUse(tx, h.experimentId, now);
        if (h.state !== "held") return { ok: false, use: u };
        const mine = u.holds.find((x) => x.id === holdId);
        const booked = mine?.bookedUsd ?? 0;
        const others =
          u.spentUsd - booked + u.holds.filter((x) => x.id !== holdId).reduce((a, x) => a + x.remainingUsd, 0);
        if (u.budgetUsd !== null && others + Math.max(usd, booked) > u.budgetUsd + USD_EPS)
          return { ok: false, use: u };
        await tx.update(budgetHolds).set({ usd }).where(eq(budgetHolds.id, holdId));
        return { ok: true, use: await budgetUse(tx, h.experimentId, now) };
      });
    },

    async setBudget(experimentId: number, budgetUsd: number | null) {
      const [r] = await db.update(experiments).set({ budgetUsd }).where(eq(experiments.id, experimentId)).returning();
      return r;
    },
  };
}
