import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { BlobStore } from "../core/ports.ts";

/**
 * Content-addressed blob store: `<data>/blobs/ab/cdef...` named by sha256. Files arrive as finished temporary files
 * in `<data>/tmp` (same filesystem), so adopting one is an atomic rename: a crash leaves either no blob or a whole one.
 */
export function fsBlobStore(dataDir: string): BlobStore {
  const root = path.join(dataDir, "blobs");
  const tmp = path.join(dataDir, "tmp");
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(tmp, { recursive: true });
  const blobPath = (sha: string) => {
    if (!/^[0-9a-f]{64}$/.test(sha)) throw new Error(`not a sha256: ${sha}`);
    return path.join(root, sha.slice(0, 2), sha.slice(2));
  };
  return {
    async adopt(tmpPath, sha256) {
      const dest = blobPath(sha256);
      if (fs.existsSync(dest)) {
        await fs.promises.rm(tmpPath, { force: true });
        return;
      }
      await fs.promises.mkdir(path.dirname(dest), { recursive: true });
      await fs.promises.rename(tmpPath, dest);
    },
    has: (sha) => fs.existsSync(blobPath(sha)),
    path: blobPath,
    read: (sha) => fs.createReadStream(blobPath(sha)),
    tmpPath: (label) =>
      path.join(
        tmp,
        `${Date.now()}-${process.pid}-${crypto.randomBytes(4).toString("hex")}-${label.replace(/[^a-z0-9.-]/gi, "_")}`,
      ),
  };
}

/** Removes temporary files older than a day (left behind by a crash mid-upload). */
export function sweepTmp(dataDir: string, olderThanMs = 24 * 3600_000): void {
  const tmp = path.join(dataDir, "tmp");
  if (!fs.existsSync(tmp)) return;
  const cutoff = Date.now() - olderThanMs;
  for (const f of fs.readdirSync(tmp)) {
    const p = path.join(tmp, f);
    try {
      if (fs.statSync(p).mtimeMs < cutoff) fs.rmSync(p, { force: true });
    } catch {
      // already gone
    }
  }
}
