/**
 * Blobs in an S3-compatible object store (TUNELOOP_BLOB_URL=s3://bucket/prefix; AWS S3, MinIO...), so that every
 * replica and worker reaches the same datasets. Still content-addressed (`<prefix>/ab/cdef...` by sha256) and written
 * atomically: an object appears whole or not at all (S3 semantics), the upload carries its SHA-256 so the store
 * refuses corrupted bytes, and `If-None-Match: *` keeps an existing blob as it is. Each machine keeps a local copy in
 * its data folder (the cache the trainers read files from); a blob missing there is downloaded on first use.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { MessageChannel, receiveMessageOnPort, type Worker } from "node:worker_threads";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { BlobStore } from "../core/ports.ts";
import { fsBlobStore } from "../lib/blobs.ts";
import { startWorker } from "../lib/worker.ts";

export interface S3Location {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
}

const SHA = /^[0-9a-f]{64}$/;

export class S3Objects {
  readonly client: S3Client;
  constructor(readonly loc: S3Location) {
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
        new PutObjectCommand({
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
      await this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.key(sha) }));
      return true;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  /** Downloads a blob to `dest` through a temporary file, checking its sha256 before the rename (atomic). */
  async download(sha: string, dest: string): Promise<void> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: this.key(sha) }));
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.part`;
    const hash = crypto.createHash("sha256");
    try {
      const body = r.Body as Readable;
      body.on("data", (c: Buffer) => hash.update(c));
      await pipeline(body, fs.createWriteStream(tmp));
      const got = hash.digest("hex");
      if (got !== sha) throw new Error(`blob ${sha} from the object store has sha256 ${got}: refused`);
      await fs.promises.rename(tmp, dest);
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
  }
}

/**
 * Synchronous download for the store's synchronous `path` and `read` (the core reads token files synchronously):
 * a worker thread downloads while the caller waits on Atomics, as better-sqlite3 waits on its disk. Only a blob
 * this machine has not seen yet waits on the network, once.
 */
class SyncFetcher {
  private worker: Worker | null = null;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly channel = new MessageChannel();
  constructor(
    private readonly loc: S3Location,
    private readonly timeoutMs: number,
  ) {}

  fetch(sha: string, dest: string): void {
    if (!this.worker) {
      this.worker = startWorker(
        new URL("./s3-fetch-worker.ts", import.meta.url),
        { loc: this.loc, flag: this.flag.buffer },
        { bundle: true },
      );
      this.worker.postMessage(this.channel.port2, [this.channel.port2]);
      this.worker.unref();
    }
    Atomics.store(this.flag, 0, 0);
    this.channel.port1.postMessage({ sha, dest });
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const got = receiveMessageOnPort(this.channel.port1);
      if (got) {
        const m = got.message as { sha: string; error?: string };
        if (m.sha !== sha) continue;
        if (m.error) throw new Error(`could not fetch blob ${sha} from the object store: ${m.error}`);
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the object store did not deliver blob ${sha} within ${this.timeoutMs / 1000} s`);
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
      Atomics.store(this.flag, 0, 0);
    }
  }

  async close() {
    await this.worker?.terminate();
    this.channel.port1.close();
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
  const local = fsBlobStore(dataDir);
  const objects = new S3Objects(loc);
  const fetcher = new SyncFetcher(loc, opts.fetchTimeoutMs ?? 10 * 60_000);
  const ensure = (sha: string) => {
    const p = local.path(sha);
    if (!fs.existsSync(p)) fetcher.fetch(sha, p);
    return p;
  };
  return {
    objects,
    async adopt(tmpPath, sha256) {
      // The object store first (every replica's source), then this machine's copy.
      await objects.put(tmpPath, sha256);
      await local.adopt(tmpPath, sha256);
    },
    has: (sha) => local.has(sha),
    path: ensure,
    read: (sha) => fs.createReadStream(ensure(sha)),
    tmpPath: (label) => local.tmpPath(label),
    close: () => fetcher.close(),
  };
}
