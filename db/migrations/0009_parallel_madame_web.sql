ALTER TABLE `evals` ADD `queued_at` integer;--> statement-breakpoint
ALTER TABLE `evals` ADD `reply_channel_id` text;--> statement-breakpoint
ALTER TABLE `evals` ADD `reply_until` integer;--> statement-breakpoint
ALTER TABLE `evals` ADD `replied_at` integer;