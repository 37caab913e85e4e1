/**
 * Starts an entry of the build in bin/dist (bin/build.mjs), building it first where there is none or a source is
 * newer than it (a fresh clone without `npm ci`, an edited source). Where no build can be made (no esbuild, a
 * read-only checkout) the TypeScript sources run through tsx, as slow to start as before but the same program.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DIST = path.join(ROOT, "bin", "dist");

/** The built entry's path when the build is there and no source is newer than it, else null. */
function current(name) {
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(DIST, "manifest.json"), "utf8"));
  } catch {
    return null;
  }
  const entry = manifest.entries?.[name];
  if (!entry) return null;
  for (const input of manifest.inputs) {
    try {
      if (fs.statSync(path.join(ROOT, input)).mtimeMs > manifest.builtAt) return null;
    } catch {
      return null; // a source removed or renamed
    }
  }
  const file = path.join(DIST, entry);
  return fs.existsSync(file) ? file : null;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Builds unless another process is building already (the lock bin/dist/.lock): then waits for its build. A lock
 * older than two minutes is a crashed build's, and is taken over.
 */
async function buildOnce(name) {
  const lock = path.join(DIST, ".lock");
  fs.mkdirSync(DIST, { recursive: true });
  try {
    fs.mkdirSync(lock);
  } catch {
    const t0 = Date.now();
    while (fs.existsSync(lock) && Date.now() - t0 < 120_000) {
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 120_000) break;
      } catch {
        break;
      }
      await sleep(100);
    }
    if (current(name)) return;
    fs.rmSync(lock, { recursive: true, force: true });
    fs.mkdirSync(lock, { recursive: true });
  }
  try {
    const { build } = await import("./build.mjs");
    await build();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Runs entry `name` ("tuneloop" or "start") of the build; `source` is its TypeScript file, for the fallback. */
export async function launch(name, source) {
  let file = current(name);
  if (!file) {
    try {
      await buildOnce(name);
      file = current(name);
    } catch (err) {
      process.stderr.write(`tuneloop: could not build bin/dist (${err.message}); running the sources through tsx\n`);
    }
  }
  if (file) {
    await import(pathToFileURL(file).href);
    return;
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(path.join(ROOT, source)).href);
}
