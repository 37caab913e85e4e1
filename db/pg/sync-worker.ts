/**
 * The worker thread behind db/pg/sync.ts: it owns the Postgres pool and the async repos, answers each call the
 * main thread makes, and wakes the main thread (blocked in Atomics.wait) when the answer is on the port.
 * A function among a call's arguments (an EvalClaim's ownerAlive) is called back on the main thread.
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { migratePg, openPg } from "./client.ts";
import { pgChatButtons, pgChatRequests } from "./repos/chat.ts";
import { pgDatasetRepo } from "./repos/datasets.ts";
import { pgEngineRepo } from "./repos/engine.ts";
import { pgIterationRepo } from "./repos/iterations.ts";
import { pgPackRepo } from "./repos/packs.ts";
import { pgProposalRepo } from "./repos/proposals.ts";

const { url, flag: sab, migrations } = workerData as { url: string; flag: SharedArrayBuffer; migrations: string };
/** The channel to the main thread arrives as the first message (a port cannot travel in workerData here). */
const port: MessagePort = await new Promise((resolve) => parentPort!.once("message", resolve));
const flag = new Int32Array(sab);
const db = openPg(url, { application: "tuneloop-sync" });
const services: Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>> = {
  engine: pgEngineRepo(db) as never,
  datasets: pgDatasetRepo(db) as never,
  iterations: pgIterationRepo(db) as never,
  packs: pgPackRepo(db) as never,
  proposals: pgProposalRepo(db) as never,
  requests: pgChatRequests(db) as never,
  buttons: pgChatButtons(db) as never,
  admin: {
    migrate: () => migratePg(db, migrations),
    close: () => db.$client.end(),
  },
};

let nextCb = 0;
const callbacks = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

const wake = (msg: unknown) => {
  port.postMessage(msg);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};

/** Turns the main thread's function markers back into functions that call it. */
function revive(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object" && !(v instanceof Date)) {
    const o = v as Record<string, unknown>;
    if (typeof o.__fn === "number" && Object.keys(o).length === 1)
      return (...args: unknown[]) =>
        new Promise((resolve, reject) => {
          const cb = nextCb++;
          callbacks.set(cb, { resolve, reject });
          wake({ type: "callback", cb, fn: o.__fn, args });
        });
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, revive(x)]));
  }
  return v;
}

port.on("message", async (m: { type: string; [k: string]: unknown }) => {
  if (m.type === "callback-result") {
    const c = callbacks.get(m.cb as number);
    callbacks.delete(m.cb as number);
    if (m.error) c?.reject(new Error(String(m.error)));
    else c?.resolve(m.value);
    return;
  }
  if (m.type !== "call") return;
  try {
    const fn = services[m.target as string]?.[m.method as string];
    if (!fn) throw new Error(`no method ${m.target as string}.${m.method as string}`);
    const value = await fn(...(revive(m.args) as unknown[]));
    wake({ type: "result", id: m.id, value });
  } catch (err) {
    const e = err as Error & { code?: string; cause?: { message?: string; code?: string } };
    wake({
      type: "error",
      id: m.id,
      error: {
        message: e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message,
        code: e.cause?.code ?? e.code,
      },
    });
  }
});
