/**
 * Evals of models on eval sets, paired comparisons, and leaderboards.
 *
 * An eval is claimed in one database transaction (see EngineRepo.claimEval): a run's base and baselines reuse the
 * experiment's finished eval of the same model or wait for the one another run is doing; a new attempt takes over
 * the answered rows of the key's last unfinished attempt (a killed process, a provider failure, a budget stop) and
 * reserves its cost. Its requests are booked as they are answered (SpendMeter), its graded rows stored as they
 * come, and its lease renewed while it runs, so a crash loses no booking and no stored answer.
 */
import { TuneError, ErrorCode } from "../../errors.ts";
import { sleep } from "../../lib/limit.ts";
import { budgetRefusal, leaseOwner, ownerAlive, priced, SpendMeter, usd } from "../costs/budget.ts";
import { formatRef } from "../datasets/names.ts";
import { bestTunedEval, experimentEvals, latestEvalsByModel } from "../experiments/evals.ts";
import { answerRows, resolveEval, type AnswerRow, type ResolvedEval } from "./answers.ts";
import { fmt } from "../format.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { InferenceModel, Pricing } from "../inference.ts";
import {
  QUEUED_EVAL_OWNER,
  type BudgetUse,
  type Clock,
  type DatasetVersionRecord,
  type EngineRepo,
  type EvalClaimResult,
  type EvalRecord,
  type EvalRowRecord,
  type ExperimentRecord,
} from "../ports.ts";
import { resolveModel, type ProviderSet, type ResolvedModel } from "../models.ts";
import { EvalEvents, type EvalJobs } from "./jobs.ts";
import { pairedComparison, type PairedCiMethod, type PairedComparison } from "../stats.ts";
import { GradePool } from "./grade-pool.ts";
import { makeGrader, parseGraderSpec, type Grader, type GraderSpec, type JudgeClient } from "./graders.ts";
import { defaultMaxTokens, evalTasks, runEval, type EvalTask } from "./runner.ts";

export interface Comparison {
  metric: string;
  dataset: string;
  n: number;
  a: { model: string; evalId: number; mean: number };
  b: { model: string; evalId: number; mean: number };
  /** mean(b) - mean(a): positive means b is better. */
  diff: number;
  ci: [number, number];
  /** How `ci` was computed (Newcombe's score interval for pass/fail metrics, the bootstrap for continuous ones). */
  ciMethod: PairedCiMethod;
  pValue: number;
  test: string;
  discordant: { aOnly: number; bOnly: number } | null;
  /** Minimum detectable effect at 80% power (never 0; Infinity when no difference is detectable at this n). */
  mde: number;
  /** What the MDE was computed from. */
  mdeBasis: PairedComparison["mdeBasis"];
  correlation: number | null;
  clusteredSe: number | null;
  alpha: number;
  significant: boolean;
  /** Lines of the eval set where a passed and b failed (or b scored lower). */
  regressions: number[];
  improvements: number[];
  verdict: string;
}

export interface EvalRequest {
  modelRef: string;
  dataset: DatasetVersionRecord;
  metric: string;
  role: EvalRecord["role"];
  experimentId?: number | null;
  runId?: number | null;
  maxTokens?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /**
   * "experiment": the experiment's succeeded eval of the same model (any run) is reused, and one another process
   * is running is waited for (a run's base and baselines). Default "none": only this key's own attempts.
   */
  share?: "experiment" | "none";
  /** Return a succeeded eval of the same key instead of asking again (runs; default false: evaluate anew). */
  reuse?: boolean;
  /** The run whose reservation covers this eval; without it an eval booked to an experiment reserves its own. */
  holdRunId?: number;
  /** Told when the eval waits for the same eval another run (or process) is doing. */
  onWaiting?: (other: EvalRecord) => void;
  /** Told when an attempt starts asking (not when a finished eval is reused), with the rows it took over. */
  onStart?: (ev: EvalRecord, reusedRows: number) => void;
}

/** How a budget stop's message starts (a queued eval stopped at the budget keeps its code when told elsewhere). */
const BUDGET_STOP = "stopped at the budget";

/** How long a queued eval's reservation holds while no process answers it yet (as long as the queue keeps its job). */
const QUEUED_LEASE_MS = 23 * 3600_000;

/** A claimed eval, ready to answer. */
interface Answering {
  eval: EvalRecord;
  owner: string;
  spec: GraderSpec;
  resolved: ResolvedModel;
  judgeModel: InferenceModel | null;
  tasks: EvalTask[];
  dsRef: string;
  maxTokens: number;
  exp: ExperimentRecord | null;
  prior: { answer: number; judge: number };
  /** Rows already answered (taken over from an earlier attempt, or stored by a process that died). */
  adopted: EvalRowRecord[];
  hold: { id: number; usd: number; bookedUsd: number } | null;
  /** The eval's own ledger entries, when it has some (a taken-over queued eval). */
  ledgerIds: Array<{ id: number; kind: string }> | null;
}

export interface EvalServiceOptions {
  /** A running eval's lease (renewed a few times per lease); a process that stops leaves it resumable after it. */
  leaseMs?: number;
  /** How often a waiting eval looks again. */
  pollMs?: number;
  /** Deadline of grading one answer with a user-typed pattern (TUNELOOP_GRADER_TIMEOUT_MS). */
  graderTimeoutMs?: number;
}

/** Tokens of the judge's instructions around a row (system prompt, rubric, tags), and of its short JSON reply. */
const JUDGE_TEMPLATE_TOKENS = 250;
const JUDGE_REPLY_TOKENS = 40;

/**
 * The estimated cost of one eval request (and of one judge call) on an eval set: its mean row as the prompt and its
 * mean assistant message as the answer, at the model's price.
 */
export function evalRequestUsd(
  evalSet: DatasetVersionRecord,
  pricing: Pricing | null,
  judge: Pricing | null = null,
): { answer: number; judge: number } {
  const perIn = evalSet.stats.tokens.mean;
  const perOut = evalSet.rows ? evalSet.stats.assistantTokens / evalSet.rows : 0;
  return {
    answer: priced(pricing, { inputTokens: perIn, outputTokens: perOut }),
    judge: priced(judge, {
      inputTokens: JUDGE_TEMPLATE_TOKENS + perIn + 2 * perOut,
      outputTokens: JUDGE_REPLY_TOKENS,
    }),
  };
}

export function isLabelTask(spec: GraderSpec, tasks: EvalTask[]): boolean {
  if (spec.kind === "label") return true;
  const distinct = new Set(tasks.map((t) => t.expected.trim().toLowerCase()));
  return tasks.length >= 20 && distinct.size <= Math.min(10, tasks.length / 5);
}

export class EvalService {
  /** Threads that grade user-typed patterns with a deadline (started on the first such grade). */
  private patterns: GradePool | null = null;
  /** The queue for stand-alone evals (set by src/scale with Postgres); null: they are answered in the command. */
  jobs: EvalJobs | null = null;
  /** Changes of queued evals (told to and heard from the other processes by src/scale). */
  readonly events = new EvalEvents();

  constructor(
    private readonly repo: EngineRepo,
    private readonly datasets: DatasetService,
    private readonly providers: ProviderSet,
    private readonly clock: Clock,
    private readonly opts: EvalServiceOptions = {},
  ) {}

  /** The grader of a spec; one with a user-typed pattern runs on the grade pool, never on the bot's thread. */
  grader(spec: GraderSpec, judge?: JudgeClient): Grader {
    this.patterns ??= new GradePool({ timeoutMs: this.opts.graderTimeoutMs });
    return makeGrader(spec, { judge, patterns: this.patterns });
  }

  async close(): Promise<void> {
    await this.patterns?.close();
    this.patterns = null;
  }

  private get leaseMs() {
    return this.opts.leaseMs ?? 30_000;
  }

  /** The estimated cost of evaluating a model on an eval set with a metric (a judge's calls included). */
  estimateUsd(modelRef: string, evalSet: DatasetVersionRecord, metric: string): number {
    const spec = this.checkMetric(metric);
    const model = resolveModel(modelRef, this.providers, this.repo).model;
    const judge = spec.kind === "judge" ? resolveModel(spec.model, this.providers, this.repo).model.pricing : null;
    const per = evalRequestUsd(evalSet, model.pricing, judge);
    return evalSet.rows * (per.answer + per.judge);
  }

  /** Parses a metric (grader spec) now, so a bad one is refused before anything runs. */
  checkMetric(metric: string): GraderSpec {
    try {
      return parseGraderSpec(metric);
    } catch (err) {
      throw new TuneError(ErrorCode.InvalidGrader, (err as Error).message);
    }
  }

  async evaluate(req: EvalRequest): Promise<EvalRecord> {
    const c = await this.claim(req, null);
    if (c.kind === "reuse") return c.eval;
    req.onStart?.(c.eval, c.adopted.length);
    return this.answer(c, req);
  }

  /**
   * Claims an eval (reuse, wait for the same eval elsewhere, or start an attempt resuming the key's last unfinished
   * one) and reserves its cost; with `job`, the attempt is created queued (no process answers it yet).
   */
  private async claim(
    req: EvalRequest,
    job: { replyChannelId: string | null } | null,
  ): Promise<{ kind: "reuse"; eval: EvalRecord } | ({ kind: "created" } & Answering)> {
    const basis = await this.basis(req.modelRef, req.metric, req.dataset, req.maxTokens);
    const { resolved, tasks, maxTokens, prior } = basis;
    const experimentId = req.experimentId ?? null;
    const exp = experimentId !== null ? this.repo.experimentById(experimentId) : null;
    const owner = job ? QUEUED_EVAL_OWNER : leaseOwner();

    let claim: EvalClaimResult;
    let waitedFor = 0;
    for (;;) {
      const now = this.clock.now();
      claim = this.repo.claimEval({
        key: {
          model: resolved.ref,
          datasetVersionId: req.dataset.id,
          metric: req.metric,
          maxTokens,
          experimentId,
          runId: req.runId ?? null,
          role: req.role,
        },
        share: req.share ?? "none",
        reuseSucceeded: req.reuse ?? false,
        owner,
        now,
        // A queued eval's reservation counts while its job may still be taken (the queue keeps a job a day).
        leaseUntil: new Date(now.getTime() + (job ? QUEUED_LEASE_MS : this.leaseMs)),
        ownerAlive,
        rows: tasks.length,
        hold: exp && req.holdRunId === undefined ? { usdFor: (left) => left * (prior.answer + prior.judge) } : null,
        job: job ? { replyChannelId: job.replyChannelId, replyUntil: new Date(now.getTime() + this.leaseMs) } : null,
      });
      if (claim.kind === "reuse") return { kind: "reuse", eval: claim.eval };
      if (claim.kind === "refused")
        throw budgetRefusal(this.repo, exp as ExperimentRecord, claim.use, `This eval of ${resolved.ref}`, claim.usd);
      if (claim.kind === "created") break;
      if (claim.kind === "wait" && claim.eval.id !== waitedFor) {
        waitedFor = claim.eval.id;
        req.onWaiting?.(claim.eval);
      }
      await sleep(this.opts.pollMs ?? 250, req.signal);
    }
    const ev = claim.eval;
    const now = this.clock.now();
    let hold: Answering["hold"] = null;
    if (req.holdRunId !== undefined) {
      const h = this.repo.runHold(req.holdRunId, 0, now);
      hold = { id: h.id, usd: h.usd, bookedUsd: h.bookedUsd };
    } else if (claim.holdId !== null) hold = { id: claim.holdId, usd: claim.holdUsd, bookedUsd: 0 };
    return {
      kind: "created",
      ...basis,
      eval: ev,
      owner,
      exp,
      adopted: claim.adopted ? this.repo.evalRows(ev.id) : [],
      hold,
      ledgerIds: null,
    };
  }

  /** What asking a model on an eval set needs: its grader, the model, the rows, the longest answer, the prices. */
  private async basis(modelRef: string, metric: string, dataset: DatasetVersionRecord, maxTokens?: number | null) {
    const spec = this.checkMetric(metric);
    const resolved = resolveModel(modelRef, this.providers, this.repo);
    const dsRef = formatRef(dataset.name, dataset.version);
    const tasks = evalTasks(await this.datasets.allRows(dataset), dsRef);
    const judgeModel = spec.kind === "judge" ? resolveModel(spec.model, this.providers, this.repo).model : null;
    return {
      spec,
      resolved,
      dsRef,
      tasks,
      judgeModel,
      maxTokens: maxTokens ?? defaultMaxTokens(tasks),
      prior: evalRequestUsd(dataset, resolved.model.pricing, judgeModel?.pricing ?? null),
    };
  }

  /** Answers a claimed eval under its lease: requests booked as answered, rows stored as graded. */
  private async answer(a: Answering, req: Pick<EvalRequest, "signal" | "onProgress">): Promise<EvalRecord> {
    const { eval: ev, owner, resolved, judgeModel, tasks, prior, exp, adopted } = a;
    const now = this.clock.now();
    const entry = {
      at: now,
      estimated: false,
      experimentId: ev.experimentId,
      runId: ev.runId,
      evalId: ev.id,
      trainingTokens: 0,
      inputTokens: 0,
      outputTokens: 0,
      usd: 0,
      wallMs: 0,
    };
    // One ledger entry per eval and kind, grown as requests are answered (a queued eval taken over after its process
    // died goes on booking to its own entries).
    const ledger = {
      answer:
        a.ledgerIds?.find((l) => l.kind === "eval")?.id ??
        this.repo.addLedger({ ...entry, kind: "eval", provider: resolved.model.provider, model: resolved.ref }),
      judge: judgeModel
        ? (a.ledgerIds?.find((l) => l.kind === "judge")?.id ??
          this.repo.addLedger({ ...entry, kind: "judge", provider: judgeModel.provider, model: judgeModel.ref }))
        : null,
    };
    const meter = new SpendMeter({
      repo: this.repo,
      clock: this.clock,
      ledger,
      pricing: { answer: resolved.model.pricing, judge: judgeModel?.pricing ?? null },
      prior,
      hold: a.hold,
      budgeted: exp?.budgetUsd !== null && exp?.budgetUsd !== undefined,
      stopMessage: (use, m) =>
        this.stopMessage(exp, use, m, {
          model: resolved.ref,
          dataset: a.dsRef,
          rows: tasks.length,
          adopted: adopted.length,
          prior: prior.answer,
        }),
    });

    // Graded rows are stored in small batches (the bookings above are immediate).
    let pending: EvalRowRecord[] = [];
    let flushTimer: NodeJS.Timeout | null = null;
    const flush = () => {
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = null;
      const batch = pending;
      pending = [];
      this.repo.addEvalRows(batch);
    };
    // The lease says this process is answering the eval. Lost (another process took the eval over after this one
    // stalled past its lease), it stops asking: the other attempt goes on from the rows stored here.
    const lease = new AbortController();
    const signal = req.signal ? AbortSignal.any([req.signal, lease.signal]) : lease.signal;
    const heartbeat = setInterval(
      () => {
        const t = this.clock.now().getTime();
        if (!this.repo.renewEvalLease(ev.id, owner, new Date(t + this.leaseMs)))
          lease.abort(
            new TuneError(
              ErrorCode.EvalTakenOver,
              `Eval #${ev.id} was taken over by another process; it goes on there.`,
            ),
          );
      },
      Math.max(50, this.leaseMs / 3),
    );
    heartbeat.unref();
    try {
      const out = await runEval({
        model: resolved.model,
        tasks,
        done: adopted,
        grade: this.grader(a.spec, this.judgeClient(meter, signal)),
        maxTokens: a.maxTokens,
        labelTask: isLabelTask(a.spec, tasks),
        signal,
        onProgress: req.onProgress,
        judgeUsd: (u) => priced(judgeModel?.pricing ?? null, u),
        meter,
        onRow: (row) => {
          pending.push({ ...row, evalId: ev.id });
          if (pending.length >= 25) flush();
          else flushTimer ??= setTimeout(flush, 100);
        },
      });
      flush();
      this.repo.bookLedger(ledger.answer, { inputTokens: 0, outputTokens: 0, usd: 0, wallMs: out.summary.wallMs });
      return this.repo.updateEval(ev.id, {
        state: "succeeded",
        n: out.rows.length,
        mean: out.mean,
        ciLow: out.ci[0],
        ciHigh: out.ci[1],
        summary: out.summary,
        finishedAt: this.clock.now(),
      });
    } catch (err) {
      flush();
      // Taken over: the eval is the other process's now (it closed this attempt as resumed).
      if (!lease.signal.aborted)
        this.repo.updateEval(ev.id, {
          state: "failed",
          error: err instanceof Error ? err.message : String(err),
          finishedAt: this.clock.now(),
        });
      throw err;
    } finally {
      clearInterval(heartbeat);
      if (flushTimer) clearTimeout(flushTimer);
    }
  }

  /**
   * Queues a stand-alone eval as a job (only where a queue runs: `jobs` set, Postgres). The eval is claimed here, its
   * cost reserved as strictly as an eval answered in place; a worker that serves its model's provider answers it.
   * `replyChannelId`: where the command was typed (its card is posted there if this process is gone when it ends).
   */
  async enqueue(req: EvalRequest, opts: { replyChannelId: string | null }): Promise<EvalRecord> {
    if (!this.jobs) throw new Error("enqueue needs a queue (TUNELOOP_DATABASE_URL)");
    const c = await this.claim(req, { replyChannelId: opts.replyChannelId });
    if (c.kind === "reuse") return c.eval;
    await this.jobs.offer(c.eval, c.resolved.model.provider);
    return c.eval;
  }

  /** The provider whose processes take a queued eval's job (null when this process cannot resolve its model). */
  jobProvider(ev: EvalRecord): string | null {
    try {
      return resolveModel(ev.model, this.providers, this.repo).model.provider;
    } catch {
      return null;
    }
  }

  /**
   * Answers queued eval `id` (a job): takes its lease from the queue (or from a process that died answering it) and
   * answers the rows not yet stored, booking to the eval's own ledger entries and reservation. Returns the eval as it
   * stands: ended, or answered by another live process (this job then has nothing to do).
   */
  async answerQueued(id: number, signal?: AbortSignal): Promise<EvalRecord | null> {
    const ev = this.repo.evalById(id);
    if (ev?.state !== "running" || ev.queuedAt === null) return ev;
    const now = this.clock.now();
    const queued = ev.leaseOwner === QUEUED_EVAL_OWNER;
    const orphan = ev.leaseOwner === null || !ev.leaseUntil || ev.leaseUntil < now || !ownerAlive(ev.leaseOwner);
    if (!queued && !orphan) return ev;
    const owner = leaseOwner();
    if (!this.repo.takeEvalLease(id, ev.leaseOwner, owner, new Date(now.getTime() + this.leaseMs)))
      return this.repo.evalById(id);
    let a: Answering;
    try {
      a = await this.prepareQueued(ev, owner, queued);
    } catch (err) {
      const failed = this.repo.updateEval(id, {
        state: "failed",
        error: err instanceof Error ? err.message : String(err),
        finishedAt: this.clock.now(),
      });
      this.events.ended(failed);
      return failed;
    }
    let last = -1;
    const total = a.tasks.length;
    const onProgress = (done: number, all: number) => {
      // Twenty steps at most per eval (the waiting command shows quarters): other processes hear of each.
      const step = Math.floor((done / Math.max(1, all)) * 20);
      if (step > last) {
        last = step;
        this.events.progress(id, done, all);
      }
    };
    onProgress(a.adopted.length, total);
    try {
      await this.answer(a, { signal, onProgress });
    } catch {
      // Stored on the eval (failed, or taken over by another process): the waiting command reads it there.
    }
    const end = this.repo.evalById(id);
    if (end && end.state !== "running") this.events.ended(end);
    return end;
  }

  /** What answering a queued eval needs, from its record; a taken-over eval's reservation is checked again. */
  private async prepareQueued(ev: EvalRecord, owner: string, fromQueue: boolean): Promise<Answering> {
    const basis = await this.basis(ev.model, ev.metric, this.datasets.byId(ev.datasetVersionId), ev.maxTokens);
    const exp = ev.experimentId !== null ? this.repo.experimentById(ev.experimentId) : null;
    const now = this.clock.now();
    let hold: Answering["hold"] = null;
    if (exp) {
      const h = this.repo.budgetUse(exp.id, now).holds.find((x) => x.evalId === ev.id);
      if (h) {
        hold = { id: h.id, usd: h.usd, bookedUsd: h.bookedUsd };
        // Its reservation did not count while no live process held the eval: it must still fit.
        if (!fromQueue) {
          const r = this.repo.growHold(h.id, h.usd, now);
          if (!r.ok)
            throw new TuneError(
              ErrorCode.BudgetStopped,
              budgetRefusal(this.repo, exp, r.use, `Taking over eval #${ev.id} of ${ev.model}`, h.remainingUsd).message,
            );
        }
      }
    }
    return {
      ...basis,
      eval: ev,
      owner,
      exp,
      adopted: this.repo.evalRows(ev.id),
      hold,
      ledgerIds: this.repo.evalLedgerIds(ev.id),
    };
  }

  /**
   * Waits for queued eval `id` to end, passing on its progress, and renews this command's lease on its card (past
   * it, a surviving chat replica posts the card). `posted`: false when this command claimed the card (it shows it),
   * true when another replica posted it already (this process was thought gone).
   */
  async awaitQueued(
    id: number,
    opts: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
  ): Promise<{ eval: EvalRecord; posted: boolean }> {
    let wake: () => void = () => {};
    const off = this.events.listen({
      onProgress: (e, done, total) => {
        if (e === id) opts.onProgress?.(done, total);
      },
      onEnded: (e) => {
        if (e.id === id) wake();
      },
    });
    try {
      for (;;) {
        opts.signal?.throwIfAborted();
        const now = this.clock.now();
        this.repo.renewEvalReply(id, new Date(now.getTime() + this.leaseMs));
        const ev = this.repo.evalById(id);
        if (!ev) throw new TuneError(ErrorCode.EvalNotFound, `Eval #${id} is gone.`);
        if (ev.state !== "running") {
          const mine = ev.queuedAt === null || this.repo.claimEvalReply(id, now, { waiter: true });
          return { eval: mine ? ev : (this.repo.evalById(id) ?? ev), posted: !mine };
        }
        // Woken by the eval's end (told by the process answering it); else look again within a third of the lease.
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(50, this.leaseMs / 3));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    } finally {
      off();
    }
  }

  /** The coded error of a queued eval that failed (a budget stop keeps its code). */
  failure(ev: EvalRecord): TuneError {
    const message = ev.error ?? "failed";
    return new TuneError(
      message.startsWith(BUDGET_STOP) ? ErrorCode.BudgetStopped : ErrorCode.EvalFailed,
      `Eval #${ev.id} of ${ev.model} failed: ${message}`,
    );
  }

  /** Judge calls of one eval: each admitted by its meter (the budget) and booked as it is answered. */
  private judgeClient(meter: SpendMeter, signal?: AbortSignal): JudgeClient {
    return async (req) => {
      const { model } = resolveModel(req.model, this.providers, this.repo);
      const ticket = await meter.acquire("judge", signal);
      let r: Awaited<ReturnType<typeof model.completeAll>>[number];
      try {
        [r] = await model.completeAll([{ messages: req.messages, maxTokens: 300, temperature: 0 }], { signal });
      } catch (err) {
        meter.settle(ticket, null);
        throw err;
      }
      meter.settle(ticket, r);
      return { text: r.text, usage: { inputTokens: r.inputTokens, outputTokens: r.outputTokens } };
    };
  }

  private stopMessage(
    exp: ExperimentRecord | null,
    use: BudgetUse,
    m: SpendMeter,
    ctx: { model: string; dataset: string; rows: number; adopted: number; prior: number },
  ): string {
    const done = ctx.adopted + m.answered;
    const name = exp?.name ?? "the experiment";
    const why =
      m.dearest.answer > ctx.prior * 1.001
        ? `, and ${ctx.model} bills more than estimated (up to ${usd(m.dearest.answer)} a request against ${usd(ctx.prior)} estimated)`
        : m.dearest.judge > 0
          ? `, and the judge's calls cost up to ${usd(m.dearest.judge)} each`
          : "";
    return `${BUDGET_STOP}: ${name} has ${usd(use.spentUsd)} spent${use.heldUsd > 1e-9 ? ` and ${usd(use.heldUsd)} held by other work` : ""} of its ${usd(use.budgetUsd ?? 0)} budget${why}. ${Math.min(done, ctx.rows)} of ${ctx.rows} rows answered; their answers and cost are kept. Raise the budget (/tune experiment budget ${name} <usd>), then evaluate again: /tune eval ${ctx.model} ${ctx.dataset}${exp ? ` --experiment ${exp.name}` : ""} (the answered rows are reused).`;
  }

  /** The experiment's best tuned model so far: its highest-scoring eval of one of its own runs. */
  bestTuned(exp: ExperimentRecord): EvalRecord | null {
    return bestTunedEval(this.repo, exp);
  }

  /** A model reference as stored (`run:3` becomes the run's tuned model; a bare name gets its provider). */
  modelRef(ref: string): string {
    return resolveModel(ref, this.providers, this.repo).ref;
  }

  /** The experiment's evals on its eval set and metric, newest first (its own runs' and the baselines'). */
  ofExperiment(exp: ExperimentRecord): EvalRecord[] {
    return experimentEvals(this.repo, exp);
  }

  /** The experiment's latest eval of each model, best first (its leaderboard). */
  leaderboard(exp: ExperimentRecord): EvalRecord[] {
    return latestEvalsByModel(this.repo, exp);
  }

  /** The eval a user names (`#12`, `run:3`, a model...), with the base eval it is paired with. */
  resolve(ref: string): ResolvedEval {
    return resolveEval(this.repo, ref);
  }

  /** An eval's rows with their answers and grades (and the paired base's answers). */
  answers(resolved: ResolvedEval): Promise<AnswerRow[]> {
    return answerRows({ repo: this.repo, datasets: this.datasets }, resolved);
  }

  /** The eval with this id, or null. */
  byId(id: number): EvalRecord | null {
    return this.repo.evalById(id);
  }

  /** A run's succeeded evals (its tuned model's first). */
  ofRun(runId: number): EvalRecord[] {
    return this.repo.evals({ runId, state: "succeeded" });
  }

  /** How many rows an eval has answered. */
  rowCount(id: number): number {
    return this.repo.evalRows(id).length;
  }

  /** The latest succeeded eval of a model on a dataset version with a metric. */
  latestEval(modelRef: string, datasetVersionId: number, metric?: string): EvalRecord | null {
    return (
      this.repo
        .evals({ model: modelRef, datasetVersionId, state: "succeeded" })
        .find((e) => metric === undefined || e.metric === metric) ?? null
    );
  }

  /**
   * Paired comparison of two models on the same eval rows. With an experiment, its eval set and metric;
   * otherwise the most recent eval set and metric both models were evaluated on.
   */
  compare(aRef: string, bRef: string, opts: { experiment?: ExperimentRecord; seed?: number } = {}): Comparison {
    const a = resolveModel(aRef, this.providers, this.repo).ref;
    const b = resolveModel(bRef, this.providers, this.repo).ref;
    let ea: EvalRecord | null = null;
    let eb: EvalRecord | null = null;
    if (opts.experiment) {
      ea = this.latestEval(a, opts.experiment.evalVersionId, opts.experiment.metric);
      eb = this.latestEval(b, opts.experiment.evalVersionId, opts.experiment.metric);
    } else {
      for (const x of this.repo.evals({ model: a, state: "succeeded" })) {
        const y = this.latestEval(b, x.datasetVersionId, x.metric);
        if (y) {
          ea = x;
          eb = y;
          break;
        }
      }
    }
    if (!ea || !eb) {
      const missing = !ea ? a : b;
      throw new TuneError(
        ErrorCode.EvalNotFound,
        `No eval of ${missing} on the same eval set and metric as ${missing === a ? b : a}. Run /tune eval ${missing} <dataset> first${opts.experiment ? ` (the experiment's eval set)` : ""}.`,
      );
    }
    return this.compareEvals(ea, eb, opts.experiment?.alpha ?? 0.05, opts.seed ?? 1);
  }

  compareEvals(ea: EvalRecord, eb: EvalRecord, alpha: number, seed = 1): Comparison {
    const ra = this.repo.evalRows(ea.id);
    const rb = new Map(this.repo.evalRows(eb.id).map((r) => [r.rowIndex, r]));
    const pairs = ra.filter((r) => rb.has(r.rowIndex)).map((r) => [r, rb.get(r.rowIndex)!] as const);
    if (!pairs.length) throw new TuneError(ErrorCode.EvalNotPaired, `Evals ${ea.id} and ${eb.id} share no rows.`);
    const sa = pairs.map(([x]) => x.score);
    const sb = pairs.map(([, y]) => y.score);
    const clusters = pairs.map(([x]) => x.cluster);
    const hasClusters = clusters.some((c) => c !== null);
    const pc = pairedComparison(sa, sb, {
      alpha,
      seed,
      clusterIds: hasClusters ? clusters.map((c, i) => c ?? `row-${i}`) : undefined,
    });
    const regressions = pairs.filter(([x, y]) => y.score < x.score).map(([x]) => x.line);
    const improvements = pairs.filter(([x, y]) => y.score > x.score).map(([x]) => x.line);
    const cmp: Comparison = {
      metric: ea.metric,
      dataset: this.datasets.refOf(ea.datasetVersionId),
      n: pc.n,
      a: { model: ea.model, evalId: ea.id, mean: pc.meanA },
      b: { model: eb.model, evalId: eb.id, mean: pc.meanB },
      diff: pc.diff,
      ci: pc.ci,
      ciMethod: pc.ciMethod,
      pValue: pc.pValue,
      test: pc.test,
      discordant: pc.discordant ?? null,
      mde: pc.mde,
      mdeBasis: pc.mdeBasis,
      correlation: pc.correlation,
      clusteredSe: pc.clusteredSe ?? null,
      alpha,
      significant: pc.significant,
      regressions,
      improvements,
      verdict: "",
    };
    cmp.verdict = verdictText(cmp);
    return cmp;
  }
}

const pts = (x: number) => fmt.pts(x);
export const pValueText = fmt.p;

/** The interval's method, as shown beside it. */
export const CI_METHOD_TEXT: Record<PairedCiMethod, string> = {
  newcombe: "Newcombe's hybrid score interval for paired proportions",
  tango: "Tango's score interval for paired proportions",
  bootstrap: "paired bootstrap, 10,000 resamples",
  t: "paired t",
  "clustered-t": "cluster-robust t",
  "clustered-newcombe": "the wider of the cluster-robust t and Newcombe's interval",
  "no-spread": "every paired difference is the same: ± the 95% bound for 0 of n rows differing",
};

/** "3.9 pts", or a sentence when no difference is detectable at this n. */
export function mdePoints(mde: number): string {
  return Number.isFinite(mde) ? `${(mde * 100).toFixed(1)} pts` : "no difference (too few rows)";
}

/** The detectable effect and how it was computed, for the comparison's fields. */
export function mdeText(c: Pick<Comparison, "mde" | "mdeBasis" | "n" | "a">): string {
  const basis =
    c.mdeBasis.method === "connor"
      ? `n = ${c.n}, ${c.a.model} at ${(c.mdeBasis.pBase * 100).toFixed(1)}%, ${((c.mdeBasis.discordance ?? 0) * 100).toFixed(1)}% of rows discordant; McNemar, Connor 1987`
      : `n = ${c.n}, from the spread of the paired differences`;
  return `${mdePoints(c.mde)} at 80% power (${basis})`;
}

export function verdictText(c: Comparison): string {
  const dir = c.diff > 0 ? "better than" : c.diff < 0 ? "worse than" : "level with";
  const head = `${c.b.model} is ${dir} ${c.a.model} by ${pts(c.diff)} (95% CI ${pts(c.ci[0])} to ${pts(c.ci[1])}, ${c.test} ${pValueText(c.pValue)}, n = ${c.n})`;
  if (c.significant) return `${head}: significant at α = ${c.alpha}.`;
  const detect = Number.isFinite(c.mde)
    ? `this eval can detect differences of about ${mdePoints(c.mde)} (80% power)`
    : `this eval has too few rows to detect any difference at 80% power`;
  if (c.discordant && c.discordant.aOnly + c.discordant.bOnly === 0) {
    return `${head}: the two models pass and fail the same rows; ${detect}.`;
  }
  return `${head}: not significant at α = ${c.alpha}; ${detect}.`;
}
