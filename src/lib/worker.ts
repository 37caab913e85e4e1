/**
 * Starting worker threads that run TypeScript modules.
 *
 * A worker booted through tsx (worker-boot.mjs) carries its own copy of tsx's loader, ~30-40 MB a thread. So a
 * worker asked for with `bundle: true` runs instead from a plain-JS bundle of its module and the project files it
 * imports (esbuild, ~30 ms; packages stay imports, resolved from node_modules), started without the parent's
 * `--import tsx`. The bundle is written under node_modules/.cache/tuneloop-workers, named by its content's hash,
 * so it is always the current source. Where bundling cannot be done (no esbuild, a read-only folder) the worker
 * boots through tsx as before.
 *
 * Inside a bundle `import.meta.url` is the bundle's place, not the source file's: a bundled module that starts
 * another worker is handed that module's URL by its parent (see run-ingest.ts), and this file learns the
 * project root from workerData.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, workerData } from "node:worker_threads";

type Inherited = { __tuneloopRoot?: string } | null | undefined;

/** The repository root: from this file's place, or from the thread that started this one (inside a bundle). */
const ROOT: string = (workerData as Inherited)?.__tuneloopRoot ?? fileURLToPath(new URL("../../", import.meta.url));
const BOOT = pathToFileURL(path.join(ROOT, "src", "lib", "worker-boot.mjs"));
const CACHE = path.join(ROOT, "node_modules", ".cache", "tuneloop-workers");
/** Bundles of earlier sources are removed once this old (a running bot rebuilds one that has gone). */
const STALE_MS = 7 * 24 * 3600 * 1000;

const bundles = new Map<string, string | null>();

/** The parent's flags without tsx's loader (a bundled worker needs none). */
function plainExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if ((a === "--import" || a === "--require" || a === "-r" || a === "--loader") && /tsx/.test(args[i + 1] ?? "")) {
      i++;
      continue;
    }
    if (/^--(import|require|loader|experimental-loader)=.*tsx/.test(a)) continue;
    out.push(a);
  }
  return out;
}

/** Path of a plain-JS bundle of `module`, or null where one cannot be made here. */
export function bundleWorker(module: URL): string | null {
  const key = module.href;
  const known = bundles.get(key);
  if (known === null || (known !== undefined && fs.existsSync(known))) return known;
  let entry: string | null = null;
  try {
    const require = createRequire(path.join(ROOT, "package.json"));
    const esbuild = require("esbuild") as typeof import("esbuild");
    const source = fileURLToPath(module);
    const name = path.basename(source).replace(/\.[cm]?[jt]s$/, "");
    // Split so a module imported with import() stays a separate file, loaded only when the worker asks for it
    // (a thread that never counts tokens never loads the tokenizer).
    const built = esbuild.buildSync({
      entryPoints: { [name]: source },
      bundle: true,
      splitting: true,
      outdir: "/",
      outExtension: { ".js": ".mjs" },
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      sourcemap: "inline",
      write: false,
      logLevel: "silent",
    });
    const hash = crypto.createHash("sha256");
    for (const f of built.outputFiles) hash.update(f.path).update(f.contents);
    const dir = path.join(CACHE, `${name}-${hash.digest("hex").slice(0, 16)}`);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(CACHE, { recursive: true });
      const tmp = fs.mkdtempSync(path.join(CACHE, `.${name}-`));
      for (const f of built.outputFiles) fs.writeFileSync(path.join(tmp, path.basename(f.path)), f.contents);
      try {
        fs.renameSync(tmp, dir);
      } catch {
        fs.rmSync(tmp, { recursive: true, force: true }); // another process wrote the same bundle first
      }
      prune(name, dir);
    }
    entry = path.join(dir, `${name}.mjs`);
    if (!fs.existsSync(entry)) entry = null;
  } catch {
    entry = null;
  }
  bundles.set(key, entry);
  return entry;
}

/**
 * Removes this module's bundles from earlier sources once they are STALE_MS old (and half-written folders of a
 * process that died while writing one).
 */
function prune(name: string, keep: string) {
  const now = Date.now();
  for (const f of fs.readdirSync(CACHE)) {
    const p = path.join(CACHE, f);
    const ours = f.startsWith(`${name}-`) && /-[0-9a-f]{16}$/.test(f);
    const unfinished = f.startsWith(`.${name}-`);
    if (p === keep || !(ours || unfinished)) continue;
    try {
      if (now - fs.statSync(p).mtimeMs > STALE_MS) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another process pruned it first
    }
  }
}

/** Starts a worker thread running a TypeScript module (a URL, usually `new URL("./x-worker.ts", import.meta.url)`). */
export function startWorker(
  module: URL,
  data: Record<string, unknown>,
  opts: { resourceLimits?: Worker["resourceLimits"]; bundle?: boolean } = {},
): Worker {
  const workerData = { ...data, __tuneloopRoot: ROOT };
  const bundled = opts.bundle ? bundleWorker(module) : null;
  if (bundled) {
    const start = (execArgv: string[]) =>
      new Worker(bundled, { workerData, execArgv, resourceLimits: opts.resourceLimits });
    try {
      return start([...plainExecArgv(), "--enable-source-maps"]);
    } catch (err) {
      // a process-wide flag (a V8 one such as --expose-gc) cannot be given to a worker: start it without them
      if ((err as { code?: string }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw err;
      return start(["--enable-source-maps"]);
    }
  }
  return new Worker(BOOT, {
    workerData: { ...workerData, __module: module.href },
    resourceLimits: opts.resourceLimits,
  });
}
