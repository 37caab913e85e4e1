import { startWorker } from "../../lib/worker.ts";
import { IngestRefusal, type IngestOptions, type IngestProgress, type IngestResult } from "./ingest.ts";

/** Runs the ingest pass in a worker thread, so the main thread (the bot) keeps answering. */
export function runIngest(options: IngestOptions, onProgress?: (p: IngestProgress) => void): Promise<IngestResult> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(new URL("./ingest-worker.ts", import.meta.url), { options });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on("message", (m) => {
      if (m.type === "progress") onProgress?.(m.progress);
      else if (m.type === "done") settle(() => resolve(m.result));
      else if (m.type === "refused") settle(() => reject(new IngestRefusal(m.code, m.message, m.details)));
      else if (m.type === "crashed") settle(() => reject(new Error(`ingest worker failed: ${m.message}`)));
    });
    worker.on("error", (err) => settle(() => reject(err)));
    worker.on("exit", (code) => settle(() => reject(new Error(`ingest worker exited with code ${code}`))));
  });
}
