CREATE TABLE `delivery_claims` (
	`key` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `delivery_claims_at` ON `delivery_claims` (`at`);--> statement-breakpoint
CREATE TABLE `leases` (
	`name` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`until` integer NOT NULL,
	`acquired_at` integer NOT NULL
);
