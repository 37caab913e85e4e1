/**
 * The run worker: leases queued runs from the database (exactly one process runs each), trains, evaluates the
 * tuned model with its base and the experiment's baselines, compares, decides hypotheses, books costs.
 * A run whose worker died (its lease expired) is picked up again: training restarts (or is skipped when it had
 * finished), evals already done are kept, and nothing is started twice.
 */
import crypto from "node:crypto";
import os from "node:os";
import path from "node:path";
import { TuneError, asTuneError, ErrorCode } from "../../errors.ts";
import { fmt } from "../format.ts";
import { round } from "../costs/ledger.ts";
import { seqBucket } from "../costs/throughput.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { EvalService } from "../evals/service.ts";
import { parseGraderSpec } from "../evals/graders.ts";
import { providerUnavailable, runRef, type ProviderSet } from "../models.ts";
import type { Clock, EngineRepo, Logger, EvalRecord, RunProgress, RunRecord } from "../ports.ts";
import type { RunListener, RunVerdict } from "./events.ts";
import { pairedComparison } from "../stats.ts";
import { hypothesisVerdict } from "../experiments/hypotheses.ts";
import type { PackService } from "../packs/service.ts";
import type { IterateService } from "../iterate/service.ts";
import { CancelledError, type TrainProgressEvent } from "../trainer.ts";
import { type RunEstimate, type RunService, WORKER_HEARTBEAT_MS } from "./service.ts";

export type { RunListener, RunVerdict };

/** True when no process has this id (on this machine). */
function processGone(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export interface WorkerOptions {
  dataDir: string;
  leaseMs?: number;
  pollMs?: number;
  maxAttempts?: number;
  /** Progress is reported at most this often. */
  progressEveryMs?: number;
  /** The heartbeat row is refreshed this often (default WORKER_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** Runs of these providers only, or of none of those (self-hosted jobs taken by a `tuneloop worker` on the GPU box). */
  providers?: { only?: string[]; except?: string[] };
}

/** The abort reason when the process stops (Ctrl-D, SIGTERM): the run is interrupted, not cancelled or failed. */
export class WorkerStopping extends Error {
  constructor() {
    super("tuneloop is stopping");
  }
}

export class RunWorker {
  readonly owner = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString("hex")}`;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private current: AbortController | null = null;
  private beat: { label: string; startedAt: Date; last: number } | null = null;
  /** The claim-and-execute in progress, so stop() can wait for it before the database closes. */
  private inflight: Promise<RunRecord | null> | null = null;
  private stopping = false;
  /** Runs the experiment's eval packs after the evals (set by createApp). */
  packs: Pick<PackService, "forRun"> | null = null;
  /** Measures the clusters an approved proposal added rows for, and owns their hypotheses (set by createApp). */
  iterate: Pick<IterateService, "forRun" | "ownedHypotheses"> | null = null;

  constructor(
    private readonly repo: EngineRepo,
    private readonly runs: RunService,
    private readonly datasets: DatasetService,
    private readonly evals: EvalService,
    private readonly providers: ProviderSet,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: WorkerOptions,
  ) {}

  /** Listens to run changes (the run service's bus). */
  listen(l: RunListener): () => void {
    return this.runs.events.listen(l);
  }

  private emit(run: RunRecord, event: "state" | "progress") {
    this.runs.events.run(run, event);
  }

  /**
   * Polls for work until stop(), and keeps a heartbeat row in the database while it does, so that a command in
   * another process (the CLI) can say who will run what it queues. `label` names this process for people.
   */
  start(opts: { label?: string } = {}): void {
    if (this.timer) return;
    this.beat = { label: opts.label ?? "a tuneloop worker", startedAt: this.clock.now(), last: 0 };
    const tick = () => {
      this.heartbeat();
      if (!this.busy) void this.runNext().catch((err) => this.log.error({ err }, "run worker tick failed"));
    };
    this.timer = setInterval(tick, this.opts.pollMs ?? 1000);
    this.timer.unref();
    tick();
  }

  /**
   * Stops polling and the run in progress, and waits until its work has stopped (training stops within a step, an
   * eval within its requests in flight), so nothing touches the database after it closes. The interrupted run keeps
   * its state and gives up its lease: the next process that starts resumes it at once. Returns its id, if any.
   */
  async stop(): Promise<number | null> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopping = true;
    const ac = this.current;
    ac?.abort(new WorkerStopping());
    if (this.beat) {
      this.beat = null;
      try {
        this.repo.removeWorker(this.owner);
      } catch (err) {
        this.log.warn({ err }, "could not remove the worker's heartbeat row");
      }
    }
    const run = await this.inflight?.catch(() => null);
    return ac && run && run.state !== "succeeded" && run.state !== "failed" && run.state !== "cancelled"
      ? run.id
      : null;
  }

  private heartbeat() {
    const b = this.beat;
    if (!b || Date.now() - b.last < (this.opts.heartbeatMs ?? WORKER_HEARTBEAT_MS)) return;
    b.last = Date.now();
    try {
      this.repo.beatWorker({
        id: this.owner,
        label: b.label,
        host: os.hostname(),
        pid: process.pid,
        startedAt: b.startedAt,
        seenAt: this.clock.now(),
      });
    } catch (err) {
      this.log.warn({ err }, "worker heartbeat failed");
    }
  }

  /** Claims and executes the next run (or a given one). Returns the finished run, or null when there was none. */
  runNext(runId?: number): Promise<RunRecord | null> {
    if (this.busy || this.stopping) return Promise.resolve(null);
    this.busy = true;
    const p = this.claimAndExecute(runId);
    this.inflight = p;
    return p;
  }

  private async claimAndExecute(runId?: number): Promise<RunRecord | null> {
    try {
      const now = this.clock.now();
      this.releaseDeadLeases(now);
      const run = this.repo.claimRun(
        this.owner,
        now,
        new Date(now.getTime() + this.leaseMs),
        runId,
        this.opts.providers,
      );
      if (!run) return null;
      return await this.execute(run);
    } finally {
      this.busy = false;
    }
  }

  /**
   * A lease held by a process of this machine that no longer exists (killed, crashed) is ended now, so its run
   * resumes at once instead of when the lease runs out. A lease of another machine, or of a live process, stands.
   */
  private releaseDeadLeases(now: Date): void {
    for (const r of this.repo.listRuns({ states: ["running", "stalled"] })) {
      const owner = r.leaseOwner;
      if (!owner || owner === this.owner || !r.leaseUntil || r.leaseUntil < now) continue;
      const [host, pid] = owner.split(":");
      if (host === os.hostname() && processGone(Number(pid))) {
        this.repo.releaseLease(r.id, owner);
        this.log.info({ runId: r.id, owner }, "released the lease of a process that is gone");
      }
    }
  }

  private get leaseMs() {
    return this.opts.leaseMs ?? 60_000;
  }

  private async execute(claimed: RunRecord): Promise<RunRecord> {
    const maxAttempts = this.opts.maxAttempts ?? 3;
    const resumed = claimed.state === "running" || claimed.state === "stalled";
    let run = claimed;
    if (resumed && run.attempts >= maxAttempts) {
      run = this.runs.setState(run, ["running", "stalled"], "failed", "worker", {
        stateReason: `gave up after ${fmt.count(run.attempts, "attempt")} (the process running it stopped each time)`,
        finishedAt: this.clock.now(),
      });
      return run;
    }
    run = this.runs.setState(run, ["queued", "running", "stalled"], "running", "worker", {
      attempts: run.attempts + 1,
      startedAt: run.startedAt ?? this.clock.now(),
      stateReason: resumed ? `resumed after a restart (attempt ${run.attempts + 1})` : null,
    });

    const ac = new AbortController();
    this.current = ac;
    const heartbeat = setInterval(
      () => {
        const now = this.clock.now();
        if (!this.repo.renewLease(run.id, this.owner, new Date(now.getTime() + this.leaseMs))) {
          ac.abort(new Error("lease lost"));
        }
        if (this.repo.runById(run.id)?.cancelRequestedAt) ac.abort(new CancelledError());
      },
      Math.min(500, this.leaseMs / 3),
    );
    heartbeat.unref();

    try {
      if (this.repo.runById(run.id)?.cancelRequestedAt) throw new CancelledError();
      if (typeof run.result?.tunedModelId !== "string") run = await this.train(run, ac.signal);
      const verdict = await this.evaluate(run, ac.signal);
      run = this.runs.setState(run, ["running", "stalled"], "succeeded", "worker", {
        finishedAt: this.clock.now(),
        progress: { phase: "done" },
        leaseOwner: null,
        leaseUntil: null,
      });
      await this.runs.events.verdict(run, verdict);
      return run;
    } catch (err) {
      const reason = ac.signal.reason;
      if (reason instanceof WorkerStopping) {
        // This process is stopping (whatever the trainer threw on the abort): the run is interrupted, not
        // cancelled or failed. Give the lease up so the next start resumes it at once.
        this.log.info({ runId: run.id }, "run interrupted: tuneloop is stopping");
        this.repo.renewLease(run.id, this.owner, this.clock.now());
        return this.repo.runById(run.id) ?? run;
      }
      if (err instanceof CancelledError || reason instanceof CancelledError) {
        run = this.runs.setState(run, ["running", "stalled"], "cancelled", "worker", {
          stateReason: "cancelled while running",
          finishedAt: this.clock.now(),
          leaseOwner: null,
          leaseUntil: null,
        });
      } else if (ac.signal.aborted) {
        // Lease lost: leave the run to whoever holds it now.
        this.log.warn({ runId: run.id, reason: String(reason) }, "run abandoned");
        return this.repo.runById(run.id) ?? run;
      } else {
        // A provider's coded error (a job the provider failed, a refused request) is the user's to read;
        // anything else is a bug, logged with a reference.
        const coded = asTuneError(err);
        const ref = crypto.randomBytes(4).toString("hex");
        if (!coded) this.log.error({ err, runId: run.id, ref }, "run failed");
        const message = coded ? coded.message : `internal error (reference ${ref} in the bot's log)`;
        run = this.runs.setState(run, ["running", "stalled"], "failed", "worker", {
          stateReason: message,
          finishedAt: this.clock.now(),
          leaseOwner: null,
          leaseUntil: null,
        });
      }
      return run;
    } finally {
      clearInterval(heartbeat);
      this.current = null;
    }
  }

  private progressThrottle(run: RunRecord) {
    let last = 0;
    return (p: RunProgress, force = false) => {
      const now = Date.now();
      if (!force && now - last < (this.opts.progressEveryMs ?? 1000)) return;
      last = now;
      const r = this.repo.updateRun(run.id, { progress: p });
      this.emit(r, "progress");
    };
  }

  private async train(run: RunRecord, signal: AbortSignal): Promise<RunRecord> {
    const trainer = this.providers.trainer(run.provider);
    if (!trainer) throw providerUnavailable(this.providers, run.provider);
    const version = this.datasets.byId(run.datasetVersionId);
    const rows = await this.datasets.allRows(version);
    const validRows =
      run.validVersionId !== null ? await this.datasets.allRows(this.datasets.byId(run.validVersionId)) : undefined;
    const report = this.progressThrottle(run);
    const losses: Array<[number, number]> = [];
    let lossFlush = Date.now();
    const flushLosses = () => {
      if (losses.length) this.repo.addRunEvent(run.id, this.clock.now(), "loss", losses.splice(0));
    };
    // validation points are few (one per epoch): each is stored at once
    const onValidLoss = (p: { step: number; loss: number }) =>
      this.repo.addRunEvent(run.id, this.clock.now(), "valid_loss", [[p.step, p.loss]]);
    const onProgress = (p: TrainProgressEvent) => {
      losses.push([p.step, p.loss]);
      if (Date.now() - lossFlush > 1000) {
        lossFlush = Date.now();
        flushLosses();
      }
      report({ phase: "training", ...p }, p.step === p.totalSteps);
    };
    report({ phase: "training", step: 0, totalSteps: undefined }, true);
    const t0 = performance.now();
    const out = await trainer.train({
      run,
      trainRows: rows,
      validRows,
      onValidLoss,
      hyper: run.hyper,
      workDir: path.join(this.opts.dataDir, "runs", String(run.id)),
      signal,
      onProgress,
      jobId: run.jobId,
      onJobCreated: (jobId) => {
        this.repo.updateRun(run.id, { jobId });
        this.repo.addRunEvent(run.id, this.clock.now(), "job", { jobId });
      },
      onStalled: (message) => {
        const r = this.repo.runById(run.id);
        if (r?.state === "running") this.runs.setState(r, ["running"], "stalled", "worker", { stateReason: message });
      },
      onRecovered: () => {
        const r = this.repo.runById(run.id);
        if (r?.state === "stalled") this.runs.setState(r, ["stalled"], "running", "worker", { stateReason: null });
      },
      onEvent: (message) => this.repo.addRunEvent(run.id, this.clock.now(), "provider", { message }),
    });
    flushLosses();
    // What the person waited for: from the start of training to the tuned model (a hosted job's own span when a
    // restart made this process see only its end).
    const trainWallMs = Math.max(Math.round(performance.now() - t0), Math.round(out.wallMs));
    this.recordThroughput(run, trainWallMs);
    this.repo.addLedger({
      at: this.clock.now(),
      kind: "training",
      estimated: false,
      experimentId: run.experimentId,
      runId: run.id,
      evalId: null,
      provider: run.provider,
      model: run.baseModel,
      trainingTokens: out.trainingTokens,
      inputTokens: 0,
      outputTokens: 0,
      usd: out.usd,
      wallMs: out.wallMs,
    });
    return this.repo.updateRun(run.id, {
      tunedModel: runRef(run.id),
      jobId: out.jobId ?? null,
      result: {
        tunedModelId: out.tunedModelId,
        steps: out.steps,
        trainingTokens: out.trainingTokens,
        finalLoss: out.finalLoss,
        wallMs: out.wallMs,
        trainWallMs,
        usd: round(out.usd),
      },
    });
  }

  /** Keeps the training's throughput, in the tokens the estimate counts, for the estimates of later runs. */
  private recordThroughput(run: RunRecord, wallMs: number) {
    const e = run.estimate as Partial<RunEstimate> | null;
    const work = e?.wallWork;
    if (!work?.tokens || !e?.trainRows) return;
    this.repo.addThroughputSample({
      runId: run.id,
      provider: run.provider,
      baseModel: run.baseModel,
      seqBucket: seqBucket(work.tokensPerRow),
      rows: e.trainRows,
      tokens: work.tokens,
      wallMs,
      at: this.clock.now(),
    });
  }

  private async evaluate(run: RunRecord, signal: AbortSignal): Promise<RunVerdict> {
    const exp = this.repo.experimentById(run.experimentId);
    if (!exp) throw new TuneError(ErrorCode.ExperimentNotFound, `Run ${run.id}'s experiment is gone.`);
    const evalSet = this.datasets.byId(exp.evalVersionId);
    const base = `${run.provider}:${run.baseModel}`;
    const tuned = runRef(run.id);
    const plan: Array<{ model: string; role: EvalRecord["role"] }> = [
      { model: tuned, role: "tuned" },
      { model: base, role: "base" },
      ...exp.baselines.map((m) => ({ model: m, role: "baseline" as const })),
    ];
    const report = this.progressThrottle(run);
    const done: EvalRecord[] = [];
    for (const step of plan) {
      // Reuse: this run's own finished eval (after a restart), or, for base and baselines, the experiment's eval of
      // that model on the same frozen eval set and metric (deterministic, and it saves money), waiting for it when
      // another run is doing it now. The run's reservation covers the spend, request by request.
      const ev = await this.evals.evaluate({
        modelRef: step.model,
        dataset: evalSet,
        metric: exp.metric,
        role: step.role,
        experimentId: exp.id,
        runId: run.id,
        share: step.role === "tuned" ? "none" : "experiment",
        reuse: true,
        holdRunId: run.id,
        signal,
        onStart: (_ev, reused) =>
          report({ phase: "evaluating", evalModel: step.model, evalDone: reused, evalTotal: evalSet.rows }, true),
        onProgress: (d, t) =>
          report({ phase: "evaluating", evalModel: step.model, evalDone: d, evalTotal: t }, d === t),
        onWaiting: (other) =>
          report(
            { phase: "evaluating", evalModel: step.model, evalDone: 0, evalTotal: evalSet.rows, waitingFor: other.id },
            true,
          ),
      });
      done.push(ev);
    }
    const tunedEval = done[0];
    const comparisons = done.slice(1).map((other) => this.evals.compareEvals(other, tunedEval, exp.alpha));
    const clusters = this.iterate?.forRun(run, exp, tunedEval) ?? [];
    if (clusters.length) this.repo.addRunEvent(run.id, this.clock.now(), "clusters", clusters);
    const hypotheses = await this.decideHypotheses(run, exp.id, exp.alpha, done[1], tunedEval, exp.metric);
    for (const c of clusters) if (c.hypothesis) hypotheses.push(c.hypothesis);
    const packs = await this.packs?.forRun(run, exp, tuned, signal, (name, i, n, units) =>
      report(
        { phase: "evaluating", evalModel: `eval pack ${name} (${i + 1} of ${n})`, evalDone: 0, evalTotal: units },
        true,
      ),
    );
    if (packs) this.repo.addRunEvent(run.id, this.clock.now(), "packs", packs);
    return {
      evals: done,
      comparisons,
      hypotheses,
      ...(packs ? { packs } : {}),
      ...(clusters.length ? { clusters } : {}),
    };
  }

  /** Hypotheses recorded before the run are decided against tuned vs base, on their own metric. */
  private async decideHypotheses(
    run: RunRecord,
    experimentId: number,
    alpha: number,
    baseEval: EvalRecord,
    tunedEval: EvalRecord,
    metric: string,
  ) {
    const out: RunVerdict["hypotheses"] = [];
    const owned = this.iterate?.ownedHypotheses(experimentId) ?? new Set<number>();
    const open = this.repo
      .hypotheses(experimentId)
      .filter((h) => !h.verdict && !owned.has(h.id) && h.createdAt <= (run.startedAt ?? run.createdAt));
    if (!open.length) return out;
    const baseRows = this.repo.evalRows(baseEval.id);
    const tunedRows = new Map(this.repo.evalRows(tunedEval.id).map((r) => [r.rowIndex, r]));
    const paired = baseRows.filter((r) => tunedRows.has(r.rowIndex));
    for (const h of open) {
      let a = paired.map((r) => r.score);
      let b = paired.map((r) => tunedRows.get(r.rowIndex)!.score);
      if (h.metric !== metric) {
        // Re-grade the stored answers with the hypothesis' own metric (no new inference). A judge metric would
        // cost money on every decision, so such a hypothesis is decided only when it is the experiment's metric.
        const spec = parseGraderSpec(h.metric);
        if (spec.kind === "judge") continue;
        const grade = this.evals.grader(spec);
        const scores = (rows: Array<{ output: string; expected: string }>) =>
          Promise.all(rows.map((r) => grade({ output: r.output, expected: r.expected }).then((g) => g.score)));
        a = await scores(paired);
        b = await scores(paired.map((r) => tunedRows.get(r.rowIndex)!));
      }
      if (!a.length) continue;
      const verdict = hypothesisVerdict(pairedComparison(a, b, { alpha }), h.expectPts);
      this.repo.decideHypothesis(h.id, run.id, verdict, this.clock.now());
      out.push({ id: h.id, text: h.text, verdict });
    }
    return out;
  }
}
