/**
 * What a command may read or write on the bot's host, decided by the surface a request came from.
 *
 * - An `Attachment` (the file a command reads) has no public constructor. There are exactly two ways to get one:
 *   `receiveUpload`, for chat surfaces: the bot itself picks a new path in its temporary folder and the adapter only
 *   fills it with the bytes it downloaded from the platform; and `HostAccess.attach`, for the CLI and the console:
 *   a path the person at the machine named. A chat adapter therefore cannot hand a command a host file, whatever a
 *   message says.
 * - `HostAccess` is the right to name host paths (`--file`, `--out`, the CLI's FILE word). Only the CLI and the
 *   console create it, and put it in their command context; chat contexts and a schedule's fires have none, so the
 *   parser refuses host-path options there (commands/parse.ts) and a handler has nothing to write with.
 */
import fs from "node:fs";
import path from "node:path";
import type { BlobStore } from "../src/core/ports.ts";

export type AttachmentOrigin = "upload" | "host";

let mint: (filename: string, filePath: string, origin: AttachmentOrigin) => Attachment;

export class Attachment {
  readonly #origin: AttachmentOrigin;

  private constructor(
    /** The name the file had (display only, never a path). */
    readonly filename: string,
    /** The local file holding the bytes. */
    readonly path: string,
    origin: AttachmentOrigin,
  ) {
    this.#origin = origin;
  }

  static {
    mint = (filename, filePath, origin) => new Attachment(filename, filePath, origin);
  }

  /** "upload": bytes a chat member uploaded, downloaded by the bot; "host": a path named at the CLI or console. */
  get origin(): AttachmentOrigin {
    return this.#origin;
  }

  /** True for an object made by receiveUpload or HostAccess.attach (a look-alike made from a path is not). */
  static isGenuine(x: unknown): x is Attachment {
    return typeof x === "object" && x !== null && #origin in x;
  }

  /** Removes an upload's temporary file (a host file is never touched). */
  discard(): void {
    if (this.#origin === "upload") fs.rmSync(this.path, { force: true });
  }
}

/** A platform's file name as a plain name: its last path part, without control or format characters. */
export function displayName(name: string): string {
  const base = path.basename(name.replace(/\\/g, "/")).replace(/[\p{Cc}\p{Cf}]/gu, "");
  return base && base !== "." && base !== ".." ? base.slice(0, 200) : "upload";
}

/**
 * A chat upload: a new file in the bot's temporary folder, filled by `fill` (the adapter's download). A failed
 * download leaves nothing behind. The caller discards the attachment when the command is done. `source` names
 * the platform in the temporary file's name (e.g. "discord").
 */
export async function receiveUpload(
  blobs: BlobStore,
  filename: string,
  fill: (dest: string) => Promise<void>,
  source = "upload",
): Promise<Attachment> {
  const name = displayName(filename);
  const dest = blobs.tmpPath(`${source}-${name}`);
  try {
    await fill(dest);
    if (!fs.statSync(dest).isFile()) throw new Error(`the download did not leave a file at ${dest}`);
  } catch (err) {
    fs.rmSync(dest, { force: true, recursive: true });
    throw err;
  }
  return mint(name, dest, "upload");
}

/** The right to name paths on the host: the CLI's and the console's, never a chat surface's. */
export class HostAccess {
  readonly #surface: "cli" | "console";

  private constructor(surface: "cli" | "console") {
    this.#surface = surface;
  }

  /** For the person at the machine (the CLI, the console chat), who owns the data folder. */
  static forTerminal(surface: "cli" | "console"): HostAccess {
    if (surface !== "cli" && surface !== "console") {
      throw new Error(`host access is for the CLI and the console only, not ${String(surface)}`);
    }
    return new HostAccess(surface);
  }

  get surface(): "cli" | "console" {
    return this.#surface;
  }

  /** A file on the host to read, as named (relative to the working folder). */
  attach(p: string): Attachment {
    const abs = path.resolve(p);
    return mint(path.basename(abs), abs, "host");
  }

  /** Writes a file on the host atomically (a temporary file, then a rename); returns its absolute path. */
  writeFile(p: string, content: string | Uint8Array): string {
    const dest = path.resolve(p);
    const tmp = `${dest}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, dest);
    return dest;
  }
}
