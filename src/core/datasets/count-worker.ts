/**
 * Token counting on its own thread: the ingest pass sends batches of rows packed as strings (token-plan.ts) and
 * gets back each row's cookbook total, assistant tokens and near-duplicate features (batch-count.ts), while it
 * goes on with the rest of the pass.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { PackedRows } from "./token-plan.ts";
import { countBatch, transferList } from "./batch-count.ts";

// Both threads of the pass run at normal priority: each is on the pass's critical path (they share the work, see
// batch-count.ts). The bot's main thread stays responsive: it needs little time, and the scheduler favours a
// thread that wakes after sleeping (`npm run bench` measures its event-loop delay and command latency meanwhile).
const port = parentPort;
if (!port) throw new Error("count-worker must run in a worker thread");

/** Batches done so far, shared with the sender: how far behind this thread is, readable while it is busy. */
const done = (workerData as { done?: Int32Array }).done ?? new Int32Array(1);

port.on("message", (m: { id: number; packed: PackedRows; features: boolean }) => {
  const counts = countBatch(m.packed, m.features);
  Atomics.add(done, 0, 1);
  port.postMessage({ id: m.id, counts }, transferList(counts));
});
