/**
 * Budget reservations (budget_holds) and the spend they are checked against. Every check that lets money be spent
 * runs inside an immediate transaction (SQLite's write lock is taken at BEGIN), so two processes can never both see
 * the same room under a budget and both take it.
 */
import { and, eq } from "drizzle-orm";
import type { BudgetHold, BudgetUse } from "../../src/core/ports.ts";
import type { Db } from "../client.ts";
import { budgetHolds, experiments, runs } from "../schema.ts";

/** Float slack for comparing sums of dollars. */
export const USD_EPS = 1e-9;

interface HoldRow {
  id: number;
  experiment_id: number;
  run_id: number | null;
  eval_id: number | null;
  usd: number;
  booked: number;
}

export function budgetStatements(db: Db) {
  const c = db.$client;
  const spent = c.prepare<[number], { spent: number }>(
    "SELECT COALESCE(SUM(usd), 0) AS spent FROM ledger WHERE experiment_id = ? AND estimated = 0",
  );
  // A run's hold covers every booking of the run (training and its evals); an eval's hold the eval's own bookings,
  // and only while the eval's lease is alive (a process that died spends nothing more).
  const holds = c.prepare<[number, number], HoldRow>(
    `SELECT h.id, h.experiment_id, h.run_id, h.eval_id, h.usd,
       CASE WHEN h.eval_id IS NOT NULL
         THEN (SELECT COALESCE(SUM(l.usd), 0) FROM ledger l WHERE l.eval_id = h.eval_id AND l.estimated = 0)
         ELSE (SELECT COALESCE(SUM(l.usd), 0) FROM ledger l WHERE l.run_id = h.run_id AND l.estimated = 0)
       END AS booked
     FROM budget_holds h LEFT JOIN evals e ON e.id = h.eval_id
     WHERE h.experiment_id = ? AND h.state = 'held' AND (h.eval_id IS NULL OR e.lease_until > ?)
     ORDER BY h.id`,
  );
  const budget = c.prepare<[number], { budget_usd: number | null }>("SELECT budget_usd FROM experiments WHERE id = ?");

  const use = (experimentId: number, now: Date): BudgetUse => {
    const list: BudgetHold[] = holds.all(experimentId, now.getTime()).map((h) => ({
      id: h.id,
      experimentId: h.experiment_id,
      runId: h.run_id,
      evalId: h.eval_id,
      usd: h.usd,
      bookedUsd: h.booked,
      remainingUsd: Math.max(0, h.usd - h.booked),
    }));
    return {
      budgetUsd: budget.get(experimentId)?.budget_usd ?? null,
      spentUsd: spent.get(experimentId)?.spent ?? 0,
      heldUsd: list.reduce((a, h) => a + h.remainingUsd, 0),
      holds: list,
    };
  };

  /** Would `usd` more (a new hold) still fit? */
  const fits = (u: BudgetUse, usd: number) =>
    u.budgetUsd === null || u.spentUsd + u.heldUsd + usd <= u.budgetUsd + USD_EPS;

  const insertHold = (h: {
    experimentId: number;
    runId: number | null;
    evalId: number | null;
    usd: number;
    now: Date;
  }) =>
    db
      .insert(budgetHolds)
      .values({
        experimentId: h.experimentId,
        runId: h.runId,
        evalId: h.evalId,
        usd: h.usd,
        state: "held",
        createdAt: h.now,
      })
      .returning({ id: budgetHolds.id })
      .get().id;

  const release = (where: { runId?: number; evalId?: number }, now: Date) => {
    const col = where.runId !== undefined ? budgetHolds.runId : budgetHolds.evalId;
    const id = where.runId ?? where.evalId;
    if (id === undefined) return;
    db.update(budgetHolds)
      .set({ state: "released", releasedAt: now })
      .where(and(eq(col, id), eq(budgetHolds.state, "held")))
      .run();
  };

  // Runs queued before reservations existed get their estimate reserved (once: only runs without a hold, and the
  // insert runs under SQLite's write lock; the look first keeps a plain read-only command from taking that lock).
  const unheld = `FROM runs r
     WHERE r.state IN ('estimating', 'awaiting_confirmation', 'queued', 'running', 'stalled')
       AND NOT EXISTS (SELECT 1 FROM budget_holds h WHERE h.run_id = r.id)`;
  if (c.prepare(`SELECT 1 ${unheld} LIMIT 1`).get())
    c.prepare(
      `INSERT INTO budget_holds (experiment_id, run_id, eval_id, usd, state, created_at)
       SELECT r.experiment_id, r.id, NULL, COALESCE(json_extract(r.estimate, '$.totalUsd'), 0), 'held', r.created_at
       ${unheld}`,
    ).run();

  return {
    use,
    fits,
    insertHold,
    release,

    runHold(runId: number, usd: number, now: Date): BudgetHold {
      return db.transaction(
        () => {
          const run = db.select({ experimentId: runs.experimentId }).from(runs).where(eq(runs.id, runId)).get();
          if (!run) throw new Error(`no run ${runId}`);
          let held = db
            .select({ id: budgetHolds.id })
            .from(budgetHolds)
            .where(and(eq(budgetHolds.runId, runId), eq(budgetHolds.state, "held")))
            .get()?.id;
          held ??= insertHold({ experimentId: run.experimentId, runId, evalId: null, usd, now });
          const h = use(run.experimentId, now).holds.find((x) => x.id === held);
          if (!h) throw new Error(`hold ${held} of run ${runId} vanished`);
          return h;
        },
        { behavior: "immediate" },
      );
    },

    growHold(holdId: number, usd: number, now: Date): { ok: boolean; use: BudgetUse } {
      return db.transaction(
        () => {
          const h = db.select().from(budgetHolds).where(eq(budgetHolds.id, holdId)).get();
          if (!h) throw new Error(`no hold ${holdId}`);
          const u = use(h.experimentId, now);
          if (h.state !== "held") return { ok: false, use: u };
          const mine = u.holds.find((x) => x.id === holdId);
          const booked = mine?.bookedUsd ?? 0;
          const others =
            u.spentUsd - booked + u.holds.filter((x) => x.id !== holdId).reduce((a, x) => a + x.remainingUsd, 0);
          if (u.budgetUsd !== null && others + Math.max(usd, booked) > u.budgetUsd + USD_EPS)
            return { ok: false, use: u };
          db.update(budgetHolds).set({ usd }).where(eq(budgetHolds.id, holdId)).run();
          return { ok: true, use: use(h.experimentId, now) };
        },
        { behavior: "immediate" },
      );
    },

    setBudget(experimentId: number, budgetUsd: number | null) {
      return db.update(experiments).set({ budgetUsd }).where(eq(experiments.id, experimentId)).returning().get();
    },
  };
}
