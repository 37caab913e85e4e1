/**
 * Blobs in Postgres itself (TUNELOOP_BLOB_URL=postgres): two "machines" (two data folders) on one database. A dataset
 * uploaded on one is trained on the other, which never saw it; a row whose bytes do not match its sha256 is refused
 * on read; writes of the same blob at the same instant store one row; a blob over the limit is refused, naming it;
 * `db copy` moves a data folder's blobs into the table. Needs Postgres: the Postgres pass hands one in; alone, a
 * throwaway cluster is started (or the tests skip, saying why).
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import pg from "pg";
import { runCommand } from "../../commands/dispatch.ts";
import { migratePg, openPg } from "../../db/pg/client.ts";
import { loadConfig } from "../../src/config.ts";
import { TuneError } from "../../src/errors.ts";
import { startScale } from "../../src/scale/index.ts";
import { pgBlobStore } from "../../src/scale/pg-blobs.ts";
import { ctxFor, engineApp, seedExperiment, writeTask } from "../engine/engine-helpers.ts";
import { runCli, testEnv, tmpDir } from "../helpers.ts";
import { pgCluster, pgDatabase } from "./cluster.ts";

const cluster = pgCluster();
const skip = cluster.url ? false : cluster.why;
const MB = 1024 * 1024;

const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

const until = async (what: string, ok: () => boolean, ms = 120_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** A fresh database, and a plain client on it to look at the blobs table as an operator would. */
async function database(label: string) {
  const url = await pgDatabase(cluster.url!, `${label}-${process.pid}-${Date.now()}`);
  const db = openPg(url);
  await migratePg(db); // what every app does at start
  await db.$client.end();
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  return { url, sql };
}

/** Files of a data folder's blob cache (no temporary or partial files). */
const cached = (dataDir: string) =>
  fs.existsSync(path.join(dataDir, "blobs"))
    ? fs.readdirSync(path.join(dataDir, "blobs"), { recursive: true, encoding: "utf8" }).filter((f) => f.length > 3)
    : [];

test("a dataset uploaded on one machine is trained on another through Postgres's blobs table", {
  skip,
}, async () => {
  const { url, sql } = await database("blobs-two");
  const env = { TUNELOOP_DATABASE_URL: url, TUNELOOP_BLOB_URL: "postgres" };
  const { app: a } = await engineApp({ dataDir: tmpDir("machine-a"), env });
  const bDir = tmpDir("machine-b");
  const { app: b } = await engineApp({ dataDir: bDir, env });
  const front = await startScale(a, { role: "chat", providers: [] });
  const worker = await startScale(b, { role: "worker" });
  try {
    const { train } = await seedExperiment(a, { rows: 40 });
    const v = a.datasets.get(train);
    const rows = (await sql.query("SELECT sha256, size, data FROM blobs ORDER BY created_at")).rows as Array<{
      sha256: string;
      size: string;
      data: Buffer;
    }>;
    assert.ok(rows.length >= 3, `the upload as sent, its rows and token counts: ${rows.length} rows`);
    for (const r of rows) {
      assert.equal(sha(r.data), r.sha256, "each row's bytes are the blob its key says");
      assert.equal(Number(r.size), r.data.length);
    }
    assert.ok(rows.some((r) => r.sha256 === v.normSha256));
    assert.deepEqual(cached(bDir), [], "machine B has never seen the dataset");

    const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes"], {
      ...ctxFor(a, "console"),
      requestId: "blobs-two-1",
    });
    assert.equal(out.exitCode, 0, out.error?.message);
    const runs = () => a.engine.listRuns({ experimentId: a.experiments.get("exp").id });
    await until("the run to end on machine B", () => runs().every((r) => ["succeeded", "failed"].includes(r.state)));
    const [run] = runs();
    assert.equal(run.state, "succeeded", run.stateReason ?? "");
    const bHas = cached(bDir).map((f) => f.replace(path.sep, ""));
    assert.ok(bHas.includes(v.normSha256), `machine B fetched the training rows: ${bHas.join(", ")}`);
    const copy = fs.readFileSync(path.join(bDir, "blobs", v.normSha256.slice(0, 2), v.normSha256.slice(2)));
    assert.equal(sha(copy), v.normSha256);
  } finally {
    await worker.stop();
    await front.stop();
    await b.close();
    await a.close();
    await sql.end();
  }
});

test("a blob row whose bytes do not match its sha256 is refused on read, and nothing is cached", {
  skip,
}, async () => {
  const { url, sql } = await database("blobs-corrupt");
  const writer = pgBlobStore(tmpDir("writer"), url, { maxBytes: MB });
  const readerDir = tmpDir("reader");
  const reader = pgBlobStore(readerDir, url, { maxBytes: MB });
  try {
    const bytes = Buffer.from('{"messages":[]}\n'.repeat(100));
    const key = sha(bytes);
    const tmp = writer.tmpPath("rows");
    fs.writeFileSync(tmp, bytes);
    await writer.adopt(tmp, key);
    // A disk fault, or someone editing the table: the row now holds other bytes.
    await sql.query("UPDATE blobs SET data = $2 WHERE sha256 = $1", [key, Buffer.from("tampered\n")]);
    assert.throws(
      () => reader.path(key),
      new RegExp(
        `could not fetch blob ${key} from the Postgres database: blob ${key} from the Postgres database has sha256 ${sha(Buffer.from("tampered\n"))}: refused`,
      ),
    );
    assert.deepEqual(cached(readerDir), [], "no blob and no partial file left in the cache");
    assert.throws(
      () => reader.path("0".repeat(64)),
      /could not fetch blob 0{64} from the Postgres database: the database has no such blob/,
    );
  } finally {
    await reader.close();
    await writer.close();
    await sql.end();
  }
});

test("eight machines storing the same blob at the same instant leave one whole row; over-size and mislabelled files are refused", {
  skip,
}, async () => {
  const { url, sql } = await database("blobs-race");
  const stores = Array.from({ length: 8 }, () => pgBlobStore(tmpDir("racer"), url, { maxBytes: MB }));
  try {
    const bytes = crypto.randomBytes(512 * 1024);
    const key = sha(bytes);
    const files = stores.map((s) => {
      const f = s.tmpPath("same");
      fs.writeFileSync(f, bytes);
      return f;
    });
    await Promise.all(stores.map((s, i) => s.adopt(files[i], key)));
    const r = await sql.query("SELECT data, size FROM blobs WHERE sha256 = $1", [key]);
    assert.equal(r.rowCount, 1);
    assert.ok(Buffer.compare(r.rows[0].data, bytes) === 0, "the row holds the blob whole");
    for (const s of stores) assert.equal(s.has(key), true, "each machine keeps its copy");

    // Over the limit: refused with a coded error that says what to do; nothing stored.
    const big = Buffer.alloc(MB + 1, 7);
    const bigFile = stores[0].tmpPath("big");
    fs.writeFileSync(bigFile, big);
    await assert.rejects(stores[0].adopt(bigFile, sha(big)), (err: unknown) => {
      assert.ok(err instanceof TuneError);
      assert.equal(err.code, "blob_too_large");
      assert.match(
        err.message,
        /This file is 1\.0 MB; blobs kept in Postgres \(TUNELOOP_BLOB_URL=postgres\) are limited to 1\.0 MB \(TUNELOOP_PG_BLOB_MAX_MB\)/,
      );
      assert.match(err.message, /TUNELOOP_BLOB_URL=s3:\/\/bucket\/prefix/);
      return true;
    });
    // Bytes that are not the blob they claim to be.
    const liar = stores[1].tmpPath("liar");
    fs.writeFileSync(liar, "not those rows\n");
    const claimed = sha(Buffer.from("something else"));
    await assert.rejects(stores[1].adopt(liar, claimed), /has sha256 [0-9a-f]{64}: not stored/);
    const keys = (await sql.query("SELECT sha256 FROM blobs")).rows.map((x) => x.sha256);
    assert.deepEqual(keys, [key]);
    assert.equal(stores[1].has(claimed), false);
  } finally {
    for (const s of stores) await s.close();
    await sql.end();
  }
});

test("db copy moves the data folder's blobs into the table when it is the blob store; a dataset reads back on a new machine", {
  skip,
}, async () => {
  const data = tmpDir("copy-blobs");
  const file = writeTask(tmpDir("rows"), 30);
  assert.equal((await runCli(["dataset", "upload", file, "--name", "task"], testEnv(data))).code, 0);
  const { url, sql } = await database("blobs-copy");
  try {
    const from = `sqlite:${path.join(data, "tuneloop.db")}`;
    // Blobs in the data folder: the copy says what to do with them.
    const fsEnv = testEnv(tmpDir("elsewhere"), { TUNELOOP_DATABASE_URL: url });
    const rowsOnly = await runCli(["db", "copy", "--from", from], fsEnv);
    assert.equal(rowsOnly.code, 0, rowsOnly.stderr);
    assert.match(rowsOnly.stdout, /Blobs stay in .*blobs: every machine needs them/);
    assert.match(
      rowsOnly.stdout,
      /set TUNELOOP_BLOB_URL=postgres and run `tuneloop db copy --from sqlite:.* --blobs-only`/,
    );
    assert.equal((await sql.query("SELECT count(*)::int AS n FROM blobs")).rows[0].n, 0);

    // As it says: the blobs only, into the table.
    const newMachine = tmpDir("new-machine");
    const pgEnv = testEnv(newMachine, { TUNELOOP_DATABASE_URL: url, TUNELOOP_BLOB_URL: "postgres" });
    const blobs = await runCli(["db", "copy", "--from", from, "--blobs-only"], pgEnv);
    assert.equal(blobs.code, 0, blobs.stderr);
    const n = fs.readdirSync(path.join(data, "blobs"), { recursive: true }).filter((f) => String(f).length > 3).length;
    assert.match(blobs.stdout, new RegExp(`Copied ${n} blobs \\(0\\.0 MB\\) from .* into the database's blobs table`));
    assert.equal((await sql.query("SELECT count(*)::int AS n FROM blobs")).rows[0].n, n);
    // Again: nothing twice.
    const again = await runCli(["db", "copy", "--from", from, "--blobs-only"], pgEnv);
    assert.match(again.stdout, new RegExp(`Copied 0 blobs .* \\(${n} already there, kept\\)`));

    // A machine that never had the data folder shows the dataset's rows.
    const show = await runCli(
      ["dataset", "export", "task", "--format", "openai", "--out", path.join(newMachine, "out.jsonl")],
      pgEnv,
    );
    assert.equal(show.code, 0, show.stderr);
    assert.equal(fs.readFileSync(path.join(newMachine, "out.jsonl"), "utf8").trim().split("\n").length, 30);
  } finally {
    await sql.end();
  }
});

test("TUNELOOP_BLOB_URL=postgres needs TUNELOOP_DATABASE_URL, and its size limit is a setting", () => {
  assert.throws(
    () => loadConfig({ TUNELOOP_DATA: tmpDir(), TUNELOOP_BLOB_URL: "postgres" }),
    (err: unknown) => {
      assert.ok(err instanceof TuneError);
      assert.equal(err.code, "blob_store_needs_postgres");
      assert.match(err.message, /TUNELOOP_DATABASE_URL is not set\. Set TUNELOOP_DATABASE_URL=postgres:\/\//);
      return true;
    },
  );
  const db = { TUNELOOP_DATA: tmpDir(), TUNELOOP_DATABASE_URL: "postgres://u@localhost:5432/d" };
  assert.deepEqual(loadConfig({ ...db, TUNELOOP_BLOB_URL: "postgres" }).scale.blob, {
    kind: "postgres",
    maxBytes: 128 * MB,
  });
  assert.deepEqual(loadConfig({ ...db, TUNELOOP_BLOB_URL: "postgres", TUNELOOP_PG_BLOB_MAX_MB: "16" }).scale.blob, {
    kind: "postgres",
    maxBytes: 16 * MB,
  });
  assert.throws(
    () => loadConfig({ ...db, TUNELOOP_BLOB_URL: "postgres", TUNELOOP_PG_BLOB_MAX_MB: "5000" }),
    /TUNELOOP_PG_BLOB_MAX_MB="5000": write whole megabytes between 1 and 1000/,
  );
});
