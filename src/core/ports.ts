/**
 * The ports the core talks through. Nothing in src/core imports a chat SDK, a provider SDK or SQL:
 * adapters implement these interfaces and are handed in.
 */
import type { Readable } from "node:stream";
import type { Card } from "./cards.ts";

/** The chat port: how the core posts and updates messages on whatever platform the bot runs on. */
export interface ChatPort {
  post(channelId: string, card: Card, opts?: { threadId?: string }): Promise<{ messageId: string }>;
  update(channelId: string, messageId: string, card: Card): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * The log port: structured lines (an object of facts, then a message). The core logs through this and never imports
 * src/log.ts (which pulls in the settings); pino's logger, handed in by the wiring, fits it as it is.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Content-addressed blobs (sha256) in the data folder. */
export interface BlobStore {
  /** Moves a finished temporary file into the store under its sha256; a blob already there is kept, the file dropped. */
  adopt(tmpPath: string, sha256: string): Promise<void>;
  has(sha256: string): boolean;
  path(sha256: string): string;
  read(sha256: string): Readable;
  /** A fresh path for a temporary file on the same filesystem as the store (so adopt is an atomic rename). */
  tmpPath(label: string): string;
}

export interface DatasetVersionRecord {
  id: number;
  datasetId: number;
  name: string;
  version: number;
  sha256: string;
  normSha256: string;
  tokensSha256: string;
  format: string;
  rows: number;
  bytes: number;
  filename: string | null;
  origin: DatasetOrigin;
  stats: DatasetStats;
  createdBy: string | null;
  createdAt: Date;
}

export type DatasetOrigin =
  | { kind: "upload"; droppedRows?: number }
  | { kind: "split"; side: "train" | "eval"; from: string; seed: number; evalShare: number }
  /** A version made by adding rows to another (`dataset upload --append-to`, an approved proposal). */
  | { kind: "append"; from: string; added: number; source: string };

/** What is kept of an ingest report for `dataset show` (the rows themselves live in the blobs). */
export interface DatasetStats {
  tokens: { total: number; min: number; median: number; p95: number; max: number; mean: number };
  messages: { total: number; min: number; median: number; p95: number; max: number; mean: number };
  assistantTokens: number;
  overContext: number;
  contextModel: string;
  duplicates: { exact: number; near: number };
  pii: number;
  piiKinds: Record<string, number>;
  errorsDropped: number;
}

export type NewDatasetVersion = Omit<DatasetVersionRecord, "id" | "datasetId" | "version">;

export interface DatasetRepo {
  /** Adds the next version of `name` (creating the dataset on first use) in one transaction. */
  addVersion(v: NewDatasetVersion): DatasetVersionRecord;
  findVersion(name: string, version?: number): DatasetVersionRecord | null;
  versionById(id: number): DatasetVersionRecord | null;
  findBySha(name: string, sha256: string): DatasetVersionRecord | null;
  listLatest(): DatasetVersionRecord[];
  listVersions(name: string): DatasetVersionRecord[];
  names(): string[];
}

// ---------------------------------------------------------------------------------------------------------------
// The experiment engine's storage.

export interface ExperimentRecord {
  id: number;
  name: string;
  evalVersionId: number;
  evalSha256: string;
  metric: string;
  baselines: string[];
  budgetUsd: number | null;
  alpha: number;
  channelId: string | null;
  createdBy: string | null;
  createdAt: Date;
}

export interface HypothesisRecord {
  id: number;
  experimentId: number;
  text: string;
  metric: string;
  expectPts: number;
  createdBy: string | null;
  createdAt: Date;
  runId: number | null;
  verdict: HypothesisVerdict | null;
  decidedAt: Date | null;
}

export interface HypothesisVerdict {
  outcome: "supported" | "not_supported" | "inconclusive";
  observedPts: number;
  ci: [number, number];
  pValue: number;
  summary: string;
}

export const RUN_STATES = [
  "estimating",
  "awaiting_confirmation",
  "queued",
  "running",
  "stalled",
  "succeeded",
  "failed",
  "cancelled",
] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface Hyper {
  epochs: number;
  learningRate: number;
  batchSize: number;
  loraRank: number;
  loraAlpha: number;
  seed: number;
}

export interface RunProgress {
  phase: "training" | "evaluating" | "done";
  step?: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  tokensPerSec?: number;
  tokens?: number;
  elapsedMs?: number;
  evalDone?: number;
  evalTotal?: number;
  evalModel?: string;
  /** The eval (of the same model, by another run) this run waits for instead of paying for it twice. */
  waitingFor?: number;
}

export interface RunRecord {
  id: number;
  idempotencyKey: string;
  experimentId: number;
  datasetVersionId: number;
  /** Held-out rows the trainer reports validation loss on, when the run has a validation set. */
  validVersionId: number | null;
  provider: string;
  baseModel: string;
  tunedModel: string | null;
  hyper: Hyper;
  state: RunState;
  stateReason: string | null;
  jobId: string | null;
  estimate: unknown;
  progress: RunProgress | null;
  result: Record<string, unknown> | null;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  attempts: number;
  cancelRequestedAt: Date | null;
  channelId: string | null;
  messageId: string | null;
  createdBy: string | null;
  createdById: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export type NewRun = Pick<
  RunRecord,
  | "idempotencyKey"
  | "experimentId"
  | "datasetVersionId"
  | "provider"
  | "baseModel"
  | "hyper"
  | "state"
  | "estimate"
  | "channelId"
  | "createdBy"
  | "createdById"
  | "createdAt"
> &
  Partial<Pick<RunRecord, "validVersionId">>;

export interface EvalRecord {
  id: number;
  experimentId: number | null;
  runId: number | null;
  model: string;
  role: "base" | "tuned" | "baseline" | "adhoc";
  datasetVersionId: number;
  metric: string;
  state: "running" | "succeeded" | "failed";
  error: string | null;
  n: number;
  mean: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  summary: EvalSummary | null;
  createdAt: Date;
  finishedAt: Date | null;
  /** The longest answer asked for (null on evals from before it was recorded). */
  maxTokens: number | null;
  /** While running: the process answering it and until when (renewed); expired or dead means resumable. */
  leaseOwner: string | null;
  leaseUntil: Date | null;
  /** The earlier attempt whose answered rows this eval took over. */
  resumedFrom: number | null;
  /** When it was queued as a job (stand-alone evals on Postgres, docs/scale.md); null: answered where it started. */
  queuedAt: Date | null;
  /** Where the command that started it was typed (its card goes there if that process is gone). */
  replyChannelId: string | null;
  /** The waiting command's lease: renewed while it waits; past it, a surviving chat replica posts the card. */
  replyUntil: Date | null;
  /** When its card was posted (claimed once). */
  repliedAt: Date | null;
}

/** The lease owner of a queued eval no process answers yet (src/core/evals/jobs.ts). */
export const QUEUED_EVAL_OWNER = "queued";

export interface EvalSummary {
  method: string;
  se: number;
  latencyMs: { p50: number; p95: number };
  inputTokens: number;
  outputTokens: number;
  usd: number | null;
  judgeUsd: number;
  wallMs: number;
  chance?: { label: string; accuracy: number };
  /** Rows that were not answered or graded normally (absent when none); the eval's card says so. */
  flags?: EvalFlags;
}

/** Counts of rows of an eval that were not answered or graded normally. */
export interface EvalFlags {
  /** Answers whose grading ran past the grader's deadline (a user-typed pattern): scored as fails. */
  gradeTimeouts?: number;
  /** Answers whose provider-reported usage was missing or implausible: booked at tuneloop's own token count. */
  usageEstimated?: number;
  /** Answers cut at the size limit (TUNELOOP_MAX_ANSWER_BYTES). */
  truncated?: number;
}

export interface EvalRowRecord {
  evalId: number;
  rowIndex: number;
  line: number;
  output: string;
  expected: string;
  score: number;
  pass: boolean;
  detail: string | null;
  latencyMs: number;
  inputTokens: number;
  outputTokens: number;
  cluster: string | null;
}

export interface LedgerEntry {
  at: Date;
  kind: "training" | "eval" | "judge";
  estimated: boolean;
  experimentId: number | null;
  runId: number | null;
  evalId: number | null;
  provider: string;
  model: string;
  trainingTokens: number;
  inputTokens: number;
  outputTokens: number;
  usd: number;
  wallMs: number;
}

/** One reservation against an experiment's budget, with what is already booked under it. */
export interface BudgetHold {
  id: number;
  experimentId: number;
  runId: number | null;
  evalId: number | null;
  usd: number;
  bookedUsd: number;
  /** What it may still spend: usd less booked, never below 0. */
  remainingUsd: number;
}

/** Where an experiment's budget stands: booked spend and live reservations (see src/core/costs/budget.ts). */
export interface BudgetUse {
  budgetUsd: number | null;
  spentUsd: number;
  heldUsd: number;
  holds: BudgetHold[];
}

/** What makes two evals the same eval (their answered rows interchangeable). */
export interface EvalKey {
  model: string;
  datasetVersionId: number;
  metric: string;
  maxTokens: number;
  experimentId: number | null;
  runId: number | null;
  role: EvalRecord["role"];
}

export interface EvalClaim {
  key: EvalKey;
  /**
   * "experiment": a succeeded eval of the same model in the same experiment (any run) is reused and a running one
   * is waited for (base and baselines of runs); "none": only this key's own attempts count.
   */
  share: "experiment" | "none";
  /** Return a matching succeeded eval instead of starting another. */
  reuseSucceeded: boolean;
  owner: string;
  now: Date;
  leaseUntil: Date;
  /** Is the process that holds a lease alive? (false: its eval is an orphan, resumable now) */
  ownerAlive: (owner: string) => boolean;
  /** The eval's own reservation (an eval booked to an experiment outside a run), for the rows left to ask. */
  hold: { usdFor: (rowsLeft: number) => number } | null;
  /** Rows of the eval set (to size the hold after adopting rows). */
  rows: number;
  /** Queued as a job (owner QUEUED_EVAL_OWNER): where its card goes, and the waiting command's lease. */
  job?: { replyChannelId: string | null; replyUntil: Date } | null;
}

export type EvalClaimResult =
  | { kind: "reuse"; eval: EvalRecord }
  | { kind: "wait"; eval: EvalRecord }
  | { kind: "refused"; use: BudgetUse; usd: number }
  | {
      kind: "created";
      eval: EvalRecord;
      /** The attempt whose answered rows were copied into this one. */
      adopted: { from: EvalRecord; rows: number } | null;
      /** This eval's own hold (null when a run's hold covers it, or outside an experiment), and its amount. */
      holdId: number | null;
      holdUsd: number;
    };

/** One finished training's throughput (what run estimates learn from). */
export interface ThroughputSample {
  runId: number;
  provider: string;
  baseModel: string;
  /** Training tokens per row, rounded to a power of two. */
  seqBucket: number;
  rows: number;
  /** Training tokens as the estimate counts them (epochs x the rows' tokens up to the context). */
  tokens: number;
  wallMs: number;
  at: Date;
}

/** A process that runs queued runs, as its heartbeat row says. */
export interface WorkerBeat {
  id: string;
  label: string;
  host: string;
  pid: number;
  startedAt: Date;
  seenAt: Date;
}

export interface EngineRepo {
  createExperiment(e: Omit<ExperimentRecord, "id">): ExperimentRecord;
  experimentByName(name: string): ExperimentRecord | null;
  experimentById(id: number): ExperimentRecord | null;
  listExperiments(): ExperimentRecord[];

  createHypothesis(h: Omit<HypothesisRecord, "id" | "runId" | "verdict" | "decidedAt">): HypothesisRecord;
  hypotheses(experimentId: number): HypothesisRecord[];
  decideHypothesis(id: number, runId: number, verdict: HypothesisVerdict, at: Date): void;

  /**
   * Inserts a run, or returns the run already created under the same idempotency key. With a hold, reserves it
   * against the experiment's budget in the same immediate transaction: refused (nothing inserted) when the
   * experiment's spend, its live holds and this one would pass its budget.
   */
  createRun(
    r: NewRun,
    hold?: { usd: number },
  ): { run: RunRecord; created: boolean; refused?: undefined } | { refused: BudgetUse; run?: undefined };
  runById(id: number): RunRecord | null;
  listRuns(opts?: { experimentId?: number; states?: RunState[]; limit?: number }): RunRecord[];
  updateRun(id: number, patch: Partial<Omit<RunRecord, "id">>): RunRecord;
  /** Compare-and-set of the state: applies only when the run is in one of `from`. Returns the run, or null. */
  transitionRun(
    id: number,
    from: RunState[],
    to: RunState,
    patch?: Partial<Omit<RunRecord, "id" | "state">>,
    /** Recorded in the same transaction when the state changes (a process killed between the two left a run ended with no event saying so). */
    event?: { at: Date; type: string; data: unknown },
  ): RunRecord | null; // a final state releases the run's hold in the same transaction
  /** Atomically leases the oldest queued run (or the given one), or a running one whose lease expired (a crashed worker's). */
  claimRun(
    owner: string,
    now: Date,
    leaseUntil: Date,
    runId?: number,
    /** Only runs of these providers, or none of those (a `tuneloop worker` for self-hosted jobs, and the bot beside it). */
    providers?: { only?: string[]; except?: string[] },
  ): RunRecord | null;
  renewLease(id: number, owner: string, leaseUntil: Date): boolean;
  /** Ends a run's lease now, if `owner` still holds it (its process is gone). True when it did. */
  releaseLease(id: number, owner: string): boolean;
  addRunEvent(runId: number, at: Date, type: string, data: unknown): void;
  runEvents(runId: number, type?: string): Array<{ at: Date; type: string; data: unknown }>;

  /** A final state (succeeded, failed) clears the lease and releases the eval's hold in the same transaction. */
  updateEval(id: number, patch: Partial<Omit<EvalRecord, "id">>): EvalRecord;
  /**
   * In one immediate transaction: reuse a matching succeeded eval, or report a live one to wait for, or start a new
   * attempt that takes over the answered rows of the key's last unfinished attempt (closing it as
   * "resumed as #n") and reserves the eval's hold against the budget.
   */
  claimEval(c: EvalClaim): EvalClaimResult;
  /** Extends a running eval's lease; false when another process has taken it over. */
  renewEvalLease(id: number, owner: string, leaseUntil: Date): boolean;
  /**
   * Moves a running eval's lease from `from` (the queued marker, or a process that died) to `to`, only if it is still
   * `from`'s: false when another process took it first or it ended.
   */
  takeEvalLease(id: number, from: string | null, to: string, leaseUntil: Date): boolean;
  /** Queued evals still running whose lease is the queued marker or ran out (to offer as jobs again). */
  evalsToOffer(now: Date): EvalRecord[];
  /** Renews the waiting command's lease on a queued eval (false once its card was posted). */
  renewEvalReply(id: number, until: Date): boolean;
  /**
   * Claims the posting of a queued eval's card, once: the waiting command (`waiter`) always may; another process
   * only once the eval ended and the command's lease ran out. True: this caller posts it.
   */
  claimEvalReply(id: number, now: Date, opts: { waiter: boolean }): boolean;
  /** Queued evals that ended, with a channel, whose card nobody posted and whose command's lease ran out. */
  evalsToReply(now: Date): EvalRecord[];
  /** The ledger entries of an eval (one per kind: its answers and its judge's calls). */
  evalLedgerIds(evalId: number): Array<{ id: number; kind: LedgerEntry["kind"] }>;
  addEvalRows(rows: EvalRowRecord[]): void;
  evalRows(evalId: number): EvalRowRecord[];
  evalById(id: number): EvalRecord | null;
  evals(opts: {
    experimentId?: number;
    runId?: number;
    model?: string;
    datasetVersionId?: number;
    state?: EvalRecord["state"];
  }): EvalRecord[];

  /** Books an entry; returns its id (an eval's entry then grows with bookLedger as requests are answered). */
  addLedger(e: LedgerEntry): number;
  /** Adds tokens and dollars to a booked entry (one statement: durable as soon as it returns). */
  bookLedger(id: number, add: { inputTokens: number; outputTokens: number; usd: number; wallMs?: number }): void;
  ledger(opts: { experimentId?: number; runId?: number; evalIds?: number[]; since?: Date }): LedgerEntry[];

  /** The experiment's booked spend and live holds (an eval's hold counts while its lease is alive). */
  budgetUse(experimentId: number, now: Date): BudgetUse;
  /** The run's live hold, created (at `usd`) when it has none (a run queued before holds existed). */
  runHold(runId: number, usd: number, now: Date): BudgetHold;
  /**
   * Raises a hold to `usd` if the experiment's budget allows it (everything else committed plus this hold), in one
   * immediate transaction. Returns the use seen.
   */
  growHold(holdId: number, usd: number, now: Date): { ok: boolean; use: BudgetUse };
  setBudget(experimentId: number, budgetUsd: number | null): ExperimentRecord;

  /** Records (or replaces) the throughput of a run's training. */
  addThroughputSample(s: ThroughputSample): void;
  /** The newest samples of one provider, base model and sequence-length bucket, newest first. */
  throughputSamples(key: { provider: string; baseModel: string; seqBucket: number }, limit: number): ThroughputSample[];

  /** Writes (or refreshes) a worker's heartbeat row. */
  beatWorker(w: WorkerBeat): void;
  removeWorker(id: string): void;
  /** Workers whose heartbeat is newer than `since`, most recent first. */
  liveWorkers(since: Date): WorkerBeat[];
}

// ---------------------------------------------------------------------------------------------------------------
// Iterations: schedules, subscriptions, sweeps.

export interface ScheduleRecord {
  id: number;
  cron: string;
  tz: string;
  recipe: string;
  state: "active" | "paused";
  channelId: string | null;
  createdBy: string | null;
  createdAt: Date;
  nextFireAt: Date | null;
  lastFireAt: Date | null;
  lastOutcome: string | null;
  failures: number;
}

export interface ScheduleFire {
  scheduleId: number;
  at: Date;
  reason: "scheduled" | "missed" | "manual";
  outcome: "ok" | "skipped" | "failed";
  message: string | null;
}

export interface SubscriptionRecord {
  id: number;
  channelId: string;
  experimentId: number | null;
  kinds: string[];
  createdBy: string | null;
  createdAt: Date;
}

export interface SweepCell {
  dataset: string;
  epochs: number;
  learningRate: number;
  loraRank: number;
  estimateUsd: number;
  runId: number | null;
  status: "pending" | "started" | "done" | "failed" | "skipped";
  note?: string;
}

export interface SweepRecord {
  id: number;
  experimentId: number;
  cells: SweepCell[];
  state: "awaiting_confirmation" | "running" | "done" | "cancelled";
  budgetUsd: number | null;
  concurrency: number;
  channelId: string | null;
  messageId: string | null;
  createdBy: string | null;
  createdById: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  summary: unknown;
}

export interface IterationRepo {
  createSchedule(s: Omit<ScheduleRecord, "id">): ScheduleRecord;
  schedule(id: number): ScheduleRecord | null;
  schedules(): ScheduleRecord[];
  updateSchedule(id: number, patch: Partial<Omit<ScheduleRecord, "id">>): ScheduleRecord;
  removeSchedule(id: number): void;
  addFire(f: ScheduleFire): void;
  fires(scheduleId: number, limit?: number): ScheduleFire[];

  subscribe(s: Omit<SubscriptionRecord, "id">): SubscriptionRecord;
  subscriptions(opts?: { channelId?: string }): SubscriptionRecord[];

  createSweep(s: Omit<SweepRecord, "id">): SweepRecord;
  sweep(id: number): SweepRecord | null;
  sweeps(opts?: { states?: SweepRecord["state"][] }): SweepRecord[];
  updateSweep(id: number, patch: Partial<Omit<SweepRecord, "id">>): SweepRecord;
}
