/**
 * Blobs in an S3-compatible object store (TUNELOOP_BLOB_URL=s3://bucket/prefix; AWS S3, MinIO...), so that every
 * replica and worker reaches the same datasets. Still content-addressed (`<prefix>/ab/cdef...` by sha256) and written
 * atomically: an object appears whole or not at all (S3 semantics), the upload carries its SHA-256 so the store
 * refuses corrupted bytes, and `If-None-Match: *` keeps an existing blob as it is. Each machine keeps a local copy in
 * its data folder (the cache the trainers read files from); a blob missing there is downloaded on first use
 * (blob-cache.ts, shared with the Postgres store).
 */
import fs from "node:fs";
import type { Readable } from "node:stream";
import { createRequire } from "node:module";
import type * as S3 from "@aws-sdk/client-s3";
import type { BlobStore } from "../core/ports.ts";
import { cachedBlobStore, SyncFetcher, saveVerified } from "./blob-cache.ts";

export interface S3Location {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
}

const SHA = /^[0-9a-f]{64}$/;

/** The AWS SDK (a few hundred ms to load), loaded when a store is made, not whenever the app is. */
let sdk: typeof S3 | null = null;
const s3Sdk = (): typeof S3 => {
  sdk ??= createRequire(import.meta.url)("@aws-sdk/client-s3") as typeof S3;
  return sdk;
};

export class S3Objects {
  readonly client: S3.S3Client;
  constructor(readonly loc: S3Location) {
    const { S3Client } = s3Sdk();
    this.client = new S3Client({
      region: loc.region,
      endpoint: loc.endpoint,
      // MinIO and most S3-compatible stores address buckets by path.
      forcePathStyle: Boolean(loc.endpoint),
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  key(sha: string): string {
    if (!SHA.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return `${this.loc.prefix ? `${this.loc.prefix}/` : ""}${sha.slice(0, 2)}/${sha.slice(2)}`;
  }

  /** Uploads a finished file under its sha256; "existed" when the store already had it (kept as it was). */
  async put(file: string, sha: string): Promise<"stored" | "existed"> {
    const size = (await fs.promises.stat(file)).size;
    try {
      await this.client.send(
        new (s3Sdk().PutObjectCommand)({
          Bucket: this.loc.bucket,
          Key: this.key(sha),
          Body: fs.createReadStream(file),
          ContentLength: size,
          ChecksumSHA256: Buffer.from(sha, "hex").toString("base64"),
          IfNoneMatch: "*",
        }),
      );
      return "stored";
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.$metadata?.httpStatusCode === 412 || e.name === "PreconditionFailed") return "existed";
      throw err;
    }
  }

  async has(sha: string): Promise<boolean> {
    try {
      await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.loc.bucket, Key: this.key(sha) }));
      return true;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  /** Downloads a blob to `dest` through a temporary file, checking its sha256 before the rename (atomic). */
  async download(sha: string, dest: string): Promise<void> {
    const r = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.loc.bucket, Key: this.key(sha) }));
    await saveVerified(sha, dest, r.Body as Readable, "the object store");
  }
}

export function s3BlobStore(
  dataDir: string,
  loc: S3Location,
  opts: { fetchTimeoutMs?: number } = {},
): BlobStore & {
  objects: S3Objects;
  close(): Promise<void>;
} {
  const objects = new S3Objects(loc);
  const fetcher = new SyncFetcher(
    new URL("./s3-fetch-worker.ts", import.meta.url),
    { loc },
    "the object store",
    opts.fetchTimeoutMs ?? 10 * 60_000,
  );
  const store = cachedBlobStore(dataDir, {
    put: (file, sha) => objects.put(file, sha),
    fetch: (sha, dest) => fetcher.fetch(sha, dest),
    close: () => fetcher.close(),
  });
  return { ...store, objects };
}
