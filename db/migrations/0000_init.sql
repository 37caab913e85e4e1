CREATE TABLE `dataset_versions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`dataset_id` integer NOT NULL,
	`version` integer NOT NULL,
	`sha256` text NOT NULL,
	`norm_sha256` text NOT NULL,
	`tokens_sha256` text NOT NULL,
	`format` text NOT NULL,
	`rows` integer NOT NULL,
	`bytes` integer NOT NULL,
	`filename` text,
	`origin` text NOT NULL,
	`stats` text NOT NULL,
	`created_by` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`dataset_id`) REFERENCES `datasets`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dataset_versions_dataset_version` ON `dataset_versions` (`dataset_id`,`version`);--> statement-breakpoint
CREATE INDEX `dataset_versions_sha` ON `dataset_versions` (`sha256`);--> statement-breakpoint
CREATE TABLE `datasets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `datasets_name_unique` ON `datasets` (`name`);--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
