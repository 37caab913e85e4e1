/** The download thread of src/scale/s3-blobs.ts: fetches one blob at a time and wakes the waiting thread. */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { S3Objects, type S3Location } from "./s3-blobs.ts";

const { loc, flag: sab } = workerData as { loc: S3Location; flag: SharedArrayBuffer };
const flag = new Int32Array(sab);
const objects = new S3Objects(loc);
const port: MessagePort = await new Promise((resolve) => parentPort!.once("message", resolve));
port.on("message", async (m: { sha: string; dest: string }) => {
  let error: string | undefined;
  try {
    await objects.download(m.sha, m.dest);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  port.postMessage({ sha: m.sha, error });
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
