/** Worker-thread entry of the ingest pass: runs ingestFile for each job it is sent, one at a time. */
import os from "node:os";
import { parentPort } from "node:worker_threads";
import { IngestRefusal, ingestFile, type IngestOptions } from "./ingest.ts";
import { threadTokenCounter } from "./token-counter.ts";

// Lower this thread's scheduling priority (Linux applies it per thread): the bot's main thread, answering
// commands, goes first when the two cores are busy.
try {
  os.setPriority(10);
} catch {
  // not permitted here: run at normal priority
}

const port = parentPort;
if (!port) throw new Error("ingest-worker must run in a worker thread");

// The token-counting thread lives as long as this one.
const counter = threadTokenCounter();

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
