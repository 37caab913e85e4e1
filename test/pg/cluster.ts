/**
 * Postgres for the tests. `.ci/run` (and `npm run test:pg`) start one throwaway cluster (.ci/pg) and hand its URL
 * in TUNELOOP_TEST_DATABASE_URL; a Postgres test run on its own starts a cluster itself. Each app or test gets a
 * database of its own in that cluster. Where no Postgres can start, the Postgres tests skip and say why.
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import pg from "pg";
import { repoRoot, tmpDir } from "../helpers.ts";

let started: { url: string | null; why: string } | null = null;

/** The cluster's admin URL, starting a throwaway cluster if none was handed in; null (and why) when none can run. */
export function pgCluster(): { url: string | null; why: string } {
  if (process.env.TUNELOOP_TEST_DATABASE_URL) return { url: process.env.TUNELOOP_TEST_DATABASE_URL, why: "" };
  if (started) return started;
  const dir = path.join(tmpDir("pg"), "cluster");
  const r = spawnSync(path.join(repoRoot, ".ci", "pg"), ["start", dir], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) {
    started = {
      url: null,
      why: `no Postgres for this test (.ci/pg start failed: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-2).join(" ")})`,
    };
    return started;
  }
  started = { url: r.stdout.trim(), why: "" };
  process.on("exit", () => spawnSync(path.join(repoRoot, ".ci", "pg"), ["stop", dir], { timeout: 60_000 }));
  return started;
}

/** A database of its own for `key` (created on first use; the same key gives the same database). */
export async function pgDatabase(adminUrl: string, key: string): Promise<string> {
  const name = dbName(key);
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const has = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!has.rowCount) await c.query(`CREATE DATABASE ${name}`);
  } catch (err) {
    if ((err as { code?: string }).code !== "42P04") throw err; // created at the same instant by another test
  } finally {
    await c.end();
  }
  return urlOf(adminUrl, name);
}

const dbName = (key: string) => `t_${crypto.createHash("sha256").update(key).digest("hex").slice(0, 20)}`;

function urlOf(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * The settings that put a child process (the CLI) on the same database as the test app of `dataDir` (created by
 * engineApp first): TUNELOOP_DATABASE_URL on the Postgres pass, nothing on SQLite.
 */
export function engineDatabaseEnv(dataDir: string): Record<string, string> {
  const admin = process.env.TUNELOOP_TEST_DATABASE_URL;
  return admin ? { TUNELOOP_DATABASE_URL: urlOf(admin, dbName(dataDir)) } : {};
}

/**
 * The database an engine test app uses: a fresh Postgres database per data folder when the engine tests run on
 * Postgres (TUNELOOP_TEST_DATABASE_URL is set), else undefined (SQLite in the data folder).
 */
export async function engineDatabaseUrl(dataDir: string): Promise<string | undefined> {
  const admin = process.env.TUNELOOP_TEST_DATABASE_URL;
  return admin ? pgDatabase(admin, dataDir) : undefined;
}
