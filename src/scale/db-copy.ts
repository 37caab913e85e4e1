/**
 * `tuneloop db copy --from sqlite:<file>`: moves an install to Postgres. Run it with TUNELOOP_DATABASE_URL set to
 * the new, empty database while the bot is stopped (docs/scale.md, "How to move").
 */
import fs from "node:fs";
import path from "node:path";
import { openDb } from "../../db/client.ts";
import { putBlob } from "../../db/pg/blobs.ts";
import { migratePg, openPg, type PgDb, redactUrl } from "../../db/pg/client.ts";
import { copySqliteToPg, CopyRefused, countBoth } from "../../db/pg/copy.ts";
import type { App } from "../app.ts";
import { ErrorCode, TuneError } from "../errors.ts";
import { blobBytes } from "./pg-blobs.ts";

export async function dbCopy(app: App, args: string[], out: (line: string) => void): Promise<number> {
  const usage =
    "Usage: tuneloop db copy --from sqlite:<file> [--blobs-only] (with TUNELOOP_DATABASE_URL=postgres://... set)";
  if (args[0] !== "copy") throw new TuneError(ErrorCode.InvalidOptions, usage);
  const i = args.indexOf("--from");
  const from = i >= 0 ? args[i + 1] : undefined;
  const m = from ? /^sqlite:(.+)$/.exec(from) : null;
  if (!m) throw new TuneError(ErrorCode.InvalidOptions, `Name the SQLite file to copy: --from sqlite:<file>. ${usage}`);
  const url = app.config.scale.databaseUrl;
  if (!url)
    throw new TuneError(
      ErrorCode.DbCopyNeedsPostgres,
      "Set TUNELOOP_DATABASE_URL=postgres://user:password@host:5432/database (an empty database) and run the copy again.",
    );
  const file = path.resolve(m[1]);
  if (!fs.existsSync(file))
    throw new TuneError(
      ErrorCode.DbCopyNoFile,
      `There is no SQLite file at ${file}: the install's is <TUNELOOP_DATA>/tuneloop.db.`,
    );
  const blobsDir = path.join(path.dirname(file), "blobs");
  if (args.includes("--blobs-only")) {
    if (app.config.scale.blob.kind !== "postgres")
      throw new TuneError(
        ErrorCode.InvalidOptions,
        `--blobs-only copies ${blobsDir} into the Postgres database's blobs table: set TUNELOOP_BLOB_URL=postgres (see docs/scale.md).`,
      );
    const pg = openPg(url, { application: "tuneloop-db-copy" });
    try {
      await migratePg(pg);
      return await copyBlobs(app, pg, blobsDir, file, out);
    } finally {
      await pg.$client.end();
    }
  }
  const lite = openDb(file);
  const pg = openPg(url, { application: "tuneloop-db-copy" });
  try {
    await migratePg(pg);
    out(`Copying ${file} into ${redactUrl(url)}…`);
    const report = await copySqliteToPg(lite, pg, (t, n) => out(`  ${t}: ${n} row${n === 1 ? "" : "s"}`));
    const counts = await countBoth(lite, pg);
    const off = counts.filter((c) => c.sqlite !== c.postgres);
    if (off.length)
      throw new Error(
        `row counts differ after the copy: ${off.map((c) => `${c.table} ${c.sqlite} vs ${c.postgres}`).join(", ")}`,
      );
    const rows = report.tables.reduce((a, t) => a + t.rows, 0);
    out(`Copied ${rows} rows in ${report.tables.length} tables; the counts match.`);
    return await copyBlobs(app, pg, blobsDir, file, out);
  } catch (err) {
    if (err instanceof CopyRefused) throw new TuneError(ErrorCode.DbCopyRefused, `Nothing was copied: ${err.message}.`);
    throw err;
  } finally {
    lite.$client.close();
    await pg.$client.end();
  }
}

/** The blob files of a data folder's `blobs` (`ab/cdef...`, named by sha256). */
function blobFiles(dir: string): Array<{ sha: string; file: string }> {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const a of fs
    .readdirSync(dir)
    .filter((d) => /^[0-9a-f]{2}$/.test(d))
    .sort())
    for (const b of fs
      .readdirSync(path.join(dir, a))
      .filter((f) => /^[0-9a-f]{62}$/.test(f))
      .sort())
      out.push({ sha: a + b, file: path.join(dir, a, b) });
  return out;
}

/**
 * The install's blobs: into the database's `blobs` table when it is the blob store (TUNELOOP_BLOB_URL=postgres;
 * a blob already there is kept), else what to do with the folder. 1 when a blob could not be copied (named).
 */
async function copyBlobs(
  app: App,
  pg: PgDb,
  dir: string,
  sqliteFile: string,
  out: (line: string) => void,
): Promise<number> {
  const again = `tuneloop db copy --from sqlite:${sqliteFile} --blobs-only`;
  const store = app.config.scale.blob;
  if (store.kind === "s3") {
    const dest = `s3://${store.bucket}${store.prefix ? `/${store.prefix}` : ""}`;
    out(
      `Blobs stay in ${dir}: copy that folder into the object store, keeping its ab/cdef… names, e.g. \`aws s3 sync ${dir} ${dest}${store.endpoint ? ` --endpoint-url ${store.endpoint}` : ""}\`.`,
    );
    return 0;
  }
  if (store.kind === "fs") {
    out(
      `Blobs stay in ${dir}: every machine needs them in its TUNELOOP_DATA/blobs (copy the folder, or share it). To keep them in Postgres instead, set TUNELOOP_BLOB_URL=postgres and run \`${again}\`; for an object store, TUNELOOP_BLOB_URL=s3://bucket/prefix and \`aws s3 sync ${dir} s3://bucket/prefix\` (docs/scale.md).`,
    );
    return 0;
  }
  const files = blobFiles(dir);
  let stored = 0;
  let existed = 0;
  let bytes = 0;
  const left: string[] = [];
  for (const { sha, file } of files) {
    try {
      const data = await blobBytes(file, sha, store.maxBytes);
      if ((await putBlob(pg, sha, data)) === "stored") stored++;
      else existed++;
      bytes += data.length;
    } catch (err) {
      left.push(`${file}: ${(err as Error).message}`);
    }
  }
  out(
    `Copied ${stored} blob${stored === 1 ? "" : "s"} (${(bytes / 1024 / 1024).toFixed(1)} MB) from ${dir} into the database's blobs table${existed ? ` (${existed} already there, kept)` : ""}.`,
  );
  if (!left.length) return 0;
  out(
    `Not copied (the rows are; the datasets these blobs belong to cannot be read until they are):\n${left.map((l) => `  ${l}`).join("\n")}\nFix or remove them (or raise TUNELOOP_PG_BLOB_MAX_MB) and copy the blobs again: \`${again}\`.`,
  );
  return 1;
}
