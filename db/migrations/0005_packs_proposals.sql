CREATE TABLE `experiment_packs` (
	`experiment_id` integer PRIMARY KEY NOT NULL,
	`packs` text NOT NULL,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `packs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`description` text NOT NULL,
	`probes` text NOT NULL,
	`sha256` text NOT NULL,
	`created_by` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `packs_name_version` ON `packs` (`name`,`version`);--> statement-breakpoint
CREATE TABLE `proposals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` integer NOT NULL,
	`cluster` text NOT NULL,
	`rows` text NOT NULL,
	`teacher` text,
	`state` text NOT NULL,
	`created_by` text,
	`created_at` integer NOT NULL,
	`decided_by` text,
	`decided_at` integer,
	`dataset_version_id` integer,
	`hypothesis_id` integer,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
