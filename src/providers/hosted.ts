import type { ProviderQuote } from "../core/trainer.ts";
/**
 * What the hosted fine-tuning providers (Together, OpenAI) share: a JSON/multipart REST client with retries
 * (429/5xx/network errors, backoff with jitter, Retry-After honoured, a timeout per request, the key scrubbed from
 * every message), the polling loop (first poll and interval from TUNELOOP_POLL_INTERVAL_MS, backoff while nothing
 * changes, an outage marks the run stalled and polling goes on), an in-process wake-up for webhooks, and the
 * conversion of normalised rows to chat JSONL with the checks both providers apply to it.
 */
import crypto from "node:crypto";
import { EventEmitter } from "node:events";
import type { LocatedRow } from "../core/datasets/types.ts";
import { findModelIn, type PriceEntry } from "../core/costs/estimate.ts";
import { loadCostTables } from "./tables.ts";
import { fmt } from "../core/format.ts";
import type { Pricing } from "../core/inference.ts";
import { CancelledError, type TrainJob } from "../core/trainer.ts";
import { TuneError, ErrorCode } from "../errors.ts";
import { request, type HttpResponse } from "../lib/http.ts";
import { sleep } from "../lib/limit.ts";
import { nextRetryMs, retryableStatus, retryAfterHeader } from "../lib/retry.ts";
import { scrubberFor } from "../lib/secrets.ts";

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** The provider answered with a refusal that retrying will not change (4xx other than 429). */
export class ProviderHttpError extends Error {
  constructor(
    readonly provider: string,
    readonly status: number,
    /** The provider's own message (from `{"error": {"message"}}` or the raw body), key scrubbed, at most 500 chars. */
    readonly providerMessage: string,
    readonly body: string,
  ) {
    super(`${provider} answered HTTP ${status}: ${providerMessage}`);
    this.name = "ProviderHttpError";
  }
}

/** The provider did not answer usefully within the retries (5xx, 429, network errors, timeouts): an outage. */
export class ProviderUnavailableError extends Error {
  constructor(
    readonly provider: string,
    message: string,
  ) {
    super(message);
    this.name = "ProviderUnavailableError";
  }
}

/** The provider's message out of an error body: `{"error": {"message"}}`, `{"error": "..."}`, `{"message"}`, or text. */
export function providerMessage(raw: string, status: number): string {
  try {
    const j = JSON.parse(raw) as { error?: { message?: string; code?: string } | string; message?: string };
    const m = typeof j.error === "string" ? j.error : (j.error?.message ?? j.message);
    const code = typeof j.error === "object" && j.error?.code ? ` (${j.error.code})` : "";
    if (m) return `${m}${code}`.slice(0, 500);
  } catch {
    // not JSON
  }
  return raw.trim().slice(0, 500) || `status ${status}`;
}

// ---------------------------------------------------------------------------------------------------------------
// REST client

export interface ApiClientOptions {
  /** Shown in messages ("Together", "OpenAI"). */
  name: string;
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  maxRetries: number;
  /** First backoff step (doubles per attempt, full jitter, capped at 30 s); Retry-After wins when sent. */
  retryBaseMs: number;
}

export interface ApiDeps {
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Sees every retry (tests; logs). */
  onRetry?: (info: { method: string; path: string; attempt: number; status: number | null; delayMs: number }) => void;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Overrides the client's maxRetries. */
  maxRetries?: number;
  /**
   * false: an unsure create (src/lib/retry.ts): a 5xx, timeout or cut connection is not retried here (the request may
   * have been carried out: a create first looks for what it made, then tries again). A 429 or a connection never
   * made is retried: the request was not run.
   */
  retryUnsure?: boolean;
}

export class ApiClient {
  private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    readonly opts: ApiClientOptions,
    private readonly deps: ApiDeps = {},
  ) {
    this.wait = deps.sleep ?? sleep;
  }

  get name() {
    return this.opts.name;
  }

  url(path: string, query?: RequestOptions["query"]): string {
    const u = new URL(`${this.opts.baseUrl.replace(/\/+$/, "")}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** A JSON request; returns the parsed body of a 2xx answer. */
  async json<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...o.headers };
    let body: string | undefined;
    if (o.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    const res = await this.send(method, path, { headers, body, query: o.query, signal: o.signal }, o);
    try {
      return (res.text ? JSON.parse(res.text) : {}) as T;
    } catch {
      throw new ProviderUnavailableError(
        this.name,
        `${this.name} sent a body that is not JSON for ${method} ${path}: ${this.scrub(res.text.slice(0, 200))}`,
      );
    }
  }

  /** A multipart/form-data POST with text fields and one file. */
  async multipart<T>(
    path: string,
    fields: Record<string, string>,
    file: { field: string; filename: string; content: string; contentType: string },
    o: Omit<RequestOptions, "body" | "query"> = {},
  ): Promise<T> {
    const boundary = `----tuneloop${crypto.randomBytes(12).toString("hex")}`;
    const parts: string[] = [];
    for (const [k, v] of Object.entries(fields)) {
      parts.push(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
    }
    parts.push(
      `--${boundary}\r\ncontent-disposition: form-data; name="${file.field}"; filename="${file.filename.replace(/"/g, "")}"\r\ncontent-type: ${file.contentType}\r\n\r\n${file.content}\r\n`,
    );
    parts.push(`--${boundary}--\r\n`);
    const headers = {
      accept: "application/json",
      "content-type": `multipart/form-data; boundary=${boundary}`,
      ...o.headers,
    };
    const res = await this.send("POST", path, { headers, body: parts.join(""), signal: o.signal }, o);
    return JSON.parse(res.text) as T;
  }

  private async send(
    method: string,
    path: string,
    r: { headers: Record<string, string>; body?: string; query?: RequestOptions["query"]; signal?: AbortSignal },
    o: Pick<RequestOptions, "maxRetries" | "retryUnsure"> = {},
  ): Promise<HttpResponse> {
    const maxRetries = o.maxRetries ?? this.opts.maxRetries;
    const url = this.url(path, r.query);
    const headers = { ...r.headers, authorization: `Bearer ${this.opts.apiKey}` };
    for (let attempt = 0; ; attempt++) {
      let status: number | null = null;
      let retryAfter: string | null = null;
      let error: unknown;
      let failure: string;
      try {
        const timeout = AbortSignal.timeout(this.opts.timeoutMs);
        const res = await request(method, url, {
          headers,
          body: r.body,
          signal: r.signal ? AbortSignal.any([r.signal, timeout]) : timeout,
        });
        status = res.status;
        if (res.status >= 200 && res.status < 300) return res;
        retryAfter = retryAfterHeader(res.headers);
        const msg = this.scrub(providerMessage(res.text, res.status));
        if (!retryableStatus(res.status)) {
          throw new ProviderHttpError(this.name, res.status, msg, this.scrub(res.text.slice(0, 2000)));
        }
        failure = `HTTP ${res.status}: ${msg}`;
      } catch (err) {
        if (err instanceof ProviderHttpError) throw err;
        if (r.signal?.aborted) throw r.signal.reason ?? err;
        error = err;
        const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
        failure = timedOut
          ? `no answer within ${this.opts.timeoutMs} ms`
          : `network error: ${this.scrub(String((err as Error)?.message ?? err))}`;
      }
      const delayMs = nextRetryMs(
        attempt,
        { status, retryAfter, error },
        { maxRetries, create: o.retryUnsure === false, baseMs: this.opts.retryBaseMs },
      );
      if (delayMs === null) {
        throw new ProviderUnavailableError(
          this.name,
          `${this.name} did not answer ${method} ${path} after ${attempt + 1} tries (last: ${failure})`,
        );
      }
      this.deps.onRetry?.({ method, path, attempt, status, delayMs });
      await this.wait(delayMs, r.signal);
    }
  }

  private scrubber?: (s: string) => string;

  /** Hides the key, and any 8+ character piece of it, in text from or about the provider. */
  scrub(s: string): string {
    this.scrubber ??= scrubberFor([this.opts.apiKey]);
    return this.scrubber(s);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Webhook wake-ups: a webhook handler calls wakeJob(jobId); a poller waiting on that job polls at once.

const wakes = new EventEmitter();
wakes.setMaxListeners(0);

/** Makes the poller of `jobId` (in this process) poll now instead of at its next interval. */
export function wakeJob(jobId: string): void {
  wakes.emit(jobId);
}

/** Sleeps `ms`, or less when wakeJob(jobId) is called; rejects with the signal's reason when aborted. */
export function sleepOrWake(ms: number, jobId: string, signal: AbortSignal, doSleep = sleep): Promise<void> {
  const ac = new AbortController();
  const onWake = () => ac.abort();
  wakes.once(jobId, onWake);
  return doSleep(ms, AbortSignal.any([signal, ac.signal]))
    .catch((err) => {
      if (signal.aborted) throw signal.reason ?? err;
      // woken: fall through
    })
    .finally(() => wakes.off(jobId, onWake));
}

// ---------------------------------------------------------------------------------------------------------------
// Polling

export interface PollSettings {
  /** First poll after this long, and the interval while the job changes. */
  intervalMs: number;
  /** The interval grows (x1.5 per unchanged poll, x2 per failed one) up to this. */
  maxIntervalMs: number;
}

export type PollStep<T> = { done: true; value: T } | { done: false; changed: boolean };

/**
 * Polls `step` until it says done. Unchanged polls back off; a provider outage (ProviderUnavailableError: retries
 * exhausted on 5xx/429/network errors) calls onStalled once and polling goes on with backoff; the first good answer
 * after that calls onRecovered. Refusals (ProviderHttpError) and anything else end the loop. A webhook for the job
 * (wakeJob) cuts a wait short.
 */
export async function pollUntil<T>(
  jobId: string,
  step: () => Promise<PollStep<T>>,
  o: PollSettings & {
    signal: AbortSignal;
    onStalled: (message: string, err: ProviderUnavailableError) => void;
    onRecovered: () => void;
    sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
    /** Skip the first wait (e.g. right after a restart). */
    immediate?: boolean;
  },
): Promise<T> {
  let delay = o.intervalMs;
  let stalled = false;
  if (!o.immediate) await sleepOrWake(delay, jobId, o.signal, o.sleep);
  for (;;) {
    if (o.signal.aborted) throw o.signal.reason;
    try {
      const r = await step();
      if (stalled) {
        stalled = false;
        o.onRecovered();
      }
      if (r.done) return r.value;
      delay = r.changed ? o.intervalMs : Math.min(o.maxIntervalMs, Math.round(delay * 1.5));
    } catch (err) {
      if (!(err instanceof ProviderUnavailableError) || o.signal.aborted) throw err;
      if (!stalled) {
        stalled = true;
        o.onStalled(
          `${err.message}. Still checking the job; the run goes on by itself when ${err.provider} is back.`,
          err,
        );
      }
      delay = Math.min(o.maxIntervalMs, delay * 2);
    }
    await sleepOrWake(delay, jobId, o.signal, o.sleep);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cancellation

/** True when the run was cancelled by a user (not: the worker stopping or losing its lease). */
export const cancelledByUser = (signal: AbortSignal) => signal.aborted && signal.reason instanceof CancelledError;

/**
 * Wraps a training body: when the user cancels, asks the provider to cancel its job (best effort, on a fresh
 * signal) and throws CancelledError; when the worker stops or loses its lease, leaves the job running (the next
 * worker resumes it) and rethrows the abort reason.
 */
export async function withCancel<T>(
  job: TrainJob,
  currentJobId: () => string | null,
  cancel: (jobId: string, signal: AbortSignal) => Promise<void>,
  body: () => Promise<T>,
): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (!job.signal.aborted) throw err;
    if (!cancelledByUser(job.signal)) throw job.signal.reason ?? err;
    const id = currentJobId();
    if (id) {
      try {
        await cancel(id, AbortSignal.timeout(30_000));
        job.onEvent?.(`Asked the provider to cancel job ${id}.`);
      } catch (e) {
        job.onEvent?.(
          `Could not cancel job ${id} at the provider (${(e as Error).message}); cancel it in the provider's dashboard to stop the charges.`,
        );
      }
    }
    throw job.signal.reason instanceof CancelledError ? job.signal.reason : new CancelledError();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Training data

/** One row as a chat JSONL line (the shape both providers take; mirrors DatasetService's `together` export). */
export function chatLine(r: LocatedRow): string {
  if (r.kind === "text") return JSON.stringify({ text: r.text });
  const obj: Record<string, unknown> = { messages: r.messages ?? [] };
  if (r.tools !== undefined) obj.tools = r.tools;
  return JSON.stringify(obj);
}

export function toJsonl(rows: readonly LocatedRow[]): string {
  return rows.length ? `${rows.map(chatLine).join("\n")}\n` : "";
}

export const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");

/** Problems of a row set, line-numbered from the original file; thrown as one TuneError when any. */
export function throwRowProblems(provider: string, problems: string[]): void {
  if (!problems.length) return;
  throw new TuneError(
    ErrorCode.ProviderFileInvalid,
    `${fmt.count(problems.length, "row")} cannot be sent to ${provider}: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? `; and ${problems.length - 5} more` : ""}. Fix them and upload a new dataset version.`,
    { problems: problems.slice(0, 100) },
  );
}

/** A short, stable id for names and keys: run 12 with key k -> "r12-3fa9c2d1". */
export function runTag(job: Pick<TrainJob, "run">): string {
  return `r${job.run.id}-${sha256(job.run.idempotencyKey).slice(0, 8)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Prices

/** The price entry of a provider's model, or null. */
export function priceEntry(provider: string, model: string): PriceEntry | null {
  try {
    return findModelIn(loadCostTables().prices, `${provider}:${model}`);
  } catch {
    return null;
  }
}

export function pricingOf(
  inputPer1M: number | null | undefined,
  outputPer1M: number | null | undefined,
): Pricing | null {
  return inputPer1M != null && outputPer1M != null ? { inputPer1M, outputPer1M } : null;
}

/** Progress arithmetic shared by both providers. */
export function rate(tokens: number, elapsedMs: number): number {
  return elapsedMs > 0 ? Math.round((tokens / elapsedMs) * 1000) : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Hyperparameters beyond the engine's Hyper

/**
 * Optional per-run settings the hosted providers read from `job.hyper` when present (the engine's Hyper does not
 * carry them yet; until it does, they come from the provider's settings).
 */
export interface HostedHyper {
  trainingType?: "lora" | "full";
  loraDropout?: number;
  warmupRatio?: number;
  nCheckpoints?: number;
  nEvals?: number;
  trainOnInputs?: boolean | "auto";
  /** OpenAI's learning-rate multiplier (the engine's learningRate is absolute). */
  learningRateMultiplier?: number;
}

/** Rows held out for validation, when the engine passes them (TrainJob has no such field yet). */
export type HostedTrainJob = TrainJob & { validRows?: LocatedRow[] };

/** The provider's own price estimate before a run starts, shown beside tuneloop's. */
export type { ProviderQuote };
