import { Worker } from "node:worker_threads";

const boot = new URL("./worker-boot.mjs", import.meta.url);

/** Starts a worker thread running a TypeScript module (a URL, usually `new URL("./x-worker.ts", import.meta.url)`). */
export function startWorker(
  module: URL,
  data: Record<string, unknown>,
  opts: { resourceLimits?: Worker["resourceLimits"] } = {},
): Worker {
  return new Worker(boot, { workerData: { ...data, __module: module.href }, resourceLimits: opts.resourceLimits });
}
