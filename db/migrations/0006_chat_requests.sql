CREATE TABLE `chat_requests` (
	`key` text PRIMARY KEY NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `chat_requests_at` ON `chat_requests` (`at`);