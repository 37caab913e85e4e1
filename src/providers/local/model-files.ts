/**
 * Where the local model's two files come from: a folder the user names (TUNELOOP_LOCAL_MODEL_DIR), or a download
 * from their public origin (Karpathy's tinyllamas on Hugging Face) into a cache folder, checked against known
 * sha256s and written atomically (temporary file + rename), so a half-downloaded or tampered file is never used.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { TuneError, ErrorCode } from "../../errors.ts";

export const MODEL_NAME = "stories260K";
export const CHECKPOINT_FILE = "stories260K.bin";
export const TOKENIZER_FILE = "tok512.bin";
export const MODEL_DIR_ENV = "TUNELOOP_LOCAL_MODEL_DIR";
export const DEFAULT_BASE_URL = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K";

export const MODEL_FILES: Record<string, { sha256: string; bytes: number }> = {
  [CHECKPOINT_FILE]: { sha256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696", bytes: 1_056_540 },
  [TOKENIZER_FILE]: { sha256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312", bytes: 6_227 },
};

export interface ResolveModelDirOptions {
  /** A folder holding stories260K.bin and tok512.bin (the TUNELOOP_LOCAL_MODEL_DIR setting). */
  modelDir?: string;
  /** Where downloads go (a stories260K/ folder is made inside). */
  cacheDir: string;
  fetchImpl?: typeof fetch;
  /** Base URL of the two files (default: the Hugging Face origin); tests point it at a local server. */
  baseUrl?: string;
  /** Per-file download timeout (default 120 s). */
  timeoutMs?: number;
}

const hint = `set ${MODEL_DIR_ENV} to a folder with ${CHECKPOINT_FILE} and ${TOKENIZER_FILE}`;

function sha256File(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Returns a folder holding both model files, downloading them into cacheDir when no modelDir is given. */
export async function resolveModelDir(opts: ResolveModelDirOptions): Promise<string> {
  if (opts.modelDir) {
    const dir = path.resolve(opts.modelDir);
    const missing = [CHECKPOINT_FILE, TOKENIZER_FILE].filter((f) => !fs.existsSync(path.join(dir, f)));
    if (missing.length > 0) {
      throw new TuneError(
        ErrorCode.LocalModelUnavailable,
        `${MODEL_DIR_ENV} is ${dir}, but ${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} not there; ${hint} (or unset it to download them).`,
        { modelDir: dir, missing },
      );
    }
    return dir;
  }
  const dir = path.join(path.resolve(opts.cacheDir), MODEL_NAME);
  fs.mkdirSync(dir, { recursive: true });
  const fetchImpl = opts.fetchImpl ?? fetch;
  const base = (opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
  for (const [file, want] of Object.entries(MODEL_FILES)) {
    const dest = path.join(dir, file);
    if (fs.existsSync(dest) && sha256File(dest) === want.sha256) continue;
    const url = `${base}/${file}`;
    let bytes: Buffer;
    try {
      const res = await fetchImpl(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 120_000), redirect: "follow" });
      if (!res.ok) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
      bytes = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      const reason = (err as Error).cause
        ? `${(err as Error).message}: ${String(((err as Error).cause as Error).message ?? (err as Error).cause)}`
        : (err as Error).message;
      throw new TuneError(ErrorCode.LocalModelUnavailable, `could not download ${url} (${reason}); ${hint}.`, { url });
    }
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (sha !== want.sha256) {
      throw new TuneError(
        ErrorCode.LocalModelUnavailable,
        `could not download ${url}: the file has sha256 ${sha} (${bytes.length} bytes), expected ${want.sha256}, so it was not saved; ${hint}.`,
        { url, sha256: sha, expected: want.sha256 },
      );
    }
    const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, dest);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }
  return dir;
}
