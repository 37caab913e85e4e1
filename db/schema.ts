import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const datasets = sqliteTable("datasets", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
});

export const datasetVersions = sqliteTable(
  "dataset_versions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    datasetId: integer("dataset_id")
      .notNull()
      .references(() => datasets.id),
    version: integer("version").notNull(),
    /** sha256 of the original bytes as uploaded. */
    sha256: text("sha256").notNull(),
    /** sha256 of the normalised rows (JSONL of chat messages / text rows). */
    normSha256: text("norm_sha256").notNull(),
    /** sha256 of the per-row token counts (little-endian uint32). */
    tokensSha256: text("tokens_sha256").notNull(),
    format: text("format").notNull(),
    rows: integer("rows").notNull(),
    bytes: integer("bytes").notNull(),
    filename: text("filename"),
    origin: text("origin", { mode: "json" }).notNull(),
    stats: text("stats", { mode: "json" }).notNull(),
    createdBy: text("created_by"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    uniqueIndex("dataset_versions_dataset_version").on(t.datasetId, t.version),
    index("dataset_versions_sha").on(t.sha256),
  ],
);

export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull().default(sql`(unixepoch() * 1000)`),
});

export const experiments = sqliteTable("experiments", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  /** The eval set, frozen: a dataset version (its content hash is kept too). */
  evalVersionId: integer("eval_version_id")
    .notNull()
    .references(() => datasetVersions.id),
  evalSha256: text("eval_sha256").notNull(),
  /** Grader spec of the primary metric, e.g. "exact", "label:yes,no", "judge:vllm:qwen". */
  metric: text("metric").notNull(),
  baselines: text("baselines", { mode: "json" }).$type<string[]>().notNull(),
  budgetUsd: real("budget_usd"),
  alpha: real("alpha").notNull().default(0.05),
  channelId: text("channel_id"),
  createdBy: text("created_by"),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
});

export const hypotheses = sqliteTable("hypotheses", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  experimentId: integer("experiment_id")
    .notNull()
    .references(() => experiments.id),
  text: text("text").notNull(),
  metric: text("metric").notNull(),
  /** Expected improvement in points (percentage points for proportions), e.g. +5. */
  expectPts: real("expect_pts").notNull(),
  createdBy: text("created_by"),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  runId: integer("run_id"),
  verdict: text("verdict", { mode: "json" }),
  decidedAt: integer("decided_at", { mode: "timestamp_ms" }),
});

export const runs = sqliteTable(
  "runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** Never start the same run twice: providers get this key, and a retried command finds the existing run. */
    idempotencyKey: text("idempotency_key").notNull().unique(),
    experimentId: integer("experiment_id")
      .notNull()
      .references(() => experiments.id),
    datasetVersionId: integer("dataset_version_id")
      .notNull()
      .references(() => datasetVersions.id),
    /** The held-out rows its trainer reports validation loss on (`run start --valid`), when it has them. */
    validVersionId: integer("valid_version_id").references(() => datasetVersions.id),
    provider: text("provider").notNull(),
    baseModel: text("base_model").notNull(),
    tunedModel: text("tuned_model"),
    hyper: text("hyper", { mode: "json" }).notNull(),
    state: text("state").notNull(),
    stateReason: text("state_reason"),
    jobId: text("job_id"),
    estimate: text("estimate", { mode: "json" }),
    progress: text("progress", { mode: "json" }),
    result: text("result", { mode: "json" }),
    leaseOwner: text("lease_owner"),
    leaseUntil: integer("lease_until", { mode: "timestamp_ms" }),
    attempts: integer("attempts").notNull().default(0),
    /** Set by `run cancel` (from any process); the worker running it stops within a step. */
    cancelRequestedAt: integer("cancel_requested_at", { mode: "timestamp_ms" }),
    channelId: text("channel_id"),
    messageId: text("message_id"),
    createdBy: text("created_by"),
    /** The platform id of who started it (only they or an admin may confirm or cancel it from chat). */
    createdById: text("created_by_id"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    startedAt: integer("started_at", { mode: "timestamp_ms" }),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
  },
  (t) => [index("runs_state").on(t.state), index("runs_experiment").on(t.experimentId)],
);

export const runEvents = sqliteTable(
  "run_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    runId: integer("run_id")
      .notNull()
      .references(() => runs.id),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
    type: text("type").notNull(),
    data: text("data", { mode: "json" }),
  },
  (t) => [index("run_events_run").on(t.runId)],
);

export const evals = sqliteTable(
  "evals",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    experimentId: integer("experiment_id").references(() => experiments.id),
    runId: integer("run_id").references(() => runs.id),
    /** What answered: a base model, a tuned run (run:12) or a baseline endpoint model. */
    model: text("model").notNull(),
    role: text("role").notNull(),
    datasetVersionId: integer("dataset_version_id")
      .notNull()
      .references(() => datasetVersions.id),
    metric: text("metric").notNull(),
    state: text("state").notNull(),
    error: text("error"),
    n: integer("n").notNull().default(0),
    mean: real("mean"),
    ciLow: real("ci_low"),
    ciHigh: real("ci_high"),
    summary: text("summary", { mode: "json" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
    /** The longest answer asked for (part of what makes two evals the same eval). */
    maxTokens: integer("max_tokens"),
    /** While running: the process answering it, renewed every few seconds; expired or dead: resumable. */
    leaseOwner: text("lease_owner"),
    leaseUntil: integer("lease_until", { mode: "timestamp_ms" }),
    /** The earlier attempt (failed, or whose process died) whose answered rows this eval took over. */
    resumedFrom: integer("resumed_from"),
    /**
     * A stand-alone eval queued as a job (Postgres, docs/scale.md): when. Null: answered in the process that started
     * it. A queued eval still running whose lease ran out is offered again.
     */
    queuedAt: integer("queued_at", { mode: "timestamp_ms" }),
    /** Where the command that started it was typed: a surviving chat replica posts its card there. */
    replyChannelId: text("reply_channel_id"),
    /** The waiting command's lease (renewed while it waits): past it, another chat replica posts the card. */
    replyUntil: integer("reply_until", { mode: "timestamp_ms" }),
    /** When its card was posted (the delivery, claimed once). */
    repliedAt: integer("replied_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    index("evals_experiment").on(t.experimentId),
    index("evals_run").on(t.runId),
    index("evals_model").on(t.model, t.datasetVersionId),
  ],
);

export const evalRows = sqliteTable(
  "eval_rows",
  {
    evalId: integer("eval_id")
      .notNull()
      .references(() => evals.id),
    rowIndex: integer("row_index").notNull(),
    line: integer("line").notNull(),
    output: text("output").notNull(),
    expected: text("expected").notNull(),
    score: real("score").notNull(),
    pass: integer("pass", { mode: "boolean" }).notNull(),
    detail: text("detail"),
    latencyMs: real("latency_ms").notNull(),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    cluster: text("cluster"),
  },
  (t) => [primaryKey({ columns: [t.evalId, t.rowIndex] })],
);

/** Every token that costs money, and the wall time of free (local) work. */
export const ledger = sqliteTable(
  "ledger",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
    kind: text("kind").notNull(),
    estimated: integer("estimated", { mode: "boolean" }).notNull().default(false),
    experimentId: integer("experiment_id"),
    runId: integer("run_id"),
    evalId: integer("eval_id"),
    provider: text("provider").notNull(),
    model: text("model").notNull(),
    trainingTokens: integer("training_tokens").notNull().default(0),
    inputTokens: integer("input_tokens").notNull().default(0),
    outputTokens: integer("output_tokens").notNull().default(0),
    usd: real("usd").notNull().default(0),
    wallMs: integer("wall_ms").notNull().default(0),
  },
  (t) => [
    index("ledger_experiment").on(t.experimentId),
    index("ledger_run").on(t.runId),
    index("ledger_eval").on(t.evalId),
  ],
);

/**
 * Budget reservations: what a queued, awaiting-confirmation or running run (or a running eval booked to an
 * experiment) may still spend. Taken in the same transaction that checks the experiment's budget; released when the
 * work ends. A hold's remaining amount is its `usd` less what is already booked under it (the run's or the eval's
 * ledger rows); an eval's hold counts only while the eval's lease is alive.
 */
export const budgetHolds = sqliteTable(
  "budget_holds",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    experimentId: integer("experiment_id")
      .notNull()
      .references(() => experiments.id),
    /** The run it reserves for (its training and evals), or null for an eval's own hold. */
    runId: integer("run_id"),
    evalId: integer("eval_id"),
    usd: real("usd").notNull(),
    state: text("state").notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    releasedAt: integer("released_at", { mode: "timestamp_ms" }),
  },
  (t) => [
    index("budget_holds_experiment").on(t.experimentId, t.state),
    index("budget_holds_run").on(t.runId),
    index("budget_holds_eval").on(t.evalId),
  ],
);

export const schedules = sqliteTable("schedules", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  cron: text("cron").notNull(),
  tz: text("tz").notNull(),
  /** What a fire does: `rerun <experiment>`, `reeval <experiment>`, `sweep <experiment> ...`, `digest [...]`. */
  recipe: text("recipe").notNull(),
  state: text("state").notNull(),
  channelId: text("channel_id"),
  createdBy: text("created_by"),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  /** The next scheduled fire; a restart that finds it in the past fires once (a missed fire). */
  nextFireAt: integer("next_fire_at", { mode: "timestamp_ms" }),
  lastFireAt: integer("last_fire_at", { mode: "timestamp_ms" }),
  lastOutcome: text("last_outcome"),
  /** Consecutive failed fires; the schedule pauses itself at TUNELOOP_SCHEDULE_MAX_FAILURES. */
  failures: integer("failures").notNull().default(0),
});

export const scheduleFires = sqliteTable(
  "schedule_fires",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    scheduleId: integer("schedule_id")
      .notNull()
      .references(() => schedules.id),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
    reason: text("reason").notNull(),
    outcome: text("outcome").notNull(),
    message: text("message"),
  },
  (t) => [index("schedule_fires_schedule").on(t.scheduleId)],
);

export const subscriptions = sqliteTable(
  "subscriptions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    channelId: text("channel_id").notNull(),
    /** null: every experiment. */
    experimentId: integer("experiment_id"),
    kinds: text("kinds", { mode: "json" }).$type<string[]>().notNull(),
    createdBy: text("created_by"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [uniqueIndex("subscriptions_channel_experiment").on(t.channelId, t.experimentId)],
);

export const sweeps = sqliteTable("sweeps", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  experimentId: integer("experiment_id")
    .notNull()
    .references(() => experiments.id),
  /** The cells, cheapest first: { dataset, epochs, learningRate, loraRank, estimateUsd, runId, status }. */
  cells: text("cells", { mode: "json" }).notNull(),
  state: text("state").notNull(),
  budgetUsd: real("budget_usd"),
  concurrency: integer("concurrency").notNull().default(1),
  channelId: text("channel_id"),
  messageId: text("message_id"),
  createdBy: text("created_by"),
  createdById: text("created_by_id"),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
  summary: text("summary", { mode: "json" }),
});

/**
 * Training throughput measured here: one row per finished training. Run estimates use the recent rows of the same
 * provider, base model and sequence-length bucket before the default table (src/providers/throughput.json).
 */
export const throughputSamples = sqliteTable(
  "throughput_samples",
  {
    runId: integer("run_id")
      .primaryKey()
      .references(() => runs.id),
    provider: text("provider").notNull(),
    baseModel: text("base_model").notNull(),
    /** Training tokens per row rounded to a power of two (~128 tokens/row). */
    seqBucket: integer("seq_bucket").notNull(),
    rows: integer("rows").notNull(),
    /** Training tokens as the estimate counts them: epochs x the rows' tokens (up to the model's context). */
    tokens: integer("tokens").notNull(),
    /** Wall time of the training, from its start to the tuned model (queue and loading included). */
    wallMs: integer("wall_ms").notNull(),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("throughput_samples_key").on(t.provider, t.baseModel, t.seqBucket, t.at)],
);

/** Processes that run queued runs (a bot's worker): each refreshes its row while it lives and removes it on stop. */
export const workers = sqliteTable("workers", {
  id: text("id").primaryKey(),
  /** What it is, for people: "the Slack bot", "the console bot". */
  label: text("label").notNull(),
  host: text("host").notNull(),
  pid: integer("pid").notNull(),
  startedAt: integer("started_at", { mode: "timestamp_ms" }).notNull(),
  seenAt: integer("seen_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Named leases among processes sharing one database (docs/scale.md): the Socket Mode or Discord gateway connection
 * is held by the replica whose lease is current; another takes it over once the lease runs out.
 */
export const leases = sqliteTable("leases", {
  name: text("name").primaryKey(),
  holder: text("holder").notNull(),
  until: integer("until", { mode: "timestamp_ms" }).notNull(),
  acquiredAt: integer("acquired_at", { mode: "timestamp_ms" }).notNull(),
});

/** Custom eval packs (docs/packs.md): each `pack add` of a name adds its next version. */
export const packs = sqliteTable(
  "packs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    description: text("description").notNull(),
    probes: text("probes", { mode: "json" }).notNull(),
    sha256: text("sha256").notNull(),
    createdBy: text("created_by"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [uniqueIndex("packs_name_version").on(t.name, t.version)],
);

/** The packs every run of an experiment is also judged on (`experiment new --packs`). */
export const experimentPacks = sqliteTable("experiment_packs", {
  experimentId: integer("experiment_id")
    .primaryKey()
    .references(() => experiments.id),
  packs: text("packs", { mode: "json" }).$type<string[]>().notNull(),
});

/** New training rows proposed for a failure cluster of a run (`iterate propose`), approved or rejected in the thread. */
export const proposals = sqliteTable("proposals", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  runId: integer("run_id")
    .notNull()
    .references(() => runs.id),
  /** The cluster: key, label, eval rows it holds, rows shown to the teacher. */
  cluster: text("cluster", { mode: "json" }).notNull(),
  rows: text("rows", { mode: "json" }).notNull(),
  teacher: text("teacher"),
  /** proposed | approved | rejected */
  state: text("state").notNull(),
  createdBy: text("created_by"),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  decidedBy: text("decided_by"),
  decidedAt: integer("decided_at", { mode: "timestamp_ms" }),
  /** The dataset version made on approval, and the hypothesis recorded for it. */
  datasetVersionId: integer("dataset_version_id"),
  hypothesisId: integer("hypothesis_id"),
});
/**
 * Chat requests already taken (src/chat/dedupe.ts): a platform's retried delivery (a Slack event retry, a Discord
 * gateway replay) finds its key here and is dropped, also after a restart and across processes on one database.
 * Rows older than a day are pruned.
 */
export const chatRequests = sqliteTable(
  "chat_requests",
  {
    key: text("key").primaryKey(),
    at: integer("at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("chat_requests_at").on(t.at)],
);
/**
 * Commands of chat buttons whose platform id cannot carry them (Discord's custom_id holds 100 characters; a button's
 * id is then `tune#` and a hash of its command, src/chat/buttons.ts): kept here so the button still works after a
 * restart and in another process on the same database. One row per distinct command.
 */
export const chatButtons = sqliteTable("chat_buttons", {
  key: text("key").primaryKey(),
  command: text("command").notNull(),
  at: integer("at", { mode: "timestamp_ms" }).notNull(),
});
