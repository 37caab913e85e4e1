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
  | { kind: "split"; side: "train" | "eval"; from: string; seed: number; evalShare: number };

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
}

export interface RunRecord {
  id: number;
  idempotencyKey: string;
  experimentId: number;
  datasetVersionId: number;
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
>;

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
}

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

  /** Inserts a run, or returns the run already created under the same idempotency key. */
  createRun(r: NewRun): { run: RunRecord; created: boolean };
  runById(id: number): RunRecord | null;
  listRuns(opts?: { experimentId?: number; states?: RunState[]; limit?: number }): RunRecord[];
  updateRun(id: number, patch: Partial<Omit<RunRecord, "id">>): RunRecord;
  /** Compare-and-set of the state: applies only when the run is in one of `from`. Returns the run, or null. */
  transitionRun(
    id: number,
    from: RunState[],
    to: RunState,
    patch?: Partial<Omit<RunRecord, "id" | "state">>,
  ): RunRecord | null;
  /** Atomically leases the oldest queued run (or the given one), or a running one whose lease expired (a crashed worker's). */
  claimRun(owner: string, now: Date, leaseUntil: Date, runId?: number): RunRecord | null;
  renewLease(id: number, owner: string, leaseUntil: Date): boolean;
  addRunEvent(runId: number, at: Date, type: string, data: unknown): void;
  runEvents(runId: number, type?: string): Array<{ at: Date; type: string; data: unknown }>;

  createEval(e: Omit<EvalRecord, "id">): EvalRecord;
  updateEval(id: number, patch: Partial<Omit<EvalRecord, "id">>): EvalRecord;
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

  addLedger(e: LedgerEntry): void;
  ledger(opts: { experimentId?: number; runId?: number; since?: Date }): LedgerEntry[];

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
