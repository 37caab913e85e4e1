import type { Worker } from "node:worker_threads";
import { startWorker } from "../../lib/worker.ts";
import { type PackedRows, packRows } from "./token-plan.ts";
import type { BatchCounts } from "./batch-count.ts";

export type { BatchCounts } from "./batch-count.ts";

/** Counts tokens of row batches, on a worker thread when asked (so counting overlaps with the rest of the pass). */
export interface TokenCounter {
  /** Counts a packed batch (packRows), with its near-duplicate features unless `features` is false. */
  count(packed: PackedRows, features?: boolean): Promise<BatchCounts>;
  /** Batches sent and not yet done, read without waiting for the event loop (0 for a counter on this thread). */
  backlog(): number;
  /** Resolves once the counter can answer (its thread has loaded the tokenizer). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Counts on the calling thread. The tokenizer (o200k_base, ~55 MB resident) loads on first use, so a thread that
 * hands counting to another never holds a copy.
 */
export function inlineTokenCounter(): TokenCounter {
  return {
    async count(packed, features = true) {
      const { countBatch } = await import("./batch-count.ts");
      return countBatch(packed, features);
    },
    backlog: () => 0,
    async ready() {
      await import("./batch-count.ts");
    },
    async close() {},
  };
}

/** The count worker's module (run-ingest.ts hands it to the ingest worker, which runs from a bundle). */
export const COUNT_WORKER = new URL("./count-worker.ts", import.meta.url);

/**
 * Counts on a worker thread of its own. `module` is the count worker's URL: inside a bundle import.meta.url is
 * the bundle's place, so a bundled caller is given it by its parent.
 */
export function threadTokenCounter(module: URL = COUNT_WORKER): TokenCounter {
  const done = new Int32Array(new SharedArrayBuffer(4)); // the worker adds one after each batch
  const worker: Worker = startWorker(module, { done }, { bundle: true });
  let sent = 0;
  let nextId = 0;
  const waiting = new Map<number, { resolve: (c: BatchCounts) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on("message", (m: { id: number; counts: BatchCounts }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    w?.resolve(m.counts);
  });
  worker.on("error", failAll);
  worker.on("exit", (code) => failAll(new Error(`token counter exited (${code})`)));
  return {
    count(packed, features = true) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        sent++;
        worker.postMessage({ id, packed, features }, [
          packed.ends.buffer,
          packed.flags.buffer,
          packed.rowEnds.buffer,
          packed.base.buffer,
        ]);
      });
    },
    backlog: () => sent - Atomics.load(done, 0),
    async ready() {
      await this.count(packRows([{ kind: "text", text: "warm" }]));
    },
    async close() {
      worker.removeAllListeners("exit");
      await worker.terminate();
    },
  };
}
