/**
 * OpenAI as a trainer and as inference through the official `openai` SDK (the base URL comes from OPENAI_BASE_URL),
 * and OpenAI's fine_tuning.job.* webhooks. The SDK's own retries are off (maxRetries: 0): tuneloop's loop below
 * retries 429/5xx/network errors with backoff honouring Retry-After (TUNELOOP_PROVIDER_RETRIES), so nothing is
 * retried twice, a create is never blindly retried after an unsure failure, and every retry is visible (ApiDeps).
 *
 * API reference (https://platform.openai.com/docs/api-reference):
 *   POST /files (multipart: purpose=fine-tune, file); OpenAI checks the file itself while the job is
 *     `validating_files` (a bad file fails the job with error.code/message/param);
 *   POST /fine_tuning/jobs (method: supervised, hyperparameters n_epochs, batch_size, learning_rate_multiplier;
 *     suffix; seed; validation_file; metadata), GET /fine_tuning/jobs?metadata[k]=v, GET /fine_tuning/jobs/{id},
 *   GET /fine_tuning/jobs/{id}/events?after&limit (newest first; `after` is the id of the last event of the previous
 *     page), GET /fine_tuning/jobs/{id}/checkpoints?after&limit, POST /fine_tuning/jobs/{id}/cancel;
 *   POST /chat/completions for evals of base and fine-tuned models;
 *   webhooks fine_tuning.job.succeeded|failed|cancelled, signed per Standard Webhooks (webhook-id,
 *     webhook-timestamp, webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", secret "whsec_<base64>").
 *
 * Job states and what the run shows: validating_files, queued, running -> running (with progress); succeeded ->
 * succeeded; failed -> failed with OpenAI's error shown; cancelled -> cancelled. Unknown states keep it running.
 *
 * OpenAI is closing new fine-tuning jobs: new organisations since 2026-05-07, idle ones since 2026-07-02, everyone
 * from 2027-01-06. A refused job gets a clear error; evals of existing fine-tuned models keep working.
 */
import crypto from "node:crypto";
import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError, toFile } from "openai";
import type { LocatedRow } from "../core/datasets/types.ts";
import { loadCostTables } from "./tables.ts";
import { fmt } from "../core/format.ts";
import type { Hyper } from "../core/ports.ts";
import type { CompletionRequest, CompletionResult, InferenceModel, Pricing } from "../core/inference.ts";
import { CancelledError, type TrainerProvider, type TrainOutcome } from "../core/trainer.ts";
import { TuneError, ErrorCode } from "../errors.ts";
import { Limiter, sleep } from "../lib/limit.ts";
import { nextRetryMs, retryableStatus, retryAfterHeader } from "../lib/retry.ts";
import {
  type ApiDeps,
  type HostedHyper,
  type HostedTrainJob,
  pollUntil,
  priceEntry,
  pricingOf,
  providerMessage,
  ProviderHttpError,
  ProviderUnavailableError,
  runTag,
  sha256,
  throwRowProblems,
  toJsonl,
  wakeJob,
  withCancel,
} from "./hosted.ts";
import type { HttpSettings } from "./settings.ts";
import {
  answerFlags,
  chatAnswer,
  DEFAULT_MAX_ANSWER_BYTES,
  maxTokensOf,
  plausibleUsage,
  readBody,
} from "./answer-limits.ts";
import { refusal } from "./together.ts";
import { openAIMigrationSource } from "./openai-jobs.ts";
import { scrubberFor } from "../lib/secrets.ts";

export const OPENAI_CLOSURE =
  "OpenAI is closing new fine-tuning jobs: new organisations since 2026-05-07, idle ones since 2026-07-02, everyone from 2027-01-06. Evals of existing fine-tuned models keep working.";

export interface OpenAIFile {
  id: string;
  object?: string;
  bytes?: number;
  created_at?: number;
  filename?: string;
  purpose?: string;
  status?: string;
  status_details?: string | null;
}

export interface OpenAIJob {
  id: string;
  object?: string;
  status: string;
  model?: string;
  created_at?: number;
  finished_at?: number | null;
  fine_tuned_model?: string | null;
  trained_tokens?: number | null;
  training_file?: string;
  validation_file?: string | null;
  seed?: number;
  estimated_finish?: number | null;
  error?: { code?: string; message?: string; param?: string | null } | null;
  metadata?: Record<string, string> | null;
  method?: { type?: string; supervised?: { hyperparameters?: Record<string, unknown> } };
}

export interface OpenAIEvent {
  id: string;
  object?: string;
  created_at: number;
  level: string;
  message: string;
  type?: "message" | "metrics" | string;
  data?: Record<string, unknown> | null;
}

export interface OpenAICheckpoint {
  id: string;
  created_at: number;
  fine_tuned_model_checkpoint: string;
  step_number: number;
  fine_tuning_job_id?: string;
  metrics?: Record<string, number | undefined>;
}

interface Page<T> {
  object?: string;
  data: T[];
  has_more?: boolean;
  first_id?: string | null;
  last_id?: string | null;
}

/** OpenAI's job status -> the run's state and a short label. */
export function mapOpenAIStatus(status: string): {
  state: "running" | "succeeded" | "failed" | "cancelled";
  label: string;
  known: boolean;
} {
  switch (status) {
    case "validating_files":
      return { state: "running", label: "OpenAI is validating the training file", known: true };
    case "queued":
      return { state: "running", label: "queued at OpenAI", known: true };
    case "running":
      return { state: "running", label: "training", known: true };
    case "succeeded":
      return { state: "succeeded", label: "succeeded", known: true };
    case "failed":
      return { state: "failed", label: "failed", known: true };
    case "cancelled":
      return { state: "cancelled", label: "cancelled", known: true };
    default:
      return { state: "running", label: status, known: false };
  }
}

export interface OpenAIOptions extends HttpSettings {
  webhookSecret?: string | null;
  concurrency?: number;
}

const fmtMetric = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(4) : "-");

/** How one SDK call is retried (see OpenAIProvider.call). */
interface CallOptions {
  signal?: AbortSignal;
  /**
   * false: an unsure create (src/lib/retry.ts): a 5xx, timeout or cut connection is not retried (the request may have
   * been carried out). A 429 or a connection never made is.
   */
  retryUnsure?: boolean;
  timeoutMs?: number;
  /** First backoff step (default: the provider's retryBaseMs). */
  retryBaseMs?: number;
}

export class OpenAIProvider implements TrainerProvider {
  readonly name = "openai";
  readonly defaultModel = "gpt-4o-mini";
  /** The official SDK client. Its own retries are off: `call` retries (once, visibly, honouring Retry-After). */
  readonly client: OpenAI;
  private readonly limiter: Limiter;
  private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly uploaded = new Map<string, string>();
  private readonly unsureCreates = new Set<string>();
  /** The team's jobs and their files, for `migrate openai` (src/providers/openai-jobs.ts). */
  readonly migration = openAIMigrationSource(this);

  constructor(
    readonly opts: OpenAIOptions,
    private readonly deps: ApiDeps = {},
  ) {
    this.client = new OpenAI({
      apiKey: opts.apiKey,
      baseURL: opts.baseUrl.replace(/\/+$/, ""),
      timeout: opts.timeoutMs,
      maxRetries: 0,
    });
    this.limiter = new Limiter(opts.concurrency ?? 8);
    this.wait = deps.sleep ?? sleep;
  }

  private scrubber?: (s: string) => string;

  /** Hides the key, and any 8+ character piece of it, in text from or about the provider. */
  private scrub(s: string): string {
    this.scrubber ??= scrubberFor([this.opts.apiKey]);
    return this.scrubber(s);
  }

  /**
   * Runs one SDK request with tuneloop's retries: 429, 5xx, timeouts and network errors are retried up to
   * maxRetries times with backoff (Retry-After wins when sent); other 4xx answers throw ProviderHttpError with
   * OpenAI's message; retries used up throw ProviderUnavailableError (an outage: pollers mark the run stalled).
   * The key is scrubbed from every message.
   */
  async call<T>(
    what: string,
    fn: (o: { signal?: AbortSignal; timeout: number; maxRetries: 0 }) => Promise<T>,
    o: CallOptions = {},
  ): Promise<T> {
    const timeout = o.timeoutMs ?? this.opts.timeoutMs;
    const [method, path] = what.split(" ", 2);
    for (let attempt = 0; ; attempt++) {
      if (o.signal?.aborted) throw o.signal.reason;
      let status: number | null = null;
      let retryAfter: string | null = null;
      let error: unknown;
      let failure: string;
      // The SDK adds an abort listener to the signal it is given and never removes it: hand it a per-request
      // signal, linked to the job's for this request only, so hours of polling do not pile listeners on the job's.
      const ac = new AbortController();
      const onAbort = () => ac.abort(o.signal?.reason);
      o.signal?.addEventListener("abort", onAbort, { once: true });
      try {
        return await fn({ signal: ac.signal, timeout, maxRetries: 0 });
      } catch (err) {
        if (o.signal?.aborted) throw o.signal.reason ?? err;
        if (err instanceof APIError && typeof err.status === "number") {
          status = err.status;
          retryAfter = retryAfterHeader(err.headers);
          const raw =
            err.error !== undefined && err.error !== null
              ? JSON.stringify({ error: err.error })
              : err.message.replace(/^\d{3} /, "");
          const msg = this.scrub(providerMessage(raw, err.status));
          if (!retryableStatus(err.status)) {
            throw new ProviderHttpError("OpenAI", err.status, msg, this.scrub(raw.slice(0, 2000)));
          }
          failure = `HTTP ${err.status}: ${msg}`;
        } else if (err instanceof APIConnectionTimeoutError) {
          failure = `no answer within ${timeout} ms`;
        } else if (err instanceof APIUserAbortError) {
          throw err;
        } else if (err instanceof APIError) {
          const cause = (err as { cause?: unknown }).cause;
          error = cause ?? err;
          const detail = cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
          failure = `network error: ${this.scrub(detail)}`;
        } else if (err instanceof SyntaxError) {
          throw new ProviderUnavailableError(
            "OpenAI",
            `OpenAI sent a body that is not JSON for ${what}: ${this.scrub(err.message.slice(0, 200))}`,
          );
        } else {
          throw err;
        }
      } finally {
        o.signal?.removeEventListener("abort", onAbort);
      }
      const delayMs = nextRetryMs(
        attempt,
        { status, retryAfter, error },
        {
          maxRetries: this.opts.maxRetries,
          create: o.retryUnsure === false,
          baseMs: o.retryBaseMs ?? this.opts.retryBaseMs,
        },
      );
      if (delayMs === null) {
        throw new ProviderUnavailableError(
          "OpenAI",
          `OpenAI did not answer ${what} after ${attempt + 1} tries (last: ${failure})`,
        );
      }
      this.deps.onRetry?.({ method, path, attempt, status, delayMs });
      await this.wait(delayMs, o.signal);
    }
  }

  models(): string[] {
    return loadCostTables()
      .prices.filter((e) => e.provider === "openai" && e.trainingPer1M !== null)
      .map((e) => e.model);
  }

  /** The dated snapshot OpenAI tunes for a price-table model ("gpt-4o-mini" -> "gpt-4o-mini-2024-07-18"). */
  apiModel(model: string): string {
    const e = priceEntry("openai", model);
    return e?.aliases?.[0] ?? e?.model ?? model;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Files

  /** What OpenAI's chat fine-tuning format requires of each row (the cookbook's checks). */
  checkRows(rows: readonly LocatedRow[]): string[] {
    const problems: string[] = [];
    for (const r of rows) {
      if (r.kind === "text") {
        problems.push(`line ${r.line}: a plain text row (OpenAI fine-tunes chat models on messages)`);
        continue;
      }
      const msgs = r.messages ?? [];
      if (!msgs.some((m) => m.role === "assistant")) problems.push(`line ${r.line}: no assistant message`);
      for (const [i, m] of msgs.entries()) {
        if (m.content === null && !m.tool_calls && !m.function_call) {
          problems.push(`line ${r.line}: messages[${i}] has no content`);
          break;
        }
      }
    }
    return problems;
  }

  async uploadFile(rows: readonly LocatedRow[], o: { filename: string; signal?: AbortSignal }): Promise<OpenAIFile> {
    throwRowProblems("OpenAI", this.checkRows(rows));
    const content = toJsonl(rows);
    const key = sha256(content);
    const known = this.uploaded.get(key);
    if (known) return { id: known };
    const f = (await this.call(
      "POST /files",
      async (ro) =>
        this.client.files.create(
          {
            file: await toFile(Buffer.from(content, "utf8"), o.filename, { type: "application/jsonl" }),
            purpose: "fine-tune",
          },
          ro,
        ),
      { signal: o.signal },
    )) as OpenAIFile;
    if (f.status === "error") {
      throw new TuneError(
        ErrorCode.ProviderFileInvalid,
        `OpenAI rejected the training file ${f.id}: ${f.status_details ?? "no details"}. Fix the rows and upload a new dataset version.`,
      );
    }
    this.uploaded.set(key, f.id);
    return f;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Jobs

  async getJob(id: string, signal?: AbortSignal): Promise<OpenAIJob> {
    const j = await this.call(`GET /fine_tuning/jobs/${id}`, (ro) => this.client.fineTuning.jobs.retrieve(id, ro), {
      signal,
    });
    return j as unknown as OpenAIJob;
  }

  async cancelJob(id: string, signal?: AbortSignal): Promise<OpenAIJob> {
    const j = await this.call(
      `POST /fine_tuning/jobs/${id}/cancel`,
      (ro) => this.client.fineTuning.jobs.cancel(id, ro),
      { signal },
    );
    return j as unknown as OpenAIJob;
  }

  /** Our job from an earlier attempt, by the metadata tuneloop puts on every job. */
  async findByTag(tag: string, signal?: AbortSignal): Promise<OpenAIJob | null> {
    const r = (await this.call(
      "GET /fine_tuning/jobs",
      async (ro) => {
        const page = await this.client.fineTuning.jobs.list({ metadata: { tuneloop_key: tag }, limit: 10 }, ro);
        return { data: page.data, has_more: page.has_more };
      },
      { signal },
    )) as unknown as Page<OpenAIJob>;
    return r.data.find((j) => j.metadata?.tuneloop_key === tag) ?? null;
  }

  /**
   * Events not seen yet, oldest first. OpenAI lists newest first: page with `after` (the last id of the previous
   * page) until a seen event or the end.
   */
  async newEvents(id: string, seen: Set<string>, signal?: AbortSignal, pageSize = 50): Promise<OpenAIEvent[]> {
    const fresh: OpenAIEvent[] = [];
    let after: string | undefined;
    for (let page = 0; page < 100; page++) {
      const r = (await this.call(
        `GET /fine_tuning/jobs/${id}/events`,
        async (ro) => {
          const p = await this.client.fineTuning.jobs.listEvents(
            id,
            { limit: pageSize, ...(after ? { after } : {}) },
            ro,
          );
          return { data: p.data, has_more: p.has_more };
        },
        { signal },
      )) as unknown as Page<OpenAIEvent>;
      let hitSeen = false;
      for (const e of r.data) {
        if (seen.has(e.id)) {
          hitSeen = true;
          break;
        }
        fresh.push(e);
      }
      if (hitSeen || !r.has_more || !r.data.length) break;
      after = r.data[r.data.length - 1].id;
    }
    return fresh.reverse();
  }

  async checkpoints(id: string, signal?: AbortSignal): Promise<OpenAICheckpoint[]> {
    const out: OpenAICheckpoint[] = [];
    let after: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = (await this.call(
        `GET /fine_tuning/jobs/${id}/checkpoints`,
        async (ro) => {
          const p = await this.client.fineTuning.jobs.checkpoints.list(
            id,
            { limit: 10, ...(after ? { after } : {}) },
            ro,
          );
          return { data: p.data, has_more: p.has_more };
        },
        { signal },
      )) as unknown as Page<OpenAICheckpoint>;
      out.push(...r.data);
      if (!r.has_more || !r.data.length) break;
      after = r.data[r.data.length - 1].id;
    }
    return out.sort((a, b) => a.step_number - b.step_number);
  }

  private hyperparameters(hyper: Hyper, say: (m: string) => void) {
    const h = hyper as Hyper & HostedHyper;
    let lrm: number | "auto" = "auto";
    if (h.learningRateMultiplier !== undefined) lrm = h.learningRateMultiplier;
    else if (hyper.learningRate >= 0.01) lrm = hyper.learningRate;
    else say(`OpenAI takes a learning-rate multiplier, not a rate: ${hyper.learningRate} read as "auto".`);
    return { n_epochs: hyper.epochs, batch_size: hyper.batchSize, learning_rate_multiplier: lrm };
  }

  async train(job: HostedTrainJob): Promise<TrainOutcome> {
    const t0 = Date.now();
    let jobId = job.jobId;
    try {
      return await withCancel(
        job,
        () => jobId,
        async (id, signal) => {
          await this.cancelJob(id, signal);
        },
        async () => {
          if (!jobId) jobId = await this.startJob(job);
          return await this.follow(job, jobId, t0);
        },
      );
    } catch (err) {
      throw refusal(err, `OpenAI job ${jobId ?? "(not created)"} for ${job.run.baseModel}`);
    }
  }

  private async startJob(job: HostedTrainJob): Promise<string> {
    const tag = runTag(job);
    const say = (m: string) => job.onEvent?.(m);
    return pollUntil<string>(
      tag,
      async () => {
        if (job.run.attempts > 1 || this.unsureCreates.has(tag)) {
          const found = await this.findByTag(tag, job.signal);
          if (found) {
            job.onJobCreated(found.id);
            say(`Following OpenAI job ${found.id}, created by an earlier attempt of this run.`);
            return { done: true, value: found.id };
          }
        }
        const train = await this.uploadFile(job.trainRows, {
          filename: `tuneloop-run-${job.run.id}-train.jsonl`,
          signal: job.signal,
        });
        const valid = job.validRows?.length
          ? await this.uploadFile(job.validRows, {
              filename: `tuneloop-run-${job.run.id}-valid.jsonl`,
              signal: job.signal,
            })
          : null;
        const model = this.apiModel(job.run.baseModel);
        const body = {
          model,
          training_file: train.id,
          ...(valid ? { validation_file: valid.id } : {}),
          suffix: `tuneloop-${tag}`.slice(0, 64),
          seed: job.hyper.seed,
          metadata: { tuneloop_key: tag, tuneloop_run: String(job.run.id) },
          method: {
            type: "supervised" as const,
            supervised: { hyperparameters: this.hyperparameters(job.hyper, say) },
          },
        };
        let created: OpenAIJob;
        try {
          created = (await this.call("POST /fine_tuning/jobs", (ro) => this.client.fineTuning.jobs.create(body, ro), {
            signal: job.signal,
            retryUnsure: false,
          })) as unknown as OpenAIJob;
        } catch (err) {
          if (err instanceof ProviderUnavailableError) this.unsureCreates.add(tag);
          if (err instanceof ProviderHttpError) throw refusedJob(err, model);
          throw err;
        }
        this.unsureCreates.delete(tag);
        job.onJobCreated(created.id);
        const hp = body.method.supervised.hyperparameters;
        say(
          `OpenAI job ${created.id} created: ${model}, ${fmt.count(hp.n_epochs, "epoch")}, batch ${hp.batch_size}, learning-rate multiplier ${hp.learning_rate_multiplier}, seed ${body.seed}; ${mapOpenAIStatus(created.status).label}.`,
        );
        return { done: true, value: created.id };
      },
      {
        intervalMs: this.opts.pollIntervalMs,
        maxIntervalMs: this.opts.pollMaxMs,
        signal: job.signal,
        immediate: true,
        sleep: this.deps.sleep,
        onStalled: job.onStalled,
        onRecovered: job.onRecovered,
      },
    );
  }

  private async follow(job: HostedTrainJob, jobId: string, t0: number): Promise<TrainOutcome> {
    const resumeStep = job.jobId ? (job.run.progress?.step ?? 0) : 0;
    const seen = new Set<string>();
    const seenCheckpoints = new Set<string>();
    const losses: number[] = [];
    let lastStatus = "";
    let step = 0;
    let totalSteps = 0;
    let lastLoss = Number.NaN;
    const say = (m: string) => job.onEvent?.(m);

    const tellCheckpoints = async () => {
      for (const c of await this.checkpoints(jobId, job.signal)) {
        if (seenCheckpoints.has(c.id)) continue;
        seenCheckpoints.add(c.id);
        const m = c.metrics ?? {};
        say(
          `OpenAI checkpoint at step ${c.step_number}: ${c.fine_tuned_model_checkpoint} · train loss ${fmtMetric(m.train_loss)}, token accuracy ${fmtMetric(m.train_mean_token_accuracy)} · valid loss ${fmtMetric(m.valid_loss ?? m.full_valid_loss)}, valid token accuracy ${fmtMetric(m.valid_mean_token_accuracy ?? m.full_valid_mean_token_accuracy)}`,
        );
      }
    };

    const final = await pollUntil<OpenAIJob>(
      jobId,
      async () => {
        const j = await this.getJob(jobId, job.signal);
        const m = mapOpenAIStatus(j.status);
        let changed = false;
        if (j.status !== lastStatus) {
          changed = true;
          lastStatus = j.status;
          if (!m.known) say(`OpenAI reports status "${j.status}" for job ${jobId}; still following it.`);
          else if (j.status === "validating_files" || j.status === "queued") say(`OpenAI job ${jobId}: ${m.label}.`);
        }
        let checkpointNews = false;
        for (const e of await this.newEvents(jobId, seen, job.signal)) {
          seen.add(e.id);
          changed = true;
          if (e.type === "metrics" && e.data) {
            const d = e.data as { step?: number; total_steps?: number; train_loss?: number };
            if (d.total_steps) totalSteps = Math.max(totalSteps, d.total_steps);
            if (typeof d.step === "number" && typeof d.train_loss === "number") {
              step = Math.max(step, d.step);
              lastLoss = d.train_loss;
              losses.push(d.train_loss);
              if (d.step > resumeStep) {
                const elapsedMs = Date.now() - t0;
                job.onProgress({
                  step: d.step,
                  totalSteps: Math.max(totalSteps, d.step),
                  epoch: totalSteps ? (d.step / totalSteps) * job.hyper.epochs : 0,
                  loss: d.train_loss,
                  tokensPerSec: 0,
                  tokens: 0,
                  elapsedMs,
                });
              }
            }
            continue;
          }
          if (/checkpoint/i.test(e.message)) checkpointNews = true;
          say(e.level === "info" ? `OpenAI: ${e.message}` : `OpenAI ${e.level}: ${e.message}`);
        }
        if (checkpointNews || m.state === "succeeded") await tellCheckpoints();
        if (m.state === "succeeded") return { done: true, value: j };
        if (m.state === "cancelled") throw new CancelledError(`OpenAI job ${jobId} was cancelled at OpenAI.`);
        if (m.state === "failed") {
          const e = j.error;
          const detail = e?.message
            ? `${e.message}${e.code ? ` (code ${e.code}${e.param ? `, param ${e.param}` : ""})` : ""}`
            : "no error given";
          throw new TuneError(ErrorCode.ProviderJobFailed, `OpenAI job ${jobId} failed: ${detail}.`, {
            jobId,
            error: e ?? null,
          });
        }
        return { done: false, changed };
      },
      {
        intervalMs: this.opts.pollIntervalMs,
        maxIntervalMs: this.opts.pollMaxMs,
        signal: job.signal,
        immediate: Boolean(job.jobId),
        sleep: this.deps.sleep,
        onStalled: job.onStalled,
        onRecovered: job.onRecovered,
      },
    );

    if (!final.fine_tuned_model) {
      throw new TuneError(ErrorCode.ProviderJobFailed, `OpenAI finished job ${jobId} but named no fine-tuned model.`, {
        jobId,
      });
    }
    const trainingTokens = final.trained_tokens ?? 0;
    const entry = priceEntry("openai", job.run.baseModel) ?? priceEntry("openai", final.model ?? "");
    const usd = entry?.trainingPer1M != null ? (trainingTokens * entry.trainingPer1M) / 1e6 : 0;
    const wallMs =
      final.created_at && final.finished_at && final.finished_at >= final.created_at
        ? (final.finished_at - final.created_at) * 1000
        : Date.now() - t0;
    return {
      tunedModelId: final.fine_tuned_model,
      steps: Math.max(totalSteps, step),
      trainingTokens,
      finalLoss: lastLoss,
      losses,
      wallMs,
      usd,
      jobId,
    };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Inference

  /** Base models at their base rates; fine-tuned ones ("ft:<base>:org:suffix:id") at the tuned rates of the base. */
  pricingFor(modelId: string): Pricing | null {
    if (modelId.startsWith("ft:")) {
      const e = priceEntry("openai", modelId.split(":")[1] ?? "");
      return e ? pricingOf(e.inputPer1M, e.outputPer1M) : null;
    }
    const e = priceEntry("openai", modelId);
    return e ? pricingOf(e.baseInputPer1M ?? null, e.baseOutputPer1M ?? null) : null;
  }

  /** One chat completion through the SDK (concurrency-limited; retries as `call`, first backoff 500 ms). */
  chat(model: string, req: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    return this.limiter.run(async () => {
      const started = performance.now();
      const timeoutMs = Math.max(this.opts.timeoutMs, 1000);
      let res: { text: string; truncated: boolean };
      try {
        res = await this.call(
          "POST /chat/completions",
          async (ro) => {
            // The SDK's timeout ends with the headers: the body is read here, capped, within what is left of it.
            const attempt = performance.now();
            const response = await this.client.chat.completions
              .create(
                {
                  model,
                  messages: req.messages.map(
                    (m) =>
                      ({
                        role: m.role,
                        content: m.content ?? "",
                        ...(m.name ? { name: m.name } : {}),
                      }) as OpenAI.Chat.Completions.ChatCompletionMessageParam,
                  ),
                  max_tokens: maxTokensOf(req),
                  temperature: req.temperature ?? 0,
                  ...(req.seed !== undefined ? { seed: req.seed } : {}),
                },
                ro,
              )
              .asResponse();
            try {
              return await readBody(response.body, {
                maxBytes: this.opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
                ms: timeoutMs - (performance.now() - attempt),
              });
            } catch (err) {
              if ((err as Error).name === "TimeoutError") throw new APIConnectionTimeoutError();
              throw err;
            }
          },
          { signal, timeoutMs, retryBaseMs: 500 },
        );
      } catch (err) {
        if (err instanceof ProviderHttpError) {
          throw new TuneError(
            ErrorCode.EndpointError,
            `openai refused the request for ${model}: HTTP ${err.status}: ${err.providerMessage}. Check the model name and the OpenAI settings (OPENAI_API_KEY, OPENAI_BASE_URL).`,
          );
        }
        if (err instanceof ProviderUnavailableError) {
          throw new TuneError(
            ErrorCode.EndpointUnavailable,
            `${err.message.replace(/^OpenAI did not answer POST \/chat\/completions/, `openai did not answer for ${model}`)}. Is the endpoint up? Try again later.`,
          );
        }
        throw err;
      }
      const answer = chatAnswer(res.text, res.truncated);
      if (!answer) {
        throw new TuneError(
          ErrorCode.EndpointUnavailable,
          `openai sent an answer for ${model} that is not a chat completion: ${this.scrub(res.text.slice(0, 100))}. Try again later.`,
        );
      }
      const usage = await plausibleUsage(req, answer.text, answer.usage);
      const flags = answerFlags(usage.flags, res.truncated ? { truncated: true } : undefined);
      return {
        text: answer.text,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        latencyMs: performance.now() - started,
        ...(flags ? { flags } : {}),
      };
    });
  }

  inference(modelId: string, ref: string): InferenceModel {
    return {
      ref,
      provider: "openai",
      pricing: this.pricingFor(modelId),
      concurrency: this.opts.concurrency ?? 8,
      completeAll: (requests, opts) =>
        Promise.all(
          requests.map(async (r, i) => {
            const res = await this.chat(modelId, r, opts.signal);
            opts.onResult?.(i, res);
            return res;
          }),
        ),
    };
  }
}

/** A refused create, with OpenAI's body and, when it looks like the closure, what that means. */
function refusedJob(err: ProviderHttpError, model: string): TuneError {
  const closure =
    err.status === 403 ||
    /(no longer|not available|not allowed|unavailable|disabled|closed|sunset|deprecat|not permitted|access)/i.test(
      err.providerMessage,
    );
  return new TuneError(
    ErrorCode.ProviderRefused,
    `OpenAI refused the fine-tuning job for ${model} (HTTP ${err.status}): ${err.providerMessage}.${closure ? ` ${OPENAI_CLOSURE} Tune on Together instead (--provider together).` : ""}`,
    { status: err.status, body: err.body },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks

export type WebhookOutcome =
  | { ok: true; id: string; event: string; jobId: string | null }
  | { ok: false; status: 400 | 401; error: string };

type Headers = Record<string, string | string[] | undefined>;

const header = (h: Headers, name: string): string | undefined => {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === want) return Array.isArray(v) ? v[0] : v;
  return undefined;
};

/** Standard Webhooks signature for `id.timestamp.body` with the secret ("whsec_<base64>", or raw base64). */
export function signWebhook(secret: string, id: string, timestamp: number | string, body: string): string {
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
  return `v1,${crypto.createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

/**
 * Verifies and reads an OpenAI webhook. Bad or missing signatures and timestamps more than `toleranceSec` away from
 * now are refused (401); a fine_tuning.job.* event wakes that job's poller in this process.
 * Mount: POST /webhooks/openai with the raw body (see docs/providers.md).
 */
export function handleOpenAIWebhook(
  headers: Headers,
  rawBody: string | Buffer,
  secret: string,
  opts: { toleranceSec?: number; nowSec?: number } = {},
): WebhookOutcome {
  const body = typeof rawBody === "string" ? rawBody : rawBody.toString("utf8");
  const id = header(headers, "webhook-id");
  const ts = header(headers, "webhook-timestamp");
  const sig = header(headers, "webhook-signature");
  if (!id || !ts || !sig)
    return { ok: false, status: 401, error: "missing webhook-id, webhook-timestamp or webhook-signature" };
  const t = Number(ts);
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  if (!Number.isInteger(t)) return { ok: false, status: 401, error: "bad webhook-timestamp" };
  if (Math.abs(now - t) > (opts.toleranceSec ?? 300))
    return { ok: false, status: 401, error: "stale webhook-timestamp" };
  const expected = Buffer.from(signWebhook(secret, id, ts, body).slice(3), "base64");
  const good = sig
    .split(" ")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("v1,"))
    .some((s) => {
      const got = Buffer.from(s.slice(3), "base64");
      return got.length === expected.length && crypto.timingSafeEqual(got, expected);
    });
  if (!good) return { ok: false, status: 401, error: "bad webhook-signature" };
  let event: { type?: string; data?: { id?: string } };
  try {
    event = JSON.parse(body) as typeof event;
  } catch {
    return { ok: false, status: 400, error: "body is not JSON" };
  }
  const type = String(event.type ?? "");
  const jobId = type.startsWith("fine_tuning.job.") && typeof event.data?.id === "string" ? event.data.id : null;
  if (jobId) wakeJob(jobId);
  return { ok: true, id, event: type, jobId };
}
