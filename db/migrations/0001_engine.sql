CREATE TABLE `eval_rows` (
	`eval_id` integer NOT NULL,
	`row_index` integer NOT NULL,
	`line` integer NOT NULL,
	`output` text NOT NULL,
	`expected` text NOT NULL,
	`score` real NOT NULL,
	`pass` integer NOT NULL,
	`detail` text,
	`latency_ms` real NOT NULL,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`cluster` text,
	PRIMARY KEY(`eval_id`, `row_index`),
	FOREIGN KEY (`eval_id`) REFERENCES `evals`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `evals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`experiment_id` integer,
	`run_id` integer,
	`model` text NOT NULL,
	`role` text NOT NULL,
	`dataset_version_id` integer NOT NULL,
	`metric` text NOT NULL,
	`state` text NOT NULL,
	`error` text,
	`n` integer DEFAULT 0 NOT NULL,
	`mean` real,
	`ci_low` real,
	`ci_high` real,
	`summary` text,
	`created_at` integer NOT NULL,
	`finished_at` integer,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`dataset_version_id`) REFERENCES `dataset_versions`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `evals_experiment` ON `evals` (`experiment_id`);--> statement-breakpoint
CREATE INDEX `evals_run` ON `evals` (`run_id`);--> statement-breakpoint
CREATE TABLE `experiments` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`eval_version_id` integer NOT NULL,
	`eval_sha256` text NOT NULL,
	`metric` text NOT NULL,
	`baselines` text NOT NULL,
	`budget_usd` real,
	`alpha` real DEFAULT 0.05 NOT NULL,
	`channel_id` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`eval_version_id`) REFERENCES `dataset_versions`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `experiments_name_unique` ON `experiments` (`name`);--> statement-breakpoint
CREATE TABLE `hypotheses` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`experiment_id` integer NOT NULL,
	`text` text NOT NULL,
	`metric` text NOT NULL,
	`expect_pts` real NOT NULL,
	`created_by` text,
	`created_at` integer NOT NULL,
	`run_id` integer,
	`verdict` text,
	`decided_at` integer,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `ledger` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`kind` text NOT NULL,
	`estimated` integer DEFAULT false NOT NULL,
	`experiment_id` integer,
	`run_id` integer,
	`eval_id` integer,
	`provider` text NOT NULL,
	`model` text NOT NULL,
	`training_tokens` integer DEFAULT 0 NOT NULL,
	`input_tokens` integer DEFAULT 0 NOT NULL,
	`output_tokens` integer DEFAULT 0 NOT NULL,
	`usd` real DEFAULT 0 NOT NULL,
	`wall_ms` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ledger_experiment` ON `ledger` (`experiment_id`);--> statement-breakpoint
CREATE INDEX `ledger_run` ON `ledger` (`run_id`);--> statement-breakpoint
CREATE TABLE `run_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` integer NOT NULL,
	`at` integer NOT NULL,
	`type` text NOT NULL,
	`data` text,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `run_events_run` ON `run_events` (`run_id`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`idempotency_key` text NOT NULL,
	`experiment_id` integer NOT NULL,
	`dataset_version_id` integer NOT NULL,
	`provider` text NOT NULL,
	`base_model` text NOT NULL,
	`tuned_model` text,
	`hyper` text NOT NULL,
	`state` text NOT NULL,
	`state_reason` text,
	`job_id` text,
	`estimate` text,
	`progress` text,
	`result` text,
	`lease_owner` text,
	`lease_until` integer,
	`attempts` integer DEFAULT 0 NOT NULL,
	`cancel_requested_at` integer,
	`channel_id` text,
	`message_id` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`dataset_version_id`) REFERENCES `dataset_versions`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `runs_idempotency_key_unique` ON `runs` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `runs_state` ON `runs` (`state`);--> statement-breakpoint
CREATE INDEX `runs_experiment` ON `runs` (`experiment_id`);