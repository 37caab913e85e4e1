import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BlobStore } from "../core/ports.ts";

/** This machine, in temporary files' names: a process id means something only on the machine that gave it. */
const HOST_TAG = crypto.createHash("sha256").update(os.hostname()).digest("hex").slice(0, 8);

/** This process, apart from an earlier one that had the same id (a container's bot is often pid 1 every time). */
const INSTANCE = crypto.randomBytes(3).toString("hex");

/**
 * `<ms>-<pid>-<host tag>-<instance>-<random>-<label>`: who owns a temporary file, so a sweep can tell whether it is
 * still in flight.
 */
const TMP_NAME = /^(\d+)-(\d+)-([0-9a-f]{8})-([0-9a-f]{6})-[0-9a-f]{8}-/;

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
        `${Date.now()}-${process.pid}-${HOST_TAG}-${INSTANCE}-${crypto.randomBytes(4).toString("hex")}-${label.replace(/[^a-z0-9.-]/gi, "_")}`,
      ),
  };
}

/** Whether a process with this id runs on this machine (EPERM: it runs, as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes temporary files left behind by a process that is gone (an upload killed mid-way), at start. A file whose
 * owner still runs on this machine (a running bot's download, when the CLI starts beside it; this process's own
 * files) is left alone; an earlier process that had this process's id is gone. Files of other machines (a shared
 * data folder) and of unknown owners go after `olderThanMs`, as does a file whose owner's id was taken by another
 * process since.
 */
export function sweepTmp(dataDir: string, olderThanMs = 24 * 3600_000): void {
  const tmp = path.join(dataDir, "tmp");
  if (!fs.existsSync(tmp)) return;
  const cutoff = Date.now() - olderThanMs;
  for (const f of fs.readdirSync(tmp)) {
    const p = path.join(tmp, f);
    try {
      const m = TMP_NAME.exec(f);
      const pid = m ? Number(m[2]) : 0;
      const ownerGone = m !== null && m[3] === HOST_TAG && (pid === process.pid ? m[4] !== INSTANCE : !alive(pid));
      if (ownerGone || fs.statSync(p).mtimeMs < cutoff) fs.rmSync(p, { force: true, recursive: true });
    } catch {
      // already gone
    }
  }
}
