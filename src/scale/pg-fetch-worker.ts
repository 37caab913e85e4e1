/** The fetch thread of src/scale/pg-blobs.ts: reads one blob at a time from Postgres and wakes the waiting thread. */
import { parentPort, workerData } from "node:worker_threads";
import { openPg } from "../../db/pg/client.ts";
import { serveFetches } from "./blob-cache.ts";
import { downloadPgBlob } from "./pg-blobs.ts";

const { url, flag } = workerData as { url: string; flag: SharedArrayBuffer };
const db = openPg(url, { max: 1, application: "tuneloop-blob-fetch" });
await serveFetches(parentPort, flag, (sha, dest) => downloadPgBlob(db, sha, dest));
