CREATE TABLE "budget_holds" (
	"id" serial PRIMARY KEY NOT NULL,
	"experiment_id" integer NOT NULL,
	"run_id" integer,
	"eval_id" integer,
	"usd" double precision NOT NULL,
	"state" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"released_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "dataset_versions" (
	"id" serial PRIMARY KEY NOT NULL,
	"dataset_id" integer NOT NULL,
	"version" integer NOT NULL,
	"sha256" text NOT NULL,
	"norm_sha256" text NOT NULL,
	"tokens_sha256" text NOT NULL,
	"format" text NOT NULL,
	"rows" integer NOT NULL,
	"bytes" bigint NOT NULL,
	"filename" text,
	"origin" jsonb NOT NULL,
	"stats" jsonb NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "datasets" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "datasets_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "eval_rows" (
	"eval_id" integer NOT NULL,
	"row_index" integer NOT NULL,
	"line" integer NOT NULL,
	"output" text NOT NULL,
	"expected" text NOT NULL,
	"score" double precision NOT NULL,
	"pass" boolean NOT NULL,
	"detail" text,
	"latency_ms" double precision NOT NULL,
	"input_tokens" bigint NOT NULL,
	"output_tokens" bigint NOT NULL,
	"cluster" text,
	CONSTRAINT "eval_rows_eval_id_row_index_pk" PRIMARY KEY("eval_id","row_index")
);
--> statement-breakpoint
CREATE TABLE "evals" (
	"id" serial PRIMARY KEY NOT NULL,
	"experiment_id" integer,
	"run_id" integer,
	"model" text NOT NULL,
	"role" text NOT NULL,
	"dataset_version_id" integer NOT NULL,
	"metric" text NOT NULL,
	"state" text NOT NULL,
	"error" text,
	"n" integer DEFAULT 0 NOT NULL,
	"mean" double precision,
	"ci_low" double precision,
	"ci_high" double precision,
	"summary" jsonb,
	"created_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"max_tokens" integer,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"resumed_from" integer
);
--> statement-breakpoint
CREATE TABLE "experiments" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"eval_version_id" integer NOT NULL,
	"eval_sha256" text NOT NULL,
	"metric" text NOT NULL,
	"baselines" jsonb NOT NULL,
	"budget_usd" double precision,
	"alpha" double precision DEFAULT 0.05 NOT NULL,
	"channel_id" text,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "experiments_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "hypotheses" (
	"id" serial PRIMARY KEY NOT NULL,
	"experiment_id" integer NOT NULL,
	"text" text NOT NULL,
	"metric" text NOT NULL,
	"expect_pts" double precision NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL,
	"run_id" integer,
	"verdict" jsonb,
	"decided_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "ledger" (
	"id" serial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"estimated" boolean DEFAULT false NOT NULL,
	"experiment_id" integer,
	"run_id" integer,
	"eval_id" integer,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"training_tokens" bigint DEFAULT 0 NOT NULL,
	"input_tokens" bigint DEFAULT 0 NOT NULL,
	"output_tokens" bigint DEFAULT 0 NOT NULL,
	"usd" double precision DEFAULT 0 NOT NULL,
	"wall_ms" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "meta" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "run_events" (
	"id" serial PRIMARY KEY NOT NULL,
	"run_id" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"type" text NOT NULL,
	"data" jsonb
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" serial PRIMARY KEY NOT NULL,
	"idempotency_key" text NOT NULL,
	"experiment_id" integer NOT NULL,
	"dataset_version_id" integer NOT NULL,
	"valid_version_id" integer,
	"provider" text NOT NULL,
	"base_model" text NOT NULL,
	"tuned_model" text,
	"hyper" jsonb NOT NULL,
	"state" text NOT NULL,
	"state_reason" text,
	"job_id" text,
	"estimate" jsonb,
	"progress" jsonb,
	"result" jsonb,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"cancel_requested_at" timestamp with time zone,
	"channel_id" text,
	"message_id" text,
	"created_by" text,
	"created_by_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "runs_idempotency_key_unique" UNIQUE("idempotency_key")
);
--> statement-breakpoint
CREATE TABLE "schedule_fires" (
	"id" serial PRIMARY KEY NOT NULL,
	"schedule_id" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"reason" text NOT NULL,
	"outcome" text NOT NULL,
	"message" text
);
--> statement-breakpoint
CREATE TABLE "schedules" (
	"id" serial PRIMARY KEY NOT NULL,
	"cron" text NOT NULL,
	"tz" text NOT NULL,
	"recipe" text NOT NULL,
	"state" text NOT NULL,
	"channel_id" text,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL,
	"next_fire_at" timestamp with time zone,
	"last_fire_at" timestamp with time zone,
	"last_outcome" text,
	"failures" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" serial PRIMARY KEY NOT NULL,
	"channel_id" text NOT NULL,
	"experiment_id" integer,
	"kinds" jsonb NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sweeps" (
	"id" serial PRIMARY KEY NOT NULL,
	"experiment_id" integer NOT NULL,
	"cells" jsonb NOT NULL,
	"state" text NOT NULL,
	"budget_usd" double precision,
	"concurrency" integer DEFAULT 1 NOT NULL,
	"channel_id" text,
	"message_id" text,
	"created_by" text,
	"created_by_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone,
	"summary" jsonb
);
--> statement-breakpoint
CREATE TABLE "throughput_samples" (
	"run_id" integer PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"base_model" text NOT NULL,
	"seq_bucket" integer NOT NULL,
	"rows" integer NOT NULL,
	"tokens" bigint NOT NULL,
	"wall_ms" bigint NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"label" text NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"seen_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "budget_holds" ADD CONSTRAINT "budget_holds_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "public"."experiments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dataset_versions" ADD CONSTRAINT "dataset_versions_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "eval_rows" ADD CONSTRAINT "eval_rows_eval_id_evals_id_fk" FOREIGN KEY ("eval_id") REFERENCES "public"."evals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evals" ADD CONSTRAINT "evals_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "public"."experiments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evals" ADD CONSTRAINT "evals_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evals" ADD CONSTRAINT "evals_dataset_version_id_dataset_versions_id_fk" FOREIGN KEY ("dataset_version_id") REFERENCES "public"."dataset_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "experiments" ADD CONSTRAINT "experiments_eval_version_id_dataset_versions_id_fk" FOREIGN KEY ("eval_version_id") REFERENCES "public"."dataset_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "hypotheses" ADD CONSTRAINT "hypotheses_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "public"."experiments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_events" ADD CONSTRAINT "run_events_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "public"."experiments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_dataset_version_id_dataset_versions_id_fk" FOREIGN KEY ("dataset_version_id") REFERENCES "public"."dataset_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "runs" ADD CONSTRAINT "runs_valid_version_id_dataset_versions_id_fk" FOREIGN KEY ("valid_version_id") REFERENCES "public"."dataset_versions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "schedule_fires" ADD CONSTRAINT "schedule_fires_schedule_id_schedules_id_fk" FOREIGN KEY ("schedule_id") REFERENCES "public"."schedules"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sweeps" ADD CONSTRAINT "sweeps_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "public"."experiments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "throughput_samples" ADD CONSTRAINT "throughput_samples_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "budget_holds_experiment" ON "budget_holds" USING btree ("experiment_id","state");--> statement-breakpoint
CREATE INDEX "budget_holds_run" ON "budget_holds" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "budget_holds_eval" ON "budget_holds" USING btree ("eval_id");--> statement-breakpoint
CREATE UNIQUE INDEX "dataset_versions_dataset_version" ON "dataset_versions" USING btree ("dataset_id","version");--> statement-breakpoint
CREATE INDEX "dataset_versions_sha" ON "dataset_versions" USING btree ("sha256");--> statement-breakpoint
CREATE INDEX "evals_experiment" ON "evals" USING btree ("experiment_id");--> statement-breakpoint
CREATE INDEX "evals_run" ON "evals" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "evals_model" ON "evals" USING btree ("model","dataset_version_id");--> statement-breakpoint
CREATE INDEX "ledger_experiment" ON "ledger" USING btree ("experiment_id");--> statement-breakpoint
CREATE INDEX "ledger_run" ON "ledger" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "ledger_eval" ON "ledger" USING btree ("eval_id");--> statement-breakpoint
CREATE INDEX "run_events_run" ON "run_events" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "runs_state" ON "runs" USING btree ("state");--> statement-breakpoint
CREATE INDEX "runs_experiment" ON "runs" USING btree ("experiment_id");--> statement-breakpoint
CREATE INDEX "schedule_fires_schedule" ON "schedule_fires" USING btree ("schedule_id");--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_channel_experiment" ON "subscriptions" USING btree ("channel_id","experiment_id");--> statement-breakpoint
CREATE INDEX "throughput_samples_key" ON "throughput_samples" USING btree ("provider","base_model","seq_bucket","at");