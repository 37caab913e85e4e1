CREATE TABLE "chat_requests" (
	"key" text PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "experiment_packs" (
	"experiment_id" integer PRIMARY KEY NOT NULL,
	"packs" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "packs" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"description" text NOT NULL,
	"probes" jsonb NOT NULL,
	"sha256" text NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "proposals" (
	"id" serial PRIMARY KEY NOT NULL,
	"run_id" integer NOT NULL,
	"cluster" jsonb NOT NULL,
	"rows" jsonb NOT NULL,
	"teacher" text,
	"state" text NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone NOT NULL,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"dataset_version_id" integer,
	"hypothesis_id" integer
);
--> statement-breakpoint
DROP TABLE "delivery_claims" CASCADE;--> statement-breakpoint
ALTER TABLE "experiment_packs" ADD CONSTRAINT "experiment_packs_experiment_id_experiments_id_fk" FOREIGN KEY ("experiment_id") REFERENCES "public"."experiments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "proposals" ADD CONSTRAINT "proposals_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chat_requests_at" ON "chat_requests" USING btree ("at");--> statement-breakpoint
CREATE UNIQUE INDEX "packs_name_version" ON "packs" USING btree ("name","version");