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
ALTER TABLE `evals` ADD `max_tokens` integer;--> statement-breakpoint
ALTER TABLE `evals` ADD `lease_owner` text;--> statement-breakpoint
ALTER TABLE `evals` ADD `lease_until` integer;--> statement-breakpoint
ALTER TABLE `evals` ADD `resumed_from` integer;--> statement-breakpoint
CREATE INDEX `evals_model` ON `evals` (`model`,`dataset_version_id`);--> statement-breakpoint
CREATE INDEX `ledger_eval` ON `ledger` (`eval_id`);