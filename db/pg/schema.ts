/**
 * The Postgres schema: the same tables, columns and constraints as db/schema.ts (SQLite), in Postgres types.
 * drizzle has no schema shared across dialects, so the two live side by side; test/pg/schema-parity.test.ts fails
 * when they drift. Change both, then `npm run db:generate` and `npm run db:generate:pg`.
 */
import {
  bigint,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

export const datasets = pgTable("datasets", {
  id: serial("id").primaryKey(),
  name: text("name").notNull().unique(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
});

export const datasetVersions = pgTable(
  "dataset_versions",
  {
    id: serial("id").primaryKey(),
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
    bytes: bigint("bytes", { mode: "number" }).notNull(),
    filename: text("filename"),
    origin: jsonb("origin").notNull(),
    stats: jsonb("stats").notNull(),
    createdBy: text("created_by"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [
    uniqueIndex("dataset_versions_dataset_version").on(t.datasetId, t.version),
    index("dataset_versions_sha").on(t.sha256),
  ],
);

export const meta = pgTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

export const experiments = pgTable("experiments", {
  id: serial("id").primaryKey(),
  name: text("name").notNull().unique(),
  /** The eval set, frozen: a dataset version (its content hash is kept too). */
  evalVersionId: integer("eval_version_id")
    .notNull()
    .references(() => datasetVersions.id),
  evalSha256: text("eval_sha256").notNull(),
  /** Grader spec of the primary metric, e.g. "exact", "label:yes,no", "judge:vllm:qwen". */
  metric: text("metric").notNull(),
  baselines: jsonb("baselines").$type<string[]>().notNull(),
  budgetUsd: doublePrecision("budget_usd"),
  alpha: doublePrecision("alpha").notNull().default(0.05),
  channelId: text("channel_id"),
  createdBy: text("created_by"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
});

export const hypotheses = pgTable("hypotheses", {
  id: serial("id").primaryKey(),
  experimentId: integer("experiment_id")
    .notNull()
    .references(() => experiments.id),
  text: text("text").notNull(),
  metric: text("metric").notNull(),
  /** Expected improvement in points (percentage points for proportions), e.g. +5. */
  expectPts: doublePrecision("expect_pts").notNull(),
  createdBy: text("created_by"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  runId: integer("run_id"),
  verdict: jsonb("verdict"),
  decidedAt: timestamp("decided_at", { withTimezone: true, mode: "date" }),
});

export const runs = pgTable(
  "runs",
  {
    id: serial("id").primaryKey(),
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
    hyper: jsonb("hyper").notNull(),
    state: text("state").notNull(),
    stateReason: text("state_reason"),
    jobId: text("job_id"),
    estimate: jsonb("estimate"),
    progress: jsonb("progress"),
    result: jsonb("result"),
    leaseOwner: text("lease_owner"),
    leaseUntil: timestamp("lease_until", { withTimezone: true, mode: "date" }),
    attempts: integer("attempts").notNull().default(0),
    /** Set by `run cancel` (from any process); the worker running it stops within a step. */
    cancelRequestedAt: timestamp("cancel_requested_at", { withTimezone: true, mode: "date" }),
    channelId: text("channel_id"),
    messageId: text("message_id"),
    createdBy: text("created_by"),
    /** The platform id of who started it (only they or an admin may confirm or cancel it from chat). */
    createdById: text("created_by_id"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }),
    finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("runs_state").on(t.state), index("runs_experiment").on(t.experimentId)],
);

export const runEvents = pgTable(
  "run_events",
  {
    id: serial("id").primaryKey(),
    runId: integer("run_id")
      .notNull()
      .references(() => runs.id),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
    type: text("type").notNull(),
    data: jsonb("data"),
  },
  (t) => [index("run_events_run").on(t.runId)],
);

export const evals = pgTable(
  "evals",
  {
    id: serial("id").primaryKey(),
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
    mean: doublePrecision("mean"),
    ciLow: doublePrecision("ci_low"),
    ciHigh: doublePrecision("ci_high"),
    summary: jsonb("summary"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
    /** The longest answer asked for (part of what makes two evals the same eval). */
    maxTokens: integer("max_tokens"),
    /** While running: the process answering it, renewed every few seconds; expired or dead: resumable. */
    leaseOwner: text("lease_owner"),
    leaseUntil: timestamp("lease_until", { withTimezone: true, mode: "date" }),
    /** The earlier attempt (failed, or whose process died) whose answered rows this eval took over. */
    resumedFrom: integer("resumed_from"),
    /**
     * A stand-alone eval queued as a job (Postgres, docs/scale.md): when. Null: answered in the process that started
     * it. A queued eval still running whose lease ran out is offered again.
     */
    queuedAt: timestamp("queued_at", { withTimezone: true, mode: "date" }),
    /** Where the command that started it was typed: a surviving chat replica posts its card there. */
    replyChannelId: text("reply_channel_id"),
    /** The waiting command's lease (renewed while it waits): past it, another chat replica posts the card. */
    replyUntil: timestamp("reply_until", { withTimezone: true, mode: "date" }),
    /** When its card was posted (the delivery, claimed once). */
    repliedAt: timestamp("replied_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    index("evals_experiment").on(t.experimentId),
    index("evals_run").on(t.runId),
    index("evals_model").on(t.model, t.datasetVersionId),
  ],
);

export const evalRows = pgTable(
  "eval_rows",
  {
    evalId: integer("eval_id")
      .notNull()
      .references(() => evals.id),
    rowIndex: integer("row_index").notNull(),
    line: integer("line").notNull(),
    output: text("output").notNull(),
    expected: text("expected").notNull(),
    score: doublePrecision("score").notNull(),
    pass: boolean("pass").notNull(),
    detail: text("detail"),
    latencyMs: doublePrecision("latency_ms").notNull(),
    inputTokens: bigint("input_tokens", { mode: "number" }).notNull(),
    outputTokens: bigint("output_tokens", { mode: "number" }).notNull(),
    cluster: text("cluster"),
  },
  (t) => [primaryKey({ columns: [t.evalId, t.rowIndex] })],
);

/** Every token that costs money, and the wall time of free (local) work. */
export const ledger = pgTable(
  "ledger",
  {
    id: serial("id").primaryKey(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
    kind: text("kind").notNull(),
    estimated: boolean("estimated").notNull().default(false),
    experimentId: integer("experiment_id"),
    runId: integer("run_id"),
    evalId: integer("eval_id"),
    provider: text("provider").notNull(),
    model: text("model").notNull(),
    trainingTokens: bigint("training_tokens", { mode: "number" }).notNull().default(0),
    inputTokens: bigint("input_tokens", { mode: "number" }).notNull().default(0),
    outputTokens: bigint("output_tokens", { mode: "number" }).notNull().default(0),
    usd: doublePrecision("usd").notNull().default(0),
    wallMs: bigint("wall_ms", { mode: "number" }).notNull().default(0),
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
export const budgetHolds = pgTable(
  "budget_holds",
  {
    id: serial("id").primaryKey(),
    experimentId: integer("experiment_id")
      .notNull()
      .references(() => experiments.id),
    /** The run it reserves for (its training and evals), or null for an eval's own hold. */
    runId: integer("run_id"),
    evalId: integer("eval_id"),
    usd: doublePrecision("usd").notNull(),
    state: text("state").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    releasedAt: timestamp("released_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    index("budget_holds_experiment").on(t.experimentId, t.state),
    index("budget_holds_run").on(t.runId),
    index("budget_holds_eval").on(t.evalId),
  ],
);

export const schedules = pgTable("schedules", {
  id: serial("id").primaryKey(),
  cron: text("cron").notNull(),
  tz: text("tz").notNull(),
  /** What a fire does: `rerun <experiment>`, `reeval <experiment>`, `sweep <experiment> ...`, `digest [...]`. */
  recipe: text("recipe").notNull(),
  state: text("state").notNull(),
  channelId: text("channel_id"),
  createdBy: text("created_by"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  /** The next scheduled fire; a restart that finds it in the past fires once (a missed fire). */
  nextFireAt: timestamp("next_fire_at", { withTimezone: true, mode: "date" }),
  lastFireAt: timestamp("last_fire_at", { withTimezone: true, mode: "date" }),
  lastOutcome: text("last_outcome"),
  /** Consecutive failed fires; the schedule pauses itself at TUNELOOP_SCHEDULE_MAX_FAILURES. */
  failures: integer("failures").notNull().default(0),
});

export const scheduleFires = pgTable(
  "schedule_fires",
  {
    id: serial("id").primaryKey(),
    scheduleId: integer("schedule_id")
      .notNull()
      .references(() => schedules.id),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
    reason: text("reason").notNull(),
    outcome: text("outcome").notNull(),
    message: text("message"),
  },
  (t) => [index("schedule_fires_schedule").on(t.scheduleId)],
);

export const subscriptions = pgTable(
  "subscriptions",
  {
    id: serial("id").primaryKey(),
    channelId: text("channel_id").notNull(),
    /** null: every experiment. */
    experimentId: integer("experiment_id"),
    kinds: jsonb("kinds").$type<string[]>().notNull(),
    createdBy: text("created_by"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [uniqueIndex("subscriptions_channel_experiment").on(t.channelId, t.experimentId)],
);

export const sweeps = pgTable("sweeps", {
  id: serial("id").primaryKey(),
  experimentId: integer("experiment_id")
    .notNull()
    .references(() => experiments.id),
  /** The cells, cheapest first: { dataset, epochs, learningRate, loraRank, estimateUsd, runId, status }. */
  cells: jsonb("cells").notNull(),
  state: text("state").notNull(),
  budgetUsd: doublePrecision("budget_usd"),
  concurrency: integer("concurrency").notNull().default(1),
  channelId: text("channel_id"),
  messageId: text("message_id"),
  createdBy: text("created_by"),
  createdById: text("created_by_id"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  finishedAt: timestamp("finished_at", { withTimezone: true, mode: "date" }),
  summary: jsonb("summary"),
});

/**
 * Training throughput measured here: one row per finished training. Run estimates use the recent rows of the same
 * provider, base model and sequence-length bucket before the default table (src/providers/throughput.json).
 */
export const throughputSamples = pgTable(
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
    tokens: bigint("tokens", { mode: "number" }).notNull(),
    /** Wall time of the training, from its start to the tuned model (queue and loading included). */
    wallMs: bigint("wall_ms", { mode: "number" }).notNull(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [index("throughput_samples_key").on(t.provider, t.baseModel, t.seqBucket, t.at)],
);

/** Processes that run queued runs (a bot's worker): each refreshes its row while it lives and removes it on stop. */
export const workers = pgTable("workers", {
  id: text("id").primaryKey(),
  /** What it is, for people: "the Slack bot", "the console bot". */
  label: text("label").notNull(),
  host: text("host").notNull(),
  pid: integer("pid").notNull(),
  startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }).notNull(),
  seenAt: timestamp("seen_at", { withTimezone: true, mode: "date" }).notNull(),
});

/**
 * Named leases among processes sharing one database (docs/scale.md): the Socket Mode or Discord gateway connection
 * is held by the replica whose lease is current; another takes it over once the lease runs out.
 */
export const leases = pgTable("leases", {
  name: text("name").primaryKey(),
  holder: text("holder").notNull(),
  until: timestamp("until", { withTimezone: true, mode: "date" }).notNull(),
  acquiredAt: timestamp("acquired_at", { withTimezone: true, mode: "date" }).notNull(),
});

/** Custom eval packs (docs/packs.md): each `pack add` of a name adds its next version. */
export const packs = pgTable(
  "packs",
  {
    id: serial("id").primaryKey(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    description: text("description").notNull(),
    probes: jsonb("probes").notNull(),
    sha256: text("sha256").notNull(),
    createdBy: text("created_by"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [uniqueIndex("packs_name_version").on(t.name, t.version)],
);

/** The packs every run of an experiment is also judged on (`experiment new --packs`). */
export const experimentPacks = pgTable("experiment_packs", {
  experimentId: integer("experiment_id")
    .primaryKey()
    .references(() => experiments.id),
  packs: jsonb("packs").$type<string[]>().notNull(),
});

/** New training rows proposed for a failure cluster of a run (`iterate propose`), approved or rejected in the thread. */
export const proposals = pgTable("proposals", {
  id: serial("id").primaryKey(),
  runId: integer("run_id")
    .notNull()
    .references(() => runs.id),
  /** The cluster: key, label, eval rows it holds, rows shown to the teacher. */
  cluster: jsonb("cluster").notNull(),
  rows: jsonb("rows").notNull(),
  teacher: text("teacher"),
  /** proposed | approved | rejected */
  state: text("state").notNull(),
  createdBy: text("created_by"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
  decidedBy: text("decided_by"),
  decidedAt: timestamp("decided_at", { withTimezone: true, mode: "date" }),
  /** The dataset version made on approval, and the hypothesis recorded for it. */
  datasetVersionId: integer("dataset_version_id"),
  hypothesisId: integer("hypothesis_id"),
});

/**
 * Chat requests already taken (src/chat/dedupe.ts): a platform's retried delivery (a Slack event retry, a Discord
 * gateway replay) finds its key here and is dropped, also after a restart and across replicas on one database.
 * Rows older than a day are pruned.
 */
export const chatRequests = pgTable(
  "chat_requests",
  {
    key: text("key").primaryKey(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (t) => [index("chat_requests_at").on(t.at)],
);

/**
 * Commands of buttons too long for the platform's button id (src/chat/buttons.ts): kept under a hash key, so a
 * button still works after a restart and on another replica. One row per distinct command.
 */
export const chatButtons = pgTable("chat_buttons", {
  key: text("key").primaryKey(),
  command: text("command").notNull(),
  at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
});

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => "bytea" });

/**
 * Blobs kept in Postgres itself (TUNELOOP_BLOB_URL=postgres, for small installs: src/scale/pg-blobs.ts): datasets'
 * files by the sha256 of their bytes, each written whole by one INSERT ... ON CONFLICT DO NOTHING and checked against
 * its key when read. Postgres only: on SQLite the blobs are files in the data folder (src/lib/blobs.ts).
 */
export const blobs = pgTable("blobs", {
  sha256: text("sha256").primaryKey(),
  data: bytea("data").notNull(),
  size: bigint("size", { mode: "number" }).notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});
