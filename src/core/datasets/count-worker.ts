/**
 * Token counting on its own thread: the ingest pass sends batches of normalised rows and gets back each row's
 * cookbook total and assistant tokens, while it goes on parsing, deduplicating and scanning the next batch.
 */
import os from "node:os";
import { parentPort } from "node:worker_threads";
import { countRowTokenDetail } from "./tokens.ts";
import type { NormalizedRow } from "./types.ts";

// Lower this thread's scheduling priority (Linux applies it per thread): the bot's main thread, answering
// commands, goes first when the two cores are busy.
try {
  os.setPriority(10);
} catch {
  // not permitted here: run at normal priority
}

const port = parentPort;
if (!port) throw new Error("count-worker must run in a worker thread");

port.on("message", (m: { id: number; rows: NormalizedRow[] }) => {
  const totals = new Uint32Array(m.rows.length);
  const assistant = new Uint32Array(m.rows.length);
  m.rows.forEach((r, i) => {
    const c = countRowTokenDetail(r);
    totals[i] = c.total;
    assistant[i] = c.assistant;
  });
  port.postMessage({ id: m.id, totals, assistant }, [totals.buffer, assistant.buffer]);
});
