import { sql } from "drizzle-orm";
import { integer, sqliteTable, text, uniqueIndex, index } from "drizzle-orm/sqlite-core";

export const datasets = sqliteTable("datasets", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
});

export const datasetVersions = sqliteTable(
  "dataset_versions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    datasetId: integer("dataset_id")
      .notNull()
      .references(() => datasets.id),
    version: integer("version").notNull(),
    /** sha256 of the original bytes as uploaded. */
    sha256: text("sha256").notNull(),
    /** sha256 of the normalised rows (JSONL of chat messages / text rows). */
    normSha256: text("norm_sha256").notNull(),
    /** sha256 of the per-row token counts (little-endian uint32). */
    tokensSha256: text("tokens_sha256").notNull(),
    format: text("format").notNull(),
    rows: integer("rows").notNull(),
    bytes: integer("bytes").notNull(),
    filename: text("filename"),
    origin: text("origin", { mode: "json" }).notNull(),
    stats: text("stats", { mode: "json" }).notNull(),
    createdBy: text("created_by"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    uniqueIndex("dataset_versions_dataset_version").on(t.datasetId, t.version),
    index("dataset_versions_sha").on(t.sha256),
  ],
);

export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" })
    .notNull()
    .default(sql`(unixepoch() * 1000)`),
});
