import type { Worker } from "node:worker_threads";
import { startWorker } from "../../lib/worker.ts";
import type { NormalizedRow } from "./types.ts";

export interface BatchCounts {
  totals: Uint32Array;
  assistant: Uint32Array;
}

/** Counts tokens of row batches, on a worker thread when asked (so counting overlaps with the rest of the pass). */
export interface TokenCounter {
  count(rows: NormalizedRow[]): Promise<BatchCounts>;
  /** Resolves once the counter can answer (its thread has loaded the tokenizer). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Counts on the calling thread. The tokenizer (o200k_base, ~66 MB resident) loads on first use, so a thread that
 * hands counting to another never holds a copy.
 */
export function inlineTokenCounter(): TokenCounter {
  return {
    async count(rows) {
      const { countRowTokenDetail } = await import("./tokens.ts");
      const totals = new Uint32Array(rows.length);
      const assistant = new Uint32Array(rows.length);
      rows.forEach((r, i) => {
        const c = countRowTokenDetail(r);
        totals[i] = c.total;
        assistant[i] = c.assistant;
      });
      return { totals, assistant };
    },
    async ready() {},
    async close() {},
  };
}

export function threadTokenCounter(): TokenCounter {
  const worker: Worker = startWorker(new URL("./count-worker.ts", import.meta.url), {});
  let nextId = 0;
  const waiting = new Map<number, { resolve: (c: BatchCounts) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  worker.on("message", (m: { id: number } & BatchCounts) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    w?.resolve({ totals: m.totals, assistant: m.assistant });
  });
  worker.on("error", failAll);
  worker.on("exit", (code) => failAll(new Error(`token counter exited (${code})`)));
  return {
    count(rows) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, rows });
      });
    },
    async ready() {
      await this.count([{ kind: "text", text: "warm" }]);
    },
    async close() {
      worker.removeAllListeners("exit");
      await worker.terminate();
    },
  };
}
