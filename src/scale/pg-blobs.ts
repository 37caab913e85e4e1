/**
 * Blobs in Postgres itself (TUNELOOP_BLOB_URL=postgres): for a small install on Postgres that has no object store,
 * every replica and worker reaches the same datasets through the database it already uses (the `blobs` table:
 * db/pg/blobs.ts). Still content-addressed (a row per sha256) and written atomically: one INSERT ... ON CONFLICT DO
 * NOTHING, so a blob appears whole or not at all and one already there is kept. The bytes are checked against their
 * sha256 before they are stored and again when a machine fetches them. Each machine keeps a local copy in its data
 * folder, as with the object store (blob-cache.ts); a blob missing there is fetched on first use.
 *
 * A blob is one bytea value, read and written whole in memory: `maxBytes` (TUNELOOP_PG_BLOB_MAX_MB) bounds it, and a
 * larger one is refused with a message that says what to do.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import { getBlob, putBlob } from "../../db/pg/blobs.ts";
import type { PgDb } from "../../db/pg/client.ts";
import type { BlobStore } from "../core/ports.ts";
import { ErrorCode, TuneError } from "../errors.ts";
import { cachedBlobStore, SyncFetcher, saveVerified } from "./blob-cache.ts";

export const PG_BLOB_STORE = "the Postgres database";

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;

/** Refuses a blob over the limit: what it is, the limit, and what to do. */
export function tooLarge(size: number, maxBytes: number): TuneError {
  return new TuneError(
    ErrorCode.BlobTooLarge,
    `This file is ${mb(size)}; blobs kept in Postgres (TUNELOOP_BLOB_URL=postgres) are limited to ${mb(maxBytes)} (TUNELOOP_PG_BLOB_MAX_MB). Upload a smaller dataset, or keep blobs in an object store (TUNELOOP_BLOB_URL=s3://bucket/prefix, docs/scale.md).`,
  );
}

/** Reads a finished file and checks it is the blob its name says, within the limit. */
export async function blobBytes(file: string, sha256: string, maxBytes: number): Promise<Buffer> {
  const size = (await fs.promises.stat(file)).size;
  if (size > maxBytes) throw tooLarge(size, maxBytes);
  const data = await fs.promises.readFile(file);
  const got = crypto.createHash("sha256").update(data).digest("hex");
  if (got !== sha256) throw new Error(`the file for blob ${sha256} has sha256 ${got}: not stored`);
  return data;
}

/** Fetches blob `sha` from the table into `dest` (checked against its name, then renamed into place). */
export async function downloadPgBlob(db: PgDb, sha: string, dest: string): Promise<void> {
  const data = await getBlob(db, sha);
  if (!data) throw new Error("the database has no such blob");
  await saveVerified(sha, dest, [data], PG_BLOB_STORE);
}

export function pgBlobStore(
  dataDir: string,
  url: string,
  opts: { maxBytes: number; fetchTimeoutMs?: number },
): BlobStore & { close(): Promise<void> } {
  // Writes go through a pool of this thread (opened on the first write); reads through the fetch thread's own.
  let db: PgDb | null = null;
  const fetcher = new SyncFetcher(
    new URL("./pg-fetch-worker.ts", import.meta.url),
    { url },
    PG_BLOB_STORE,
    opts.fetchTimeoutMs ?? 10 * 60_000,
  );
  return cachedBlobStore(dataDir, {
    async put(file, sha) {
      const data = await blobBytes(file, sha, opts.maxBytes);
      // pg and drizzle's driver are loaded on the first write, not when the app is made
      db ??= (await import("../../db/pg/client.ts")).openPg(url, { max: 2, application: "tuneloop-blobs" });
      return putBlob(db, sha, data);
    },
    fetch: (sha, dest) => fetcher.fetch(sha, dest),
    async close() {
      await fetcher.close();
      await db?.$client.end();
    },
  });
}
