/** Worker-thread entry of the ingest pass: runs ingestFile for each job it is sent, one at a time. */
import { parentPort, workerData } from "node:worker_threads";
import { IngestRefusal, ingestFile, type IngestOptions } from "./ingest.ts";
import { threadTokenCounter } from "./token-counter.ts";

// Normal priority, as the counting thread (see count-worker.ts).
const port = parentPort;
if (!port) throw new Error("ingest-worker must run in a worker thread");

// The token-counting thread lives as long as this one. Its module's URL comes from the parent: inside a bundle,
// import.meta.url is the bundle's place.
const { countWorker } = workerData as { countWorker?: string };
const counter = threadTokenCounter(countWorker ? new URL(countWorker) : undefined);

port.on("message", async (m: { type: "ping" } | { type: "job"; id: number; options: IngestOptions }) => {
  if (m.type === "ping") {
    await counter.ready();
    port.postMessage({ type: "ready" });
    return;
  }
  const { id } = m;
  try {
    const result = await ingestFile(m.options, (p) => port.postMessage({ type: "progress", id, progress: p }), counter);
    port.postMessage({ type: "done", id, result });
  } catch (err) {
    if (err instanceof IngestRefusal) {
      port.postMessage({ type: "refused", id, code: err.code, message: err.message, details: err.details });
    } else {
      port.postMessage({
        type: "crashed",
        id,
        message: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
    }
  }
});
