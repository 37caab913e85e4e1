/**
 * Files from chat: which dropped files are taken as datasets (one list for every platform), and the capped download
 * every adapter streams an upload through (the bytes stop at the upload limit, whatever the platform claimed).
 */
import fs from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { fmt } from "../core/format.ts";
import { ErrorCode, TuneError } from "../errors.ts";

/**
 * The file types a file dropped in a channel is tried as a dataset for, on every platform. JSON Lines and JSON are
 * read; the tabular ones (CSV, TSV, Parquet, Excel) are answered with how to export them as JSON Lines. Anything
 * else (a screenshot, a log) is left alone.
 */
export const DATASET_FILE_TYPES = ["jsonl", "ndjson", "json", "csv", "tsv", "parquet", "xlsx"] as const;

const DATASET_FILE = new RegExp(`\\.(${DATASET_FILE_TYPES.join("|")})$`, "i");

/** True for a file name the bot takes as a dataset when it is dropped in a channel. */
export const isDatasetFileName = (name: string | undefined | null): boolean => DATASET_FILE.test(name ?? "");

/** The error for a file over the upload limit (TUNELOOP_MAX_UPLOAD_MB). */
export function tooLarge(name: string, bytes: number | null, limit: number): TuneError {
  return new TuneError(
    ErrorCode.DatasetTooLarge,
    bytes === null
      ? `${name} is over ${fmt.bytes(limit)}, the upload limit (TUNELOOP_MAX_UPLOAD_MB). Split the file, or raise the limit.`
      : `${name} is ${fmt.bytes(bytes)}; uploads are limited to ${fmt.bytes(limit)} (TUNELOOP_MAX_UPLOAD_MB). Split the file, or raise the limit.`,
  );
}

/** Streams an HTTP response body into `dest`, failing (and removing the file) once it passes `limit` bytes. */
export async function saveCapped(
  body: ReadableStream<Uint8Array> | WebReadableStream<Uint8Array>,
  dest: string,
  limit: number,
  name: string,
): Promise<void> {
  let seen = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      cb(seen > limit ? tooLarge(name, null, limit) : null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(body as WebReadableStream<Uint8Array>), cap, fs.createWriteStream(dest));
  } catch (err) {
    fs.rmSync(dest, { force: true });
    throw err;
  }
}
