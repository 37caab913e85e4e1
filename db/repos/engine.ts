import { and, asc, desc, eq, gte, inArray, isNull, lt, notInArray, or, sql, type SQL } from "drizzle-orm";
import { isFinal } from "../../src/core/runs/states.ts";
import {
  QUEUED_EVAL_OWNER,
  type EngineRepo,
  type EvalClaimResult,
  type EvalRecord,
  type ExperimentRecord,
  type HypothesisRecord,
  type LedgerEntry,
  type RunRecord,
  type RunState,
} from "../../src/core/ports.ts";
import type { Db } from "../client.ts";
import {
  evalRows,
  evals,
  experiments,
  hypotheses,
  ledger,
  runEvents,
  runs,
  throughputSamples,
  workers,
} from "../schema.ts";
import { budgetStatements } from "./budget.ts";

export const asRun = (r: typeof runs.$inferSelect): RunRecord => ({
  ...r,
  hyper: r.hyper as RunRecord["hyper"],
  state: r.state as RunState,
  progress: (r.progress ?? null) as RunRecord["progress"],
  result: (r.result ?? null) as RunRecord["result"],
  estimate: r.estimate ?? null,
});

export const asEval = (r: typeof evals.$inferSelect): EvalRecord => ({
  ...r,
  role: r.role as EvalRecord["role"],
  state: r.state as EvalRecord["state"],
  summary: (r.summary ?? null) as EvalRecord["summary"],
});

export const asHypothesis = (r: typeof hypotheses.$inferSelect): HypothesisRecord => ({
  ...r,
  verdict: (r.verdict ?? null) as HypothesisRecord["verdict"],
});

export const RESUMED = /resumed as #\d+/;

export function engineRepo(db: Db): EngineRepo {
  const budget = budgetStatements(db);
  const bookLedger = db.$client.prepare(
    "UPDATE ledger SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, usd = usd + ?, wall_ms = wall_ms + ? WHERE id = ?",
  );
  const copyRows = db.$client.prepare(
    `INSERT INTO eval_rows (eval_id, row_index, line, output, expected, score, pass, detail, latency_ms, input_tokens, output_tokens, cluster)
     SELECT ?, row_index, line, output, expected, score, pass, detail, latency_ms, input_tokens, output_tokens, cluster
     FROM eval_rows WHERE eval_id = ?`,
  );
  const rowCount = db.$client.prepare<[number], { n: number }>("SELECT COUNT(*) AS n FROM eval_rows WHERE eval_id = ?");
  const closeEval = (id: number, patch: Partial<typeof evals.$inferInsert>, now: Date) => {
    const r = db
      .update(evals)
      .set({ ...patch, leaseOwner: null, leaseUntil: null })
      .where(eq(evals.id, id))
      .returning()
      .get();
    budget.release({ evalId: id }, now);
    return r;
  };

  return {
    createExperiment(e) {
      return db.insert(experiments).values(e).returning().get() as ExperimentRecord;
    },
    experimentByName(name) {
      return (
        (db.select().from(experiments).where(eq(experiments.name, name)).get() as ExperimentRecord | undefined) ?? null
      );
    },
    experimentById(id) {
      return (
        (db.select().from(experiments).where(eq(experiments.id, id)).get() as ExperimentRecord | undefined) ?? null
      );
    },
    listExperiments() {
      return db.select().from(experiments).orderBy(asc(experiments.name)).all() as ExperimentRecord[];
    },

    createHypothesis(h) {
      return asHypothesis(db.insert(hypotheses).values(h).returning().get());
    },
    hypotheses(experimentId) {
      return db
        .select()
        .from(hypotheses)
        .where(eq(hypotheses.experimentId, experimentId))
        .orderBy(asc(hypotheses.id))
        .all()
        .map(asHypothesis);
    },
    decideHypothesis(id, runId, verdict, at) {
      db.update(hypotheses).set({ runId, verdict, decidedAt: at }).where(eq(hypotheses.id, id)).run();
    },

    createRun(r, hold) {
      return db.transaction(
        (tx) => {
          const existing = tx.select().from(runs).where(eq(runs.idempotencyKey, r.idempotencyKey)).get();
          if (existing) return { run: asRun(existing), created: false };
          if (hold) {
            const use = budget.use(r.experimentId, r.createdAt);
            if (!budget.fits(use, hold.usd)) return { refused: use };
          }
          const run = asRun(tx.insert(runs).values(r).returning().get());
          if (hold)
            budget.insertHold({
              experimentId: r.experimentId,
              runId: run.id,
              evalId: null,
              usd: hold.usd,
              now: r.createdAt,
            });
          return { run, created: true };
        },
        { behavior: "immediate" },
      );
    },
    runById(id) {
      const r = db.select().from(runs).where(eq(runs.id, id)).get();
      return r ? asRun(r) : null;
    },
    listRuns(opts = {}) {
      const where: SQL[] = [];
      if (opts.experimentId !== undefined) where.push(eq(runs.experimentId, opts.experimentId));
      if (opts.states?.length) where.push(inArray(runs.state, opts.states));
      return db
        .select()
        .from(runs)
        .where(where.length ? and(...where) : undefined)
        .orderBy(desc(runs.id))
        .limit(opts.limit ?? 1000)
        .all()
        .map(asRun);
    },
    updateRun(id, patch) {
      return asRun(db.update(runs).set(patch).where(eq(runs.id, id)).returning().get());
    },
    transitionRun(id, from, to, patch = {}, event) {
      return db.transaction(() => {
        const r = db
          .update(runs)
          .set({ ...patch, state: to })
          .where(and(eq(runs.id, id), inArray(runs.state, from)))
          .returning()
          .get();
        if (r && event)
          db.insert(runEvents)
            .values({ runId: id, ...event })
            .run();
        // The run's reservation ends with it: what it booked stays spent, the rest is free again.
        if (r && isFinal(to)) budget.release({ runId: id }, patch.finishedAt ?? new Date());
        return r ? asRun(r) : null;
      });
    },
    claimRun(owner, now, leaseUntil, runId, providers) {
      // One UPDATE ... WHERE id = (SELECT ...) statement: SQLite runs it atomically, so two workers never get
      // the same run.
      const r = db
        .update(runs)
        .set({ leaseOwner: owner, leaseUntil })
        .where(
          eq(
            runs.id,
            sql`(SELECT id FROM ${runs} WHERE ${and(
              runId === undefined ? undefined : eq(runs.id, runId),
              providers?.only ? inArray(runs.provider, providers.only) : undefined,
              providers?.except?.length ? notInArray(runs.provider, providers.except) : undefined,
              inArray(runs.state, ["queued", "running", "stalled"]),
              or(lt(runs.leaseUntil, now), sql`${runs.leaseUntil} IS NULL`),
            )} ORDER BY ${runs.id} LIMIT 1)`,
          ),
        )
        .returning()
        .get();
      return r ? asRun(r) : null;
    },
    renewLease(id, owner, leaseUntil) {
      const r = db
        .update(runs)
        .set({ leaseUntil })
        .where(and(eq(runs.id, id), eq(runs.leaseOwner, owner)))
        .run();
      return r.changes > 0;
    },
    releaseLease(id, owner) {
      const r = db
        .update(runs)
        .set({ leaseUntil: null })
        .where(and(eq(runs.id, id), eq(runs.leaseOwner, owner)))
        .run();
      return r.changes > 0;
    },
    addRunEvent(runId, at, type, data) {
      db.insert(runEvents).values({ runId, at, type, data }).run();
    },
    runEvents(runId, type) {
      return db
        .select({ at: runEvents.at, type: runEvents.type, data: runEvents.data })
        .from(runEvents)
        .where(type ? and(eq(runEvents.runId, runId), eq(runEvents.type, type)) : eq(runEvents.runId, runId))
        .orderBy(asc(runEvents.id))
        .all();
    },

    updateEval(id, patch) {
      if (patch.state !== "succeeded" && patch.state !== "failed")
        return asEval(db.update(evals).set(patch).where(eq(evals.id, id)).returning().get());
      return db.transaction(() => asEval(closeEval(id, patch, patch.finishedAt ?? new Date())));
    },
    claimEval(c): EvalClaimResult {
      return db.transaction(
        (): EvalClaimResult => {
          const k = c.key;
          const same = db
            .select()
            .from(evals)
            .where(
              and(
                eq(evals.model, k.model),
                eq(evals.datasetVersionId, k.datasetVersionId),
                eq(evals.metric, k.metric),
                or(isNull(evals.maxTokens), eq(evals.maxTokens, k.maxTokens)),
                k.experimentId === null ? isNull(evals.experimentId) : eq(evals.experimentId, k.experimentId),
              ),
            )
            .orderBy(desc(evals.id))
            .all()
            .map(asEval);
          const own = (e: EvalRecord) => c.share === "experiment" || (e.runId === k.runId && e.role === k.role);
          const alive = (e: EvalRecord) =>
            e.state === "running" &&
            e.leaseOwner !== null &&
            e.leaseUntil !== null &&
            e.leaseUntil > c.now &&
            c.ownerAlive(e.leaseOwner);
          if (c.reuseSucceeded) {
            const done = same.find((e) => e.state === "succeeded" && own(e));
            if (done) return { kind: "reuse", eval: done };
          }
          if (c.share === "experiment") {
            const live = same.find(alive);
            if (live) return { kind: "wait", eval: live };
          }
          // Resume the key's last attempt when it did not finish: its process died, or it failed (a provider error,
          // a budget stop, a cancel) without having been resumed already.
          const last = same.find((e) => !alive(e));
          const unfinished =
            last && (last.state === "running" || (last.state === "failed" && !RESUMED.test(last.error ?? "")))
              ? last
              : null;
          const adoptRows = unfinished ? (rowCount.get(unfinished.id)?.n ?? 0) : 0;
          let holdUsd = 0;
          if (c.hold && k.experimentId !== null) {
            holdUsd = c.hold.usdFor(Math.max(0, c.rows - adoptRows));
            const use = budget.use(k.experimentId, c.now);
            if (!budget.fits(use, holdUsd)) return { kind: "refused", use, usd: holdUsd };
          }
          const created = asEval(
            db
              .insert(evals)
              .values({
                experimentId: k.experimentId,
                runId: k.runId,
                model: k.model,
                role: k.role,
                datasetVersionId: k.datasetVersionId,
                metric: k.metric,
                state: "running",
                n: c.rows,
                maxTokens: k.maxTokens,
                leaseOwner: c.owner,
                leaseUntil: c.leaseUntil,
                resumedFrom: adoptRows ? (unfinished?.id ?? null) : null,
                createdAt: c.now,
                ...(c.job
                  ? { queuedAt: c.now, replyChannelId: c.job.replyChannelId, replyUntil: c.job.replyUntil }
                  : {}),
              })
              .returning()
              .get(),
          );
          if (unfinished && adoptRows) copyRows.run(created.id, unfinished.id);
          for (const e of same) {
            if (e.state === "running" && !alive(e))
              closeEval(e.id, { state: "failed", error: `resumed as #${created.id}`, finishedAt: c.now }, c.now);
          }
          if (unfinished?.state === "failed")
            db.update(evals)
              .set({ error: `${(unfinished.error ?? "failed").replace(/\.$/, "")}; resumed as #${created.id}` })
              .where(eq(evals.id, unfinished.id))
              .run();
          const holdId =
            c.hold && k.experimentId !== null
              ? budget.insertHold({
                  experimentId: k.experimentId,
                  runId: null,
                  evalId: created.id,
                  usd: holdUsd,
                  now: c.now,
                })
              : null;
          return {
            kind: "created",
            eval: created,
            adopted: unfinished && adoptRows ? { from: unfinished, rows: adoptRows } : null,
            holdId,
            holdUsd,
          };
        },
        { behavior: "immediate" },
      );
    },
    renewEvalLease(id, owner, leaseUntil) {
      const r = db
        .update(evals)
        .set({ leaseUntil })
        .where(and(eq(evals.id, id), eq(evals.leaseOwner, owner), eq(evals.state, "running")))
        .run();
      return r.changes > 0;
    },
    takeEvalLease(id, from, to, leaseUntil) {
      const r = db
        .update(evals)
        .set({ leaseOwner: to, leaseUntil })
        .where(
          and(
            eq(evals.id, id),
            eq(evals.state, "running"),
            from === null ? isNull(evals.leaseOwner) : eq(evals.leaseOwner, from),
          ),
        )
        .run();
      return r.changes > 0;
    },
    evalsToOffer(now) {
      return db
        .select()
        .from(evals)
        .where(
          and(
            eq(evals.state, "running"),
            sql`${evals.queuedAt} IS NOT NULL`,
            or(eq(evals.leaseOwner, QUEUED_EVAL_OWNER), isNull(evals.leaseUntil), lt(evals.leaseUntil, now)),
          ),
        )
        .orderBy(asc(evals.id))
        .limit(500)
        .all()
        .map(asEval);
    },
    renewEvalReply(id, until) {
      return (
        db
          .update(evals)
          .set({ replyUntil: until })
          .where(and(eq(evals.id, id), isNull(evals.repliedAt)))
          .run().changes > 0
      );
    },
    claimEvalReply(id, now, opts) {
      const r = db
        .update(evals)
        .set({ repliedAt: now })
        .where(
          and(
            eq(evals.id, id),
            isNull(evals.repliedAt),
            opts.waiter
              ? undefined
              : and(
                  sql`${evals.state} <> 'running'`,
                  sql`${evals.replyChannelId} IS NOT NULL`,
                  or(isNull(evals.replyUntil), lt(evals.replyUntil, now)),
                ),
          ),
        )
        .run();
      return r.changes > 0;
    },
    evalsToReply(now) {
      return db
        .select()
        .from(evals)
        .where(
          and(
            sql`${evals.queuedAt} IS NOT NULL`,
            sql`${evals.state} <> 'running'`,
            sql`${evals.replyChannelId} IS NOT NULL`,
            isNull(evals.repliedAt),
            or(isNull(evals.replyUntil), lt(evals.replyUntil, now)),
          ),
        )
        .orderBy(asc(evals.id))
        .limit(100)
        .all()
        .map(asEval);
    },
    evalLedgerIds(evalId) {
      return db
        .select({ id: ledger.id, kind: ledger.kind })
        .from(ledger)
        .where(eq(ledger.evalId, evalId))
        .orderBy(asc(ledger.id))
        .all() as Array<{ id: number; kind: LedgerEntry["kind"] }>;
    },
    addEvalRows(rows) {
      if (!rows.length) return;
      // One prepared statement in one transaction: ~20x faster than drizzle's multi-row inserts (an eval stores
      // thousands of rows at once).
      const insert = db.$client.prepare(
        "INSERT INTO eval_rows (eval_id, row_index, line, output, expected, score, pass, detail, latency_ms, input_tokens, output_tokens, cluster) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      );
      db.$client.transaction(() => {
        for (const r of rows) {
          insert.run(
            r.evalId,
            r.rowIndex,
            r.line,
            r.output,
            r.expected,
            r.score,
            r.pass ? 1 : 0,
            r.detail,
            r.latencyMs,
            r.inputTokens,
            r.outputTokens,
            r.cluster,
          );
        }
      })();
    },
    evalRows(evalId) {
      return db.select().from(evalRows).where(eq(evalRows.evalId, evalId)).orderBy(asc(evalRows.rowIndex)).all();
    },
    evalById(id) {
      const r = db.select().from(evals).where(eq(evals.id, id)).get();
      return r ? asEval(r) : null;
    },
    evals(opts) {
      const where: SQL[] = [];
      if (opts.experimentId !== undefined) where.push(eq(evals.experimentId, opts.experimentId));
      if (opts.runId !== undefined) where.push(eq(evals.runId, opts.runId));
      if (opts.model !== undefined) where.push(eq(evals.model, opts.model));
      if (opts.datasetVersionId !== undefined) where.push(eq(evals.datasetVersionId, opts.datasetVersionId));
      if (opts.state !== undefined) where.push(eq(evals.state, opts.state));
      return db
        .select()
        .from(evals)
        .where(where.length ? and(...where) : undefined)
        .orderBy(desc(evals.id))
        .all()
        .map(asEval);
    },

    addLedger(e) {
      return db.insert(ledger).values(e).returning({ id: ledger.id }).get().id;
    },
    bookLedger(id, add) {
      bookLedger.run(add.inputTokens, add.outputTokens, add.usd, add.wallMs ?? 0, id);
    },
    ledger(opts) {
      const where: SQL[] = [];
      if (opts.experimentId !== undefined) where.push(eq(ledger.experimentId, opts.experimentId));
      if (opts.runId !== undefined) where.push(eq(ledger.runId, opts.runId));
      if (opts.evalIds !== undefined) where.push(inArray(ledger.evalId, opts.evalIds));
      if (opts.since !== undefined) where.push(gte(ledger.at, opts.since));
      return db
        .select()
        .from(ledger)
        .where(where.length ? and(...where) : undefined)
        .orderBy(asc(ledger.id))
        .all()
        .map((r) => ({ ...r, kind: r.kind as LedgerEntry["kind"] }));
    },

    budgetUse: (experimentId, now) => budget.use(experimentId, now),
    runHold: (runId, usd, now) => budget.runHold(runId, usd, now),
    growHold: (holdId, usd, now) => budget.growHold(holdId, usd, now),
    setBudget: (experimentId, budgetUsd) => budget.setBudget(experimentId, budgetUsd) as ExperimentRecord,
    addThroughputSample(s) {
      db.insert(throughputSamples)
        .values(s)
        .onConflictDoUpdate({ target: throughputSamples.runId, set: { ...s, runId: undefined } })
        .run();
    },
    throughputSamples(key, limit) {
      return db
        .select()
        .from(throughputSamples)
        .where(
          and(
            eq(throughputSamples.provider, key.provider),
            eq(throughputSamples.baseModel, key.baseModel),
            eq(throughputSamples.seqBucket, key.seqBucket),
          ),
        )
        .orderBy(desc(throughputSamples.at), desc(throughputSamples.runId))
        .limit(limit)
        .all();
    },

    beatWorker(w) {
      db.insert(workers)
        .values(w)
        .onConflictDoUpdate({ target: workers.id, set: { seenAt: w.seenAt, label: w.label } })
        .run();
    },
    removeWorker(id) {
      db.delete(workers).where(eq(workers.id, id)).run();
    },
    liveWorkers(since) {
      return db.select().from(workers).where(gte(workers.seenAt, since)).orderBy(desc(workers.seenAt)).all();
    },
  };
}
