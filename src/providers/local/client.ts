/**
 * LocalTrainerClient: the main-thread face of the local trainer. Training and generation run on one worker thread
 * (worker.ts), started on first use; jobs run one at a time in the order they were sent (a generate sent during a
 * training run waits for it). The worker keeps the process alive only while a job is pending.
 */
import type { Worker } from "node:worker_threads";
import { CancelledError } from "../../core/trainer.ts";
import { startWorker } from "../../lib/worker.ts";
import type { LocalBackend } from "./tf.ts";
import type { TrainExample, TrainHyper, TrainProgress } from "./train.ts";
import { ErrorCode } from "../../errors.ts";

export interface LocalTrainSpec {
  examples: TrainExample[];
  /** Held-out examples: validation loss before training and at the end of each epoch. */
  validation?: TrainExample[];
  hyper: TrainHyper;
  /** Where the adapter is written (adapter.json + weights.bin). */
  adapterDir: string;
}

export interface LocalTrainOutcome {
  adapterDir: string;
  steps: number;
  tokens: number;
  /** Mean loss of the last 5 steps (or fewer). */
  finalLoss: number;
  losses: number[];
  wallMs: number;
}

export interface LocalGenerateOptions {
  /** A folder written by train() (absent: the base model). */
  adapterDir?: string;
  maxTokens: number;
  /** 0 or absent: greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
}

export interface LocalGeneration {
  /** The completion, without the leading word space (see template.ts). */
  text: string;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  finishReason: "stop" | "length";
}

/** An error reported by the worker; `code` is set for known cases ("cancelled", "local_adapter_mismatch", ...). */
export class LocalTrainerError extends Error {
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.name = "LocalTrainerError";
    this.code = code;
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: (p: TrainProgress) => void;
}

export class LocalTrainerClient {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly opts: { modelDir: string; backend?: LocalBackend }) {}

  train(
    spec: LocalTrainSpec,
    onProgress: (p: TrainProgress) => void,
    signal?: AbortSignal,
  ): Promise<LocalTrainOutcome> {
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const stop = new SharedArrayBuffer(4);
    const flag = new Int32Array(stop);
    const onAbort = () => Atomics.store(flag, 0, 1);
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = this.request<LocalTrainOutcome>({ type: "train", spec, stop }, onProgress);
    return done.finally(() => signal?.removeEventListener("abort", onAbort));
  }

  generate(prompts: string[], opts: LocalGenerateOptions): Promise<LocalGeneration[]> {
    if (prompts.length === 0) return Promise.resolve([]);
    return this.request<LocalGeneration[]>({ type: "generate", prompts, opts });
  }

  /** Stops the worker; pending jobs reject. A later call starts a new worker. */
  close(): void {
    const w = this.worker;
    this.worker = null;
    if (w) void w.terminate();
    this.failAll(new LocalTrainerError("the local trainer was closed", "closed"));
  }

  private request<T>(msg: Record<string, unknown>, onProgress?: (p: TrainProgress) => void): Promise<T> {
    const id = this.nextId++;
    const w = this.ensureWorker();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      w.ref();
      w.postMessage({ ...msg, id });
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(new URL("./worker.ts", import.meta.url), {
      modelDir: this.opts.modelDir,
      backend: this.opts.backend ?? "wasm",
    });
    this.worker = w;
    w.on(
      "message",
      (m: {
        type: string;
        id: number;
        progress?: TrainProgress;
        result?: unknown;
        error?: { message: string; code?: string };
      }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        if (m.type === "progress") {
          if (m.progress) p.onProgress?.(m.progress);
          return;
        }
        this.pending.delete(m.id);
        if (this.pending.size === 0) w.unref();
        if (m.type === "result") p.resolve(m.result);
        else if (m.error?.code === ErrorCode.Cancelled) p.reject(new CancelledError(m.error.message));
        else p.reject(new LocalTrainerError(m.error?.message ?? "local trainer failed", m.error?.code));
      },
    );
    w.on("error", (err) => {
      if (this.worker === w) this.worker = null;
      this.failAll(new LocalTrainerError(`local trainer worker failed: ${err.message}`, ErrorCode.LocalWorkerFailed));
    });
    w.on("exit", (code) => {
      if (this.worker === w) this.worker = null;
      this.failAll(new LocalTrainerError(`local trainer worker exited with code ${code}`, ErrorCode.LocalWorkerFailed));
    });
    return w;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
