/**
 * Copies an SQLite install's database into an empty Postgres one (`tuneloop db copy --from sqlite:<file>`): every
 * table both schemas declare, in declaration order (parents before children), in one transaction, ids kept, and
 * each id sequence moved past the copied ids. Nothing is written unless everything is.
 */
import { getTableConfig as pgConfig, PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as liteConfig, SQLiteTable } from "drizzle-orm/sqlite-core";
import { sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import * as lite from "../schema.ts";
import type { PgDb } from "./client.ts";
import * as pgs from "./schema.ts";

/** Process state, not data: not copied. */
const SKIP = new Set(["workers", "leases", "chat_requests"]);

export interface CopyReport {
  tables: Array<{ table: string; rows: number }>;
}

export class CopyRefused extends Error {}

/** Tables ordered so that each comes after the tables its foreign keys point at (a module's exports are sorted). */
function parentsFirst(tables: SQLiteTable[]): SQLiteTable[] {
  const byName = new Map(tables.map((t) => [liteConfig(t).name, t]));
  const out: SQLiteTable[] = [];
  const seen = new Set<string>();
  const visit = (t: SQLiteTable) => {
    const cfg = liteConfig(t);
    if (seen.has(cfg.name)) return;
    seen.add(cfg.name);
    for (const fk of cfg.foreignKeys) {
      const parent = liteConfig(fk.reference().foreignTable as SQLiteTable).name;
      const p = byName.get(parent);
      if (p && parent !== cfg.name) visit(p);
    }
    out.push(t);
  };
  for (const t of tables) visit(t);
  return out;
}

export async function copySqliteToPg(
  from: Db,
  to: PgDb,
  progress: (table: string, rows: number) => void = () => {},
): Promise<CopyReport> {
  const pgTables = new Map(
    (Object.values(pgs) as unknown[])
      .filter((t): t is PgTable => t instanceof PgTable)
      .map((t) => [pgConfig(t).name, t]),
  );
  const plan = parentsFirst(
    (Object.values(lite) as unknown[]).filter((t): t is SQLiteTable => t instanceof SQLiteTable),
  )
    .map((t) => ({ name: liteConfig(t).name, lite: t, pg: pgTables.get(liteConfig(t).name) }))
    .filter((x) => !SKIP.has(x.name));
  const missing = plan.filter((x) => !x.pg).map((x) => x.name);
  if (missing.length) throw new CopyRefused(`the Postgres schema has no table ${missing.join(", ")}: update tuneloop`);

  // An install is moved once, into an empty database: refuse to mix two installs' ids.
  for (const x of plan) {
    const r = await to.execute(sql.raw(`SELECT EXISTS (SELECT 1 FROM "${x.name}") AS some`));
    if ((r.rows[0] as { some: boolean }).some)
      throw new CopyRefused(
        `the Postgres database already has rows in ${x.name}: copy into an empty database (create a new one, point TUNELOOP_DATABASE_URL at it, and run the copy again)`,
      );
  }

  const report: CopyReport = { tables: [] };
  await to.transaction(async (tx) => {
    for (const x of plan) {
      const rows = from.select().from(x.lite).all() as Record<string, unknown>[];
      const cols = Math.max(1, pgConfig(x.pg!).columns.length);
      const per = Math.max(1, Math.floor(60_000 / cols));
      for (let i = 0; i < rows.length; i += per) await tx.insert(x.pg!).values(rows.slice(i, i + per) as never);
      const idCol = pgConfig(x.pg!).columns.find((c) => c.name === "id" && c.columnType === "PgSerial");
      if (idCol)
        await tx.execute(
          sql.raw(
            `SELECT setval(pg_get_serial_sequence('"${x.name}"', 'id'), COALESCE((SELECT MAX(id) FROM "${x.name}"), 1), (SELECT MAX(id) FROM "${x.name}") IS NOT NULL)`,
          ),
        );
      report.tables.push({ table: x.name, rows: rows.length });
      progress(x.name, rows.length);
    }
  });
  return report;
}

/** Row counts of each copied table in both databases (the copy's check). */
export async function countBoth(
  from: Db,
  to: PgDb,
): Promise<Array<{ table: string; sqlite: number; postgres: number }>> {
  const out = [];
  for (const t of (Object.values(lite) as unknown[]).filter((t): t is SQLiteTable => t instanceof SQLiteTable)) {
    const name = liteConfig(t).name;
    if (SKIP.has(name)) continue;
    const a = (from.$client.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).get() as { n: number }).n;
    const b = Number(((await to.execute(sql.raw(`SELECT COUNT(*) AS n FROM "${name}"`))).rows[0] as { n: string }).n);
    out.push({ table: name, sqlite: a, postgres: b });
  }
  return out;
}
