/** The download thread of src/scale/s3-blobs.ts: fetches one blob at a time and wakes the waiting thread. */
import { parentPort, workerData } from "node:worker_threads";
import { serveFetches } from "./blob-cache.ts";
import { S3Objects, type S3Location } from "./s3-blobs.ts";

const { loc, flag } = workerData as { loc: S3Location; flag: SharedArrayBuffer };
const objects = new S3Objects(loc);
await serveFetches(parentPort, flag, (sha, dest) => objects.download(sha, dest));
