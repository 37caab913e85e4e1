/** Worker-thread entry of the ingest pass: runs ingestFile on workerData.options and reports back. */
import { parentPort, workerData } from "node:worker_threads";
import { IngestRefusal, ingestFile, type IngestOptions } from "./ingest.ts";

const port = parentPort;
if (!port) throw new Error("ingest-worker must run in a worker thread");

try {
  const result = await ingestFile(workerData.options as IngestOptions, (p) => port.postMessage({ type: "progress", progress: p }));
  port.postMessage({ type: "done", result });
} catch (err) {
  if (err instanceof IngestRefusal) {
    port.postMessage({ type: "refused", code: err.code, message: err.message, details: err.details });
  } else {
    port.postMessage({ type: "crashed", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
}
