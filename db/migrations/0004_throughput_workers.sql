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
