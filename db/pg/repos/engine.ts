/**
 * The experiment engine's storage on Postgres: the same contract as db/repos/engine.ts (read that file's comments
 * for what each method promises). Where SQLite's single writer makes a read-then-write atomic, this file takes a
 * row lock (FOR UPDATE SKIP LOCKED for claims) or a transaction-scoped advisory lock on the key being decided.
 */
import { and, asc, desc, eq, gte, inArray, isNull, lt, notInArray, or, sql, type SQL } from "drizzle-orm";
import { isFinal } from "../../../src/core/runs/states.ts";
import { asEval as liteEval, asHypothesis as liteHypothesis, asRun as liteRun, RESUMED } from "../../repos/engine.ts";
import {
  QUEUED_EVAL_OWNER,
  type EngineRepo,
  type EvalClaimResult,
  type EvalRecord,
  type ExperimentRecord,
  type LedgerEntry,
} from "../../../src/core/ports.ts";
import type { PgDb } from "../client.ts";

// The row mappers are SQLite's (db/repos/engine.ts): a Postgres row has the same fields and the same JS types.
const asRun = (r: typeof runs.$inferSelect) => liteRun(r as never);
const asEval = (r: typeof evals.$inferSelect) => liteEval(r as never);
const asHypothesis = (r: typeof hypotheses.$inferSelect) => liteHypothesis(r as never);
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
import { budgetOps, budgetUse, fits, insertHold, LOCK, lock, release } from "./budget.ts";
import { rows, type Async, type Exec } from "./types.ts";

/** Rows per INSERT of eval rows (12 parameters a row, under Postgres's 65,535 a statement). */
const ROWS_PER_INSERT = 2000;

export function pgEngineRepo(db: PgDb): Async<EngineRepo> {
  const budget = budgetOps(db);
  const one = async <T>(q: Promise<T[]>): Promise<T | undefined> => (await q)[0];
  const closeEval = async (x: Exec, id: number, patch: Partial<typeof evals.$inferInsert>, now: Date) => {
    const [r] = await x
      .update(evals)
      .set({ ...patch, leaseOwner: null, leaseUntil: null })
      .where(eq(evals.id, id))
      .returning();
    await release(x, { evalId: id }, now);
    return r;
  };

  return {
    async createExperiment(e) {
      return (await one(db.insert(experiments).values(e).returning())) as ExperimentRecord;
    },
    async experimentByName(name) {
      return ((await one(db.select().from(experiments).where(eq(experiments.name, name)))) as ExperimentRecord) ?? null;
    },
    async experimentById(id) {
      return ((await one(db.select().from(experiments).where(eq(experiments.id, id)))) as ExperimentRecord) ?? null;
    },
    async listExperiments() {
      return (await db.select().from(experiments).orderBy(asc(experiments.name))) as ExperimentRecord[];
    },

    async createHypothesis(h) {
      return asHypothesis((await one(db.insert(hypotheses).values(h).returning()))!);
    },
    async hypotheses(experimentId) {
      return (
        await db.select().from(hypotheses).where(eq(hypotheses.experimentId, experimentId)).orderBy(asc(hypotheses.id))
      ).map(asHypothesis);
    },
    async decideHypothesis(id, runId, verdict, at) {
      await db.update(hypotheses).set({ runId, verdict, decidedAt: at }).where(eq(hypotheses.id, id));
    },

    async createRun(r, hold) {
      return db.transaction(async (tx) => {
        await lock(tx, LOCK.runKey, r.idempotencyKey);
        const existing = await one(tx.select().from(runs).where(eq(runs.idempotencyKey, r.idempotencyKey)));
        if (existing) return { run: asRun(existing), created: false };
        if (hold) {
          await lock(tx, LOCK.budget, r.experimentId);
          const use = await budgetUse(tx, r.experimentId, r.createdAt);
          if (!fits(use, hold.usd)) return { refused: use };
        }
        const run = asRun((await one(tx.insert(runs).values(r).returning()))!);
        if (hold)
          await insertHold(tx, {
            experimentId: r.experimentId,
            runId: run.id,
            evalId: null,
            usd: hold.usd,
            now: r.createdAt,
          });
        return { run, created: true };
      });
    },
    async runById(id) {
      const r = await one(db.select().from(runs).where(eq(runs.id, id)));
      return r ? asRun(r) : null;
    },
    async listRuns(opts = {}) {
      const where: SQL[] = [];
      if (opts.experimentId !== undefined) where.push(eq(runs.experimentId, opts.experimentId));
      if (opts.states?.length) where.push(inArray(runs.state, opts.states));
      return (
        await db
          .select()
          .from(runs)
          .where(where.length ? and(...where) : undefined)
          .orderBy(desc(runs.id))
          .limit(opts.limit ?? 1000)
      ).map(asRun);
    },
    async updateRun(id, patch) {
      return asRun((await one(db.update(runs).set(patch).where(eq(runs.id, id)).returning()))!);
    },
    async transitionRun(id, from, to, patch = {}, event) {
      return db.transaction(async (tx) => {
        const r = await one(
          tx
            .update(runs)
            .set({ ...patch, state: to })
            .where(and(eq(runs.id, id), inArray(runs.state, from)))
            .returning(),
        );
        if (r && event) await tx.insert(runEvents).values({ runId: id, ...event });
        if (r && isFinal(to)) await release(tx, { runId: id }, patch.finishedAt ?? new Date());
        return r ? asRun(r) : null;
      });
    },
    async claimRun(owner, now, leaseUntil, runId, providers) {
      // The inner SELECT locks the row it picks and skips rows another worker is claiming at this instant: two
      // workers never get the same run, and neither waits on the other.
      const r = await one(
        db
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
                or(lt(runs.leaseUntil, now), isNull(runs.leaseUntil)),
              )} ORDER BY ${runs.id} LIMIT 1 FOR UPDATE SKIP LOCKED)`,
            ),
          )
          .returning(),
      );
      return r ? asRun(r) : null;
    },
    async renewLease(id, owner, leaseUntil) {
      const r = await db
        .update(runs)
        .set({ leaseUntil })
        .where(and(eq(runs.id, id), eq(runs.leaseOwner, owner)));
      return (r.rowCount ?? 0) > 0;
    },
    async releaseLease(id, owner) {
      const r = await db
        .update(runs)
        .set({ leaseUntil: null })
        .where(and(eq(runs.id, id), eq(runs.leaseOwner, owner)));
      return (r.rowCount ?? 0) > 0;
    },
    async addRunEvent(runId, at, type, data) {
      await db.insert(runEvents).values({ runId, at, type, data });
    },
    async runEvents(runId, type) {
      return db
        .select({ at: runEvents.at, type: runEvents.type, data: runEvents.data })
        .from(runEvents)
        .where(type ? and(eq(runEvents.runId, runId), eq(runEvents.type, type)) : eq(runEvents.runId, runId))
        .orderBy(asc(runEvents.id));
    },

    async updateEval(id, patch) {
      if (patch.state !== "succeeded" && patch.state !== "failed")
        return asEval((await one(db.update(evals).set(patch).where(eq(evals.id, id)).returning()))!);
      return db.transaction(async (tx) => asEval(await closeEval(tx, id, patch, patch.finishedAt ?? new Date())));
    },
    async claimEval(c): Promise<EvalClaimResult> {
      return db.transaction(async (tx): Promise<EvalClaimResult> => {
        const k = c.key;
        // One decision per eval key at a time (SQLite: its write lock), and the budget's lock when it books.
        await lock(tx, LOCK.evalKey, `${k.model}\u001f${k.datasetVersionId}\u001f${k.metric}\u001f${k.experimentId}`);
        if (c.hold && k.experimentId !== null) await lock(tx, LOCK.budget, k.experimentId);
        const same = (
          await tx
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
        ).map(asEval);
        const own = (e: EvalRecord) => c.share === "experiment" || (e.runId === k.runId && e.role === k.role);
        const aliveOwner = new Map<string, boolean>();
        for (const e of same)
          if (e.leaseOwner !== null && !aliveOwner.has(e.leaseOwner))
            aliveOwner.set(e.leaseOwner, await c.ownerAlive(e.leaseOwner));
        const alive = (e: EvalRecord) =>
          e.state === "running" &&
          e.leaseOwner !== null &&
          e.leaseUntil !== null &&
          e.leaseUntil > c.now &&
          aliveOwner.get(e.leaseOwner) === true;
        if (c.reuseSucceeded) {
          const done = same.find((e) => e.state === "succeeded" && own(e));
          if (done) return { kind: "reuse", eval: done };
        }
        if (c.share === "experiment") {
          const live = same.find(alive);
          if (live) return { kind: "wait", eval: live };
        }
        const last = same.find((e) => !alive(e));
        const unfinished =
          last && (last.state === "running" || (last.state === "failed" && !RESUMED.test(last.error ?? "")))
            ? last
            : null;
        const adoptRows = unfinished
          ? ((
              await rows<{ n: number }>(
                tx,
                sql`SELECT COUNT(*)::int AS n FROM eval_rows WHERE eval_id = ${unfinished.id}`,
              )
            )[0]?.n ?? 0)
          : 0;
        let holdUsd = 0;
        if (c.hold && k.experimentId !== null) {
          holdUsd = await c.hold.usdFor(Math.max(0, c.rows - adoptRows));
          const use = await budgetUse(tx, k.experimentId, c.now);
          if (!fits(use, holdUsd)) return { kind: "refused", use, usd: holdUsd };
        }
        const created = asEval(
          (await one(
            tx
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
              .returning(),
          ))!,
        );
        if (unfinished && adoptRows)
          await tx.execute(
            sql`INSERT INTO eval_rows (eval_id, row_index, line, output, expected, score, pass, detail, latency_ms, input_tokens, output_tokens, cluster)
                SELECT ${created.id}, row_index, line, output, expected, score, pass, detail, latency_ms, input_tokens, output_tokens, cluster
                FROM eval_rows WHERE eval_id = ${unfinished.id}`,
          );
        for (const e of same) {
          if (e.state === "running" && !alive(e))
            await closeEval(
              tx,
              e.id,
              { state: "failed", error: `resumed as #${created.id}`, finishedAt: c.now },
              c.now,
            );
        }
        if (unfinished?.state === "failed")
          await tx
            .update(evals)
            .set({ error: `${(unfinished.error ?? "failed").replace(/\.$/, "")}; resumed as #${created.id}` })
            .where(eq(evals.id, unfinished.id));
        const holdId =
          c.hold && k.experimentId !== null
            ? await insertHold(tx, {
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
      });
    },
    async renewEvalLease(id, owner, leaseUntil) {
      const r = await db
        .update(evals)
        .set({ leaseUntil })
        .where(and(eq(evals.id, id), eq(evals.leaseOwner, owner), eq(evals.state, "running")));
      return (r.rowCount ?? 0) > 0;
    },
    async takeEvalLease(id, from, to, leaseUntil) {
      const r = await db
        .update(evals)
        .set({ leaseOwner: to, leaseUntil })
        .where(
          and(
            eq(evals.id, id),
            eq(evals.state, "running"),
            from === null ? isNull(evals.leaseOwner) : eq(evals.leaseOwner, from),
          ),
        );
      return (r.rowCount ?? 0) > 0;
    },
    async evalsToOffer(now) {
      const list = await db
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
        .limit(500);
      return list.map(asEval);
    },
    async renewEvalReply(id, until) {
      const r = await db
        .update(evals)
        .set({ replyUntil: until })
        .where(and(eq(evals.id, id), isNull(evals.repliedAt)));
      return (r.rowCount ?? 0) > 0;
    },
    async claimEvalReply(id, now, opts) {
      // One UPDATE: of two replicas claiming at once, the second finds replied_at set and changes nothing.
      const r = await db
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
        );
      return (r.rowCount ?? 0) > 0;
    },
    async evalsToReply(now) {
      const list = await db
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
        .limit(100);
      return list.map(asEval);
    },
    async evalLedgerIds(evalId) {
      return (await db
        .select({ id: ledger.id, kind: ledger.kind })
        .from(ledger)
        .where(eq(ledger.evalId, evalId))
        .orderBy(asc(ledger.id))) as Array<{ id: number; kind: LedgerEntry["kind"] }>;
    },
    async addEvalRows(list) {
      if (!list.length) return;
      await db.transaction(async (tx) => {
        for (let i = 0; i < list.length; i += ROWS_PER_INSERT)
          await tx.insert(evalRows).values(list.slice(i, i + ROWS_PER_INSERT));
      });
    },
    async evalRows(evalId) {
      return db.select().from(evalRows).where(eq(evalRows.evalId, evalId)).orderBy(asc(evalRows.rowIndex));
    },
    async evalById(id) {
      const r = await one(db.select().from(evals).where(eq(evals.id, id)));
      return r ? asEval(r) : null;
    },
    async evals(opts) {
      const where: SQL[] = [];
      if (opts.experimentId !== undefined) where.push(eq(evals.experimentId, opts.experimentId));
      if (opts.runId !== undefined) where.push(eq(evals.runId, opts.runId));
      if (opts.model !== undefined) where.push(eq(evals.model, opts.model));
      if (opts.datasetVersionId !== undefined) where.push(eq(evals.datasetVersionId, opts.datasetVersionId));
      if (opts.state !== undefined) where.push(eq(evals.state, opts.state));
      return (
        await db
          .select()
          .from(evals)
          .where(where.length ? and(...where) : undefined)
          .orderBy(desc(evals.id))
      ).map(asEval);
    },

    async addLedger(e) {
      // wall_ms is whole milliseconds (bigint here; SQLite would keep a fraction, Postgres refuses it)
      return (await one(
        db
          .insert(ledger)
          .values({ ...e, wallMs: Math.round(e.wallMs) })
          .returning({ id: ledger.id }),
      ))!.id;
    },
    async bookLedger(id, add) {
      await db
        .update(ledger)
        .set({
          inputTokens: sql`${ledger.inputTokens} + ${add.inputTokens}`,
          outputTokens: sql`${ledger.outputTokens} + ${add.outputTokens}`,
          usd: sql`${ledger.usd} + ${add.usd}`,
          wallMs: sql`${ledger.wallMs} + ${Math.round(add.wallMs ?? 0)}`,
        })
        .where(eq(ledger.id, id));
    },
    async ledger(opts) {
      const where: SQL[] = [];
      if (opts.experimentId !== undefined) where.push(eq(ledger.experimentId, opts.experimentId));
      if (opts.runId !== undefined) where.push(eq(ledger.runId, opts.runId));
      if (opts.evalIds !== undefined) where.push(inArray(ledger.evalId, opts.evalIds));
      if (opts.since !== undefined) where.push(gte(ledger.at, opts.since));
      return (
        await db
          .select()
          .from(ledger)
          .where(where.length ? and(...where) : undefined)
          .orderBy(asc(ledger.id))
      ).map((r) => ({ ...r, kind: r.kind as LedgerEntry["kind"] }));
    },

    budgetUse: (experimentId, now) => budgetUse(db, experimentId, now),
    runHold: (runId, usd, now) => budget.runHold(runId, usd, now),
    growHold: (holdId, usd, now) => budget.growHold(holdId, usd, now),
    setBudget: async (experimentId, budgetUsd) => (await budget.setBudget(experimentId, budgetUsd)) as ExperimentRecord,
    async addThroughputSample(sample) {
      const s = { ...sample, wallMs: Math.round(sample.wallMs) };
      await db
        .insert(throughputSamples)
        .values(s)
        .onConflictDoUpdate({ target: throughputSamples.runId, set: { ...s, runId: undefined } });
    },
    async throughputSamples(key, limit) {
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
        .limit(limit);
    },

    async beatWorker(w) {
      await db
        .insert(workers)
        .values(w)
        .onConflictDoUpdate({ target: workers.id, set: { seenAt: w.seenAt, label: w.label } });
    },
    async removeWorker(id) {
      await db.delete(workers).where(eq(workers.id, id));
    },
    async liveWorkers(since) {
      return db.select().from(workers).where(gte(workers.seenAt, since)).orderBy(desc(workers.seenAt));
    },
  };
}
