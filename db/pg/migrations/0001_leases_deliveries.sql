CREATE TABLE "delivery_claims" (
	"key" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "leases" (
	"name" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"until" timestamp with time zone NOT NULL,
	"acquired_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "delivery_claims_at" ON "delivery_claims" USING btree ("at");