import type { Worker } from "node:worker_threads";
import { isErrorCode } from "../../errors.ts";
import { startWorker } from "../../lib/worker.ts";
import { COUNT_WORKER } from "./token-counter.ts";
import { IngestRefusal, type IngestOptions, type IngestProgress, type IngestResult } from "./ingest.ts";

interface Job {
  id: number;
  options: IngestOptions;
  onProgress?: (p: IngestProgress) => void;
  resolve: (r: IngestResult) => void;
  reject: (e: Error) => void;
}

/**
 * Runs ingest passes on a worker thread that stays up between uploads (with its token-counting thread), so the
 * bot keeps answering while a file is read and an upload does not pay for starting threads. Jobs run one at a
 * time, in order. A crashed worker fails its job and is replaced on the next one.
 */
export class IngestPool {
  private worker: Worker | null = null;
  private queue: Job[] = [];
  private current: Job | null = null;
  private nextId = 1;
  private closed = false;

  /** Starts the threads now rather than on the first upload. */
  warm(): Promise<void> {
    const w = this.ensure();
    return new Promise((resolve) => {
      const onMsg = (m: { type: string }) => {
        if (m.type === "ready") {
          w.off("message", onMsg);
          resolve();
        }
      };
      w.on("message", onMsg);
      w.postMessage({ type: "ping" });
    });
  }

  run(options: IngestOptions, onProgress?: (p: IngestProgress) => void): Promise<IngestResult> {
    if (this.closed) return Promise.reject(new Error("ingest pool closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, options, onProgress, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    for (const j of this.queue.splice(0)) j.reject(new Error("ingest pool closed"));
    if (w) {
      w.removeAllListeners("exit");
      await w.terminate();
    }
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    // A bounded heap makes V8 collect sooner: the pass keeps ~1 KB per row, far below this.
    const w = startWorker(
      new URL("./ingest-worker.ts", import.meta.url),
      { countWorker: COUNT_WORKER.href },
      { resourceLimits: { maxOldGenerationSizeMb: 384, maxYoungGenerationSizeMb: 16 }, bundle: true },
    );
    w.unref();
    w.on("message", (m) => this.onMessage(m));
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = null;
      const j = this.current;
      this.current = null;
      j?.reject(err);
      this.pump();
    };
    w.on("error", fail);
    w.on("exit", (code) => fail(new Error(`ingest worker exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  private pump() {
    if (this.current || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.current = job;
    const w = this.ensure();
    w.ref(); // keep the process alive while a job runs
    w.postMessage({ type: "job", id: job.id, options: job.options });
  }

  private onMessage(m: { type: string; id?: number; [k: string]: unknown }) {
    const job = this.current;
    if (!job || m.id !== job.id) return;
    if (m.type === "progress") {
      job.onProgress?.(m.progress as IngestProgress);
      return;
    }
    this.current = null;
    this.worker?.unref();
    if (m.type === "done") job.resolve(m.result as IngestResult);
    else if (m.type === "refused" && isErrorCode(m.code))
      job.reject(new IngestRefusal(m.code, m.message as string, m.details as Record<string, unknown>));
    else job.reject(new Error(`ingest worker failed: ${m.message as string}`));
    this.pump();
  }
}
