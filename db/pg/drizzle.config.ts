import { defineConfig } from "drizzle-kit";

/** The Postgres schema's migrations (db/pg/migrations), beside SQLite's (db/drizzle.config.ts). */
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/pg/schema.ts",
  out: "./db/pg/migrations",
});
