/**
 * "Another machine" for the object-store test: its own empty data folder, the same object store. Reads a blob
 * through the store's synchronous path() and prints what it saw as JSON. argv: dataDir endpoint sha missingSha
 */
import crypto from "node:crypto";
import fs from "node:fs";
import { s3BlobStore } from "../../src/scale/s3-blobs.ts";

const [dataDir, endpoint, sha, missing] = process.argv.slice(2);
const store = s3BlobStore(dataDir, { bucket: "tuneloop-blobs", prefix: "team-a", endpoint, region: "us-east-1" });
const hasBefore = store.has(sha);
const bytes = fs.readFileSync(store.path(sha));
const hasAfter = store.has(sha);
let missingError = "";
try {
  store.path(missing);
} catch (err) {
  missingError = (err as Error).message;
}
await store.close();
process.stdout.write(
  `${JSON.stringify({
    hasBefore,
    hasAfter,
    sha256: crypto.createHash("sha256").update(bytes).digest("hex"),
    lines: bytes.toString().trim().split("\n").length,
    missingError,
  })}\n`,
);
