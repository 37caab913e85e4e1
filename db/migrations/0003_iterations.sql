CREATE TABLE `schedule_fires` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`schedule_id` integer NOT NULL,
	`at` integer NOT NULL,
	`reason` text NOT NULL,
	`outcome` text NOT NULL,
	`message` text,
	FOREIGN KEY (`schedule_id`) REFERENCES `schedules`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `schedule_fires_schedule` ON `schedule_fires` (`schedule_id`);--> statement-breakpoint
CREATE TABLE `schedules` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`cron` text NOT NULL,
	`tz` text NOT NULL,
	`recipe` text NOT NULL,
	`state` text NOT NULL,
	`channel_id` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	`next_fire_at` integer,
	`last_fire_at` integer,
	`last_outcome` text,
	`failures` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`channel_id` text NOT NULL,
	`experiment_id` integer,
	`kinds` text NOT NULL,
	`created_by` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subscriptions_channel_experiment` ON `subscriptions` (`channel_id`,`experiment_id`);--> statement-breakpoint
CREATE TABLE `sweeps` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`experiment_id` integer NOT NULL,
	`cells` text NOT NULL,
	`state` text NOT NULL,
	`budget_usd` real,
	`concurrency` integer DEFAULT 1 NOT NULL,
	`channel_id` text,
	`message_id` text,
	`created_by` text,
	`created_by_id` text,
	`created_at` integer NOT NULL,
	`finished_at` integer,
	`summary` text,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action
);
