// Entry of every worker thread: registers tsx (so the worker can be TypeScript whether or not the parent
// was started with `--import tsx`), then loads the worker module named in workerData.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.__module);
