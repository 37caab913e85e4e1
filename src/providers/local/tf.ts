/**
 * tfjs set-up for the local trainer: the wasm backend (XNNPACK, SIMD, single-threaded: wasm threads do not work in
 * Node, so parallelism belongs at a higher level, e.g. one worker thread per job), or the pure-JS cpu backend
 * (~15x slower; a fallback only).
 */
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { registerLocalGradients } from "./grads.ts";

export type LocalBackend = "wasm" | "cpu";

let ready: Promise<typeof tf> | null = null;
let chosen: LocalBackend | null = null;

/** The folder holding tfjs-backend-wasm's .wasm files (the package's dist folder). */
export function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
}

/**
 * Initialises tfjs once per thread with the given backend (default wasm; absent: whatever is already initialised)
 * and returns the tf namespace.
 */
export function initTf(requested?: LocalBackend): Promise<typeof tf> {
  if (ready) {
    if (requested && chosen !== requested)
      throw new Error(`tfjs already initialised with the ${chosen} backend in this thread`);
    return ready;
  }
  const backend: LocalBackend = requested ?? "wasm";
  chosen = backend;
  ready = (async () => {
    // The emscripten glue of the wasm backend installs process-wide uncaughtException/unhandledRejection listeners
    // that rethrow (which would defeat the host's own handlers and dump minified source); remove what it adds.
    const beforeException = new Set(process.listeners("uncaughtException"));
    const beforeRejection = new Set(process.listeners("unhandledRejection"));
    const restoreListeners = () => {
      for (const l of process.listeners("uncaughtException"))
        if (!beforeException.has(l)) process.removeListener("uncaughtException", l);
      for (const l of process.listeners("unhandledRejection"))
        if (!beforeRejection.has(l)) process.removeListener("unhandledRejection", l);
    };
    if (backend === "wasm") {
      const wasm = await import("@tensorflow/tfjs-backend-wasm");
      wasm.setWasmPaths(`${wasmDistDir()}${path.sep}`);
    } else {
      await import("@tensorflow/tfjs-backend-cpu");
    }
    const ok = await tf.setBackend(backend);
    if (!ok) throw new Error(`could not initialise the tfjs ${backend} backend`);
    await tf.ready();
    restoreListeners();
    registerLocalGradients();
    return tf;
  })();
  ready.catch(() => {
    ready = null;
    chosen = null;
  });
  return ready;
}

export { tf };
