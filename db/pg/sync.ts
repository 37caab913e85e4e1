/**
 * Synchronous repos on Postgres.
 *
 * The core's storage ports (EngineRepo, DatasetRepo, IterationRepo in src/core/ports.ts; PackRepo, ProposalRepo)
 * are synchronous: they were written for better-sqlite3, and the engine relies on it (a claim, a budget check and its hold happen in one call
 * with no await between them). Rather than rewrite every caller to async at once, Postgres sits behind the same
 * synchronous ports: the async repos (db/pg/repos/*, drizzle over node-postgres) run in a worker thread, and each
 * call blocks the calling thread on Atomics.wait until the worker posts the answer (read with receiveMessageOnPort).
 *
 * The trade-off, honestly: while a statement runs on the database the event loop of the calling thread is blocked
 * (a local round trip is ~0.2-1 ms; a slow or remote database makes every command wait that long, and a database
 * that hangs stalls the process until `timeoutMs`, after which the call throws). It is the same model as
 * better-sqlite3 (which blocks on disk), and it keeps the engine's atomic steps atomic. Work that must not block
 * (the queue, leader leases, delivery dedupe) talks to Postgres asynchronously on its own pool (src/scale/).
 */
import { MessageChannel, receiveMessageOnPort, type Worker } from "node:worker_threads";
import type { ProposalRepo } from "../../src/core/iterate/types.ts";
import type { PackRepo } from "../../src/core/packs/types.ts";
import type { ButtonStore } from "../../src/chat/buttons.ts";
import type { RequestLog } from "../../src/chat/dedupe.ts";
import type { Clock, DatasetRepo, EngineRepo, IterationRepo } from "../../src/core/ports.ts";
import { startWorker } from "../../src/lib/worker.ts";
import { pgMigrationsFolder, redactUrl } from "./url.ts";

export interface PgSync {
  engine: EngineRepo;
  datasets: DatasetRepo;
  iterations: IterationRepo;
  packs: PackRepo;
  proposals: ProposalRepo;
  url: string;
  /** Chat requests already taken (src/chat/dedupe.ts), shared by every replica on this database. */
  requestLog(clock: Clock): RequestLog;
  /** Long button commands (src/chat/buttons.ts), shared by every replica on this database. */
  buttonStore(clock: Clock): ButtonStore;
  close(): Promise<void>;
}

export class PgSyncError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "PgSyncError";
  }
}

export function openPgSync(url: string, opts: { timeoutMs?: number } = {}): PgSync {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker: Worker = startWorker(
    new URL("./sync-worker.ts", import.meta.url),
    { url, flag: flag.buffer, migrations: pgMigrationsFolder },
    { bundle: true },
  );
  worker.postMessage(port2, [port2]);
  worker.unref();
  let nextId = 0;
  let closed = false;

  const call = (target: string, method: string, args: unknown[]): unknown => {
    if (closed) throw new PgSyncError("the Postgres connection is closed");
    const fns: Array<(...a: unknown[]) => unknown> = [];
    const mark = (v: unknown): unknown => {
      if (typeof v === "function") return { __fn: fns.push(v as (...a: unknown[]) => unknown) - 1 };
      if (Array.isArray(v)) return v.map(mark);
      if (v && typeof v === "object" && !(v instanceof Date))
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mark(x)]));
      return v;
    };
    const id = nextId++;
    Atomics.store(flag, 0, 0);
    port1.postMessage({ type: "call", id, target, method, args: mark(args) });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = receiveMessageOnPort(port1);
      if (!got) {
        const left = deadline - Date.now();
        if (left <= 0)
          throw new PgSyncError(
            `Postgres (${redactUrl(url)}) did not answer ${target}.${method} within ${timeoutMs / 1000} s: check that the database is up and reachable`,
            "timeout",
          );
        Atomics.wait(flag, 0, 0, Math.min(left, 1000));
        Atomics.store(flag, 0, 0);
        continue;
      }
      const m = got.message as { type: string; [k: string]: unknown };
      if (m.type === "callback") {
        try {
          const value = fns[m.fn as number](...(m.args as unknown[]));
          port1.postMessage({ type: "callback-result", cb: m.cb, value });
        } catch (err) {
          port1.postMessage({ type: "callback-result", cb: m.cb, error: (err as Error).message });
        }
        continue;
      }
      if (m.id !== id) continue; // an answer to a call that timed out earlier
      if (m.type === "error") {
        const e = m.error as { message: string; code?: string };
        throw new PgSyncError(e.message, e.code);
      }
      return m.value;
    }
  };

  const proxy = <T>(target: string): T =>
    new Proxy({} as Record<string, unknown>, {
      get: (_, method) => (typeof method === "string" ? (...args: unknown[]) => call(target, method, args) : undefined),
    }) as T;

  call("admin", "migrate", []);
  return {
    engine: proxy<EngineRepo>("engine"),
    datasets: proxy<DatasetRepo>("datasets"),
    iterations: proxy<IterationRepo>("iterations"),
    packs: proxy<PackRepo>("packs"),
    proposals: proxy<ProposalRepo>("proposals"),
    url,
    requestLog: (clock) => ({ first: (key) => call("requests", "first", [key, clock.now()]) as boolean }),
    buttonStore: (clock) => ({
      keep: (key, command) => void call("buttons", "keep", [key, command, clock.now()]),
      command: (key) => call("buttons", "command", [key]) as string | null,
    }),
    async close() {
      if (closed) return;
      try {
        call("admin", "close", []);
      } finally {
        closed = true;
        port1.close();
        await worker.terminate();
      }
    },
  };
}
