import assert from "node:assert/strict";
import { test } from "node:test";
import { getTableConfig as pgConfig, PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteConfig, SQLiteTable } from "drizzle-orm/sqlite-core";
import * as pg from "../../db/pg/schema.ts";
import * as sqlite from "../../db/schema.ts";

/** The kind of value a column holds, the same word for both dialects' spelling of it. */
function kind(c: { columnType: string; dataType: string }): string {
  const t = c.columnType;
  if (/Timestamp/.test(t) || (t === "SQLiteInteger" && c.dataType === "date") || t === "SQLiteTimestamp") return "time";
  if (/Boolean/.test(t) || c.dataType === "boolean") return "boolean";
  if (/Jsonb|Json/.test(t) || c.dataType === "json") return "json";
  if (/Real|Double/.test(t)) return "real";
  if (/Integer|Serial|BigInt/.test(t)) return "integer";
  if (/Text/.test(t)) return "text";
  return t;
}

type Config = ReturnType<typeof sqliteConfig> | ReturnType<typeof pgConfig>;

/** Everything the two schemas must agree on, as sorted lines. */
function describe(cfg: Config): string[] {
  const out: string[] = [];
  for (const c of cfg.columns) {
    out.push(
      `column ${c.name} ${kind(c)}${c.notNull ? " not null" : ""}${c.primary ? " primary" : ""}${c.isUnique ? " unique" : ""}${c.hasDefault && !c.primary ? " default" : ""}`,
    );
  }
  for (const p of cfg.primaryKeys) out.push(`primary key (${p.columns.map((c) => c.name).join(", ")})`);
  for (const i of cfg.indexes) {
    const cols = i.config.columns.map((c) => ("name" in c ? c.name : "?")).join(", ");
    out.push(`${i.config.unique ? "unique " : ""}index ${i.config.name} (${cols})`);
  }
  for (const f of cfg.foreignKeys) {
    const r = f.reference();
    const target = "foreignTable" in r ? r.foreignTable : undefined;
    const name = target instanceof PgTable ? pgConfig(target).name : sqliteConfig(target as SQLiteTable).name;
    out.push(
      `foreign key (${r.columns.map((c) => c.name).join(", ")}) -> ${name} (${r.foreignColumns.map((c) => c.name).join(", ")})`,
    );
  }
  for (const u of cfg.uniqueConstraints) out.push(`unique (${u.columns.map((c) => c.name).join(", ")})`);
  return out.sort();
}

/**
 * Tables only Postgres has. `blobs`: on Postgres the blobs may live in the database (TUNELOOP_BLOB_URL=postgres, so
 * that every replica reaches them); on SQLite, one machine's data folder holds them as files (src/lib/blobs.ts).
 */
const POSTGRES_ONLY = new Set(["blobs"]);

const tables = <T>(mod: Record<string, unknown>, cls: new (...a: never[]) => T) =>
  Object.values(mod).filter((v): v is T => v instanceof cls);

test("the SQLite and the Postgres schemas have the same tables, columns and constraints", () => {
  const lite = new Map(tables(sqlite, SQLiteTable).map((t) => [sqliteConfig(t).name, describe(sqliteConfig(t))]));
  const post = new Map(
    tables(pg, PgTable)
      .filter((t) => !POSTGRES_ONLY.has(pgConfig(t).name))
      .map((t) => [pgConfig(t).name, describe(pgConfig(t))]),
  );
  assert.ok(lite.size >= 15, `found only ${lite.size} SQLite tables`);
  assert.deepEqual(
    [...post.keys()].sort(),
    [...lite.keys()].sort(),
    "db/pg/schema.ts and db/schema.ts must declare the same tables: add the missing one to the other schema",
  );
  for (const [name, want] of lite) {
    assert.deepEqual(post.get(name), want, `table ${name} differs between db/schema.ts and db/pg/schema.ts`);
  }
});

test("the parity check sees a difference (a column missing from one schema fails it)", () => {
  const runs = describe(sqliteConfig(sqlite.runs));
  const fewer = describe(pgConfig(pg.runs)).filter((l) => !l.startsWith("column job_id "));
  assert.notDeepEqual(fewer, runs);
  assert.ok(
    runs.some((l) => l === "column idempotency_key text not null unique"),
    runs.join("\n"),
  );
  assert.ok(runs.some((l) => l.startsWith("foreign key (experiment_id) -> experiments (id)")));
});
