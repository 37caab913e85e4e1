ALTER TABLE "evals" ADD COLUMN "queued_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "evals" ADD COLUMN "reply_channel_id" text;--> statement-breakpoint
ALTER TABLE "evals" ADD COLUMN "reply_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "evals" ADD COLUMN "replied_at" timestamp with time zone;