/**
 * What the shared blob stores (an S3-compatible bucket: s3-blobs.ts; Postgres's own `blobs` table: pg-blobs.ts) have
 * in common: each machine keeps a copy of every blob it uses in its data folder (the cache the trainers read files
 * from), a blob is written to the shared store before this machine's copy, and a blob missing here is fetched on
 * first use into a temporary file, checked against its sha256, then renamed into place (whole or not at all).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from "node:worker_threads";
import type { BlobStore } from "../core/ports.ts";
import { fsBlobStore } from "../lib/blobs.ts";
import { startWorker } from "../lib/worker.ts";

/** The shared store behind this machine's copies. */
export interface RemoteBlobs {
  /** Stores a finished file under its sha256 (a blob already there is kept as it is). */
  put(file: string, sha256: string): Promise<unknown>;
  /** Fetches a blob synchronously into `dest` (checked, atomic); throws naming the blob when it cannot. */
  fetch(sha256: string, dest: string): void;
  close(): Promise<void>;
}

/** A blob store: the shared store first (every machine's source), then this machine's copy, fetched when missing. */
export function cachedBlobStore(dataDir: string, remote: RemoteBlobs): BlobStore & { close(): Promise<void> } {
  const local = fsBlobStore(dataDir);
  const ensure = (sha: string) => {
    const p = local.path(sha);
    if (!fs.existsSync(p)) remote.fetch(sha, p);
    return p;
  };
  return {
    async adopt(tmpPath, sha256) {
      await remote.put(tmpPath, sha256);
      await local.adopt(tmpPath, sha256);
    },
    has: (sha) => local.has(sha),
    path: ensure,
    read: (sha) => fs.createReadStream(ensure(sha)),
    tmpPath: (label) => local.tmpPath(label),
    close: () => remote.close(),
  };
}

/**
 * Writes a fetched blob to `dest` through a temporary file beside it, checking the bytes' sha256 before the rename:
 * bytes that are not the blob they are stored as are refused (`from` names the store in the message).
 */
export async function saveVerified(
  sha: string,
  dest: string,
  body: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer>,
  from: string,
): Promise<void> {
  await fs.promises.mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.part`;
  const hash = crypto.createHash("sha256");
  const out = fs.createWriteStream(tmp);
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const got = hash.digest("hex");
    if (got !== sha) throw new Error(`blob ${sha} from ${from} has sha256 ${got}: refused`);
    await fs.promises.rename(tmp, dest);
  } finally {
    out.destroy();
    await fs.promises.rm(tmp, { force: true });
  }
}

/**
 * Synchronous fetches for the store's synchronous `path` and `read` (the core reads token files synchronously): a
 * worker thread (`module`, which calls `serveFetches`) fetches while the caller waits on Atomics, as better-sqlite3
 * waits on its disk. Only a blob this machine has not seen yet waits on the network, once.
 */
export class SyncFetcher {
  private worker: Worker | null = null;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly channel = new MessageChannel();
  constructor(
    private readonly module: URL,
    private readonly data: Record<string, unknown>,
    /** The store, in messages: "the object store", "the Postgres database". */
    private readonly store: string,
    private readonly timeoutMs: number,
  ) {}

  fetch(sha: string, dest: string): void {
    if (!this.worker) {
      this.worker = startWorker(this.module, { ...this.data, flag: this.flag.buffer }, { bundle: true });
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
        if (m.error) throw new Error(`could not fetch blob ${sha} from ${this.store}: ${m.error}`);
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.store} did not deliver blob ${sha} within ${this.timeoutMs / 1000} s`);
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
      Atomics.store(this.flag, 0, 0);
    }
  }

  async close() {
    await this.worker?.terminate();
    this.channel.port1.close();
  }
}

/** The worker thread's side of SyncFetcher: fetches one blob at a time with `download` and wakes the waiting thread. */
export async function serveFetches(
  parent: MessagePort | null,
  sab: SharedArrayBuffer,
  download: (sha: string, dest: string) => Promise<void>,
): Promise<void> {
  const flag = new Int32Array(sab);
  const port: MessagePort = await new Promise((resolve) => parent!.once("message", resolve));
  port.on("message", async (m: { sha: string; dest: string }) => {
    let error: string | undefined;
    try {
      await download(m.sha, m.dest);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    port.postMessage({ sha: m.sha, error });
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  });
}
