CREATE TABLE `budget_holds` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`experiment_id` integer NOT NULL,
	`run_id` integer,
	`eval_id` integer,
	`usd` real NOT NULL,
	`state` text NOT NULL,
	`created_at` integer NOT NULL,
	`released_at` integer,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `budget_holds_experiment` ON `budget_holds` (`experiment_id`,`state`);--> statement-breakpoint
CREATE INDEX `budget_holds_run` ON `budget_holds` (`run_id`);--> statement-breakpoint
CREATE INDEX `budget_holds_eval` ON `budget_holds` (`eval_id`);--> statement-breakpoint
CREATE TABLE `throughput_samples` (
	`run_id` integer PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`base_model` text NOT NULL,
	`seq_bucket` integer NOT NULL,
	`rows` integer NOT NULL,
	`tokens` integer NOT NULL,
	`wall_ms` integer NOT NULL,
	`at` integer NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `throughput_samples_key` ON `throughput_samples` (`provider`,`base_model`,`seq_bucket`,`at`);--> statement-breakpoint
CREATE TABLE `workers` (
	`id` text PRIMARY KEY NOT NULL,
	`label` text NOT NULL,
	`host` text NOT NULL,
	`pid` integer NOT NULL,
	`started_at` integer NOT NULL,
	`seen_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `evals` ADD `max_tokens` integer;--> statement-breakpoint
ALTER TABLE `evals` ADD `lease_owner` text;--> statement-breakpoint
ALTER TABLE `evals` ADD `lease_until` integer;--> statement-breakpoint
ALTER TABLE `evals` ADD `resumed_from` integer;--> statement-breakpoint
CREATE INDEX `evals_model` ON `evals` (`model`,`dataset_version_id`);--> statement-breakpoint
ALTER TABLE `runs` ADD `valid_version_id` integer REFERENCES dataset_versions(id);--> statement-breakpoint
CREATE INDEX `ledger_eval` ON `ledger` (`eval_id`);