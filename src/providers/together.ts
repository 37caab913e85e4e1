/**
 * Together AI as a trainer and as inference (plain REST on node:http; the base URL comes from TOGETHER_BASE_URL).
 *
 * API reference (https://docs.together.ai/reference):
 *   POST /files/upload (multipart: purpose=fine-tune, file_name, file_type, file), GET /files/{id} whose
 *     `processing_status` (PENDING, QUEUED, RUNNING, COMPLETED, FAILED, INVALID_FORMAT) and `validation_report`
 *     are Together's own check of the file (docs/fine-tuning/data-preparation#wait-for-server-side-validation);
 *   POST /fine-tunes/estimate-price, POST /fine-tunes, GET /fine-tunes, GET /fine-tunes/{id},
 *   GET /fine-tunes/{id}/events, GET /fine-tunes/{id}/metrics, POST /fine-tunes/{id}/cancel;
 *   POST /chat/completions (OpenAI-compatible) for evals of base and tuned models.
 *
 * Job states (FinetuneJobStatus) and what the run shows:
 *   pending, queued                 running (waiting in Together's queue; progress at step 0)
 *   running                         running (progress from events and metrics)
 *   compressing, uploading          running (training done; the model is being saved)
 *   cancel_requested                running (until Together reports cancelled)
 *   completed                       succeeded
 *   error (and "failed")            failed, with Together's error event shown
 *   cancelled                       cancelled
 * Any other status keeps the run running and is reported once as an event.
 *
 * Cost: tokens are Together's `token_count` ("count of tokens processed") times the price table's LoRA or full
 * rate for the base model; Together's own `total_price` (nano-dollars) is reported beside it as an event.
 */
import type { LocatedRow } from "../core/datasets/types.ts";
import { loadCostTables } from "./tables.ts";
import { fmt } from "../core/format.ts";
import type { Hyper } from "../core/ports.ts";
import type { InferenceModel, Pricing } from "../core/inference.ts";
import { CancelledError, type TrainerProvider, type TrainOutcome } from "../core/trainer.ts";
import { TuneError, ErrorCode } from "../errors.ts";
import {
  ApiClient,
  type ApiDeps,
  type HostedHyper,
  type HostedTrainJob,
  pollUntil,
  priceEntry,
  pricingOf,
  ProviderHttpError,
  type ProviderQuote,
  ProviderUnavailableError,
  rate,
  runTag,
  sha256,
  throwRowProblems,
  toJsonl,
  withCancel,
} from "./hosted.ts";
import { endpointModel, OpenAICompatibleClient } from "./openai-compatible.ts";
import type { HttpSettings, TogetherDefaults } from "./settings.ts";

export interface TogetherFile {
  id: string;
  object?: string;
  created_at?: number;
  filename?: string;
  bytes?: number;
  purpose?: string;
  Processed?: boolean;
  FileType?: string;
  LineCount?: number;
  processing_status?: string;
  validation_report?: unknown;
}

export interface TogetherEvent {
  object?: string;
  created_at: string;
  level?: string | null;
  message: string;
  type: string;
  step?: number;
  total_steps?: number;
  token_count?: number;
  param_count?: number;
  checkpoint_path?: string;
  model_path?: string;
  training_offset?: number;
  hash?: string;
}

export interface TogetherJob {
  id: string;
  status: string;
  created_at?: string;
  updated_at?: string;
  model?: string;
  model_output_name?: string;
  suffix?: string;
  training_file?: string;
  token_count?: number;
  total_price?: number;
  n_epochs?: number;
  epochs_completed?: number;
  queue_depth?: number;
  training_type?: { type?: string };
  events?: TogetherEvent[];
}

export type RunStateOfJob = "running" | "succeeded" | "failed" | "cancelled";

/** Together's job status -> the run's state and a short label for the thread. */
export function mapTogetherStatus(status: string): { state: RunStateOfJob; label: string; known: boolean } {
  switch (status) {
    case "pending":
      return { state: "running", label: "pending at Together", known: true };
    case "queued":
      return { state: "running", label: "queued at Together", known: true };
    case "running":
      return { state: "running", label: "training", known: true };
    case "compressing":
      return { state: "running", label: "training done; Together is compressing the model", known: true };
    case "uploading":
      return { state: "running", label: "training done; Together is uploading the model", known: true };
    case "cancel_requested":
      return { state: "running", label: "cancel requested", known: true };
    case "cancelled":
      return { state: "cancelled", label: "cancelled", known: true };
    case "error":
    case "failed":
      return { state: "failed", label: "failed", known: true };
    case "completed":
      return { state: "succeeded", label: "completed", known: true };
    default:
      return { state: "running", label: status, known: false };
  }
}

export interface TogetherOptions extends HttpSettings {
  defaults: TogetherDefaults;
  /** Concurrent chat completions for evals. */
  concurrency?: number;
}

/** Events worth a line in the run's thread (the download/upload chatter is left out). */
const TOLD = new Set([
  "job_start",
  "training_start",
  "epoch_complete",
  "checkpoint_save",
  "billing_limit",
  "training_complete",
  "job_complete",
  "job_error",
  "job_restarted",
  "job_stopped",
  "cancel_requested",
  "refund",
  "warning",
]);

/** How long Together may take to check an uploaded file before the run gives up on it. */
const FILE_CHECK_LIMIT_MS = 30 * 60_000;

const LOSS_IN_TEXT = /\bloss\b[^0-9-]{0,12}(-?\d+(?:\.\d+)?(?:e-?\d+)?)/i;

export class TogetherProvider implements TrainerProvider {
  readonly name = "together";
  readonly defaultModel = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";
  readonly api: ApiClient;
  private readonly chat: OpenAICompatibleClient;
  /** sha256 of a JSONL upload -> its checked file id (a quote's upload is reused by train()). */
  private readonly uploaded = new Map<string, string>();
  /** Suffixes whose create ended without an answer (the job may exist: look before creating again). */
  private readonly unsureCreates = new Set<string>();
  private readonly tunedBase = new Map<string, string>();
  private metricsSupported = true;

  constructor(
    readonly opts: TogetherOptions,
    private readonly deps: ApiDeps = {},
  ) {
    this.api = new ApiClient(
      {
        name: "Together",
        baseUrl: opts.baseUrl,
        apiKey: opts.apiKey,
        timeoutMs: opts.timeoutMs,
        maxRetries: opts.maxRetries,
        retryBaseMs: opts.retryBaseMs,
      },
      deps,
    );
    this.chat = new OpenAICompatibleClient(
      {
        name: "together",
        baseUrl: opts.baseUrl,
        apiKey: opts.apiKey,
        concurrency: opts.concurrency ?? 8,
        timeoutMs: Math.max(opts.timeoutMs, 1000),
        maxAnswerBytes: opts.maxAnswerBytes,
        maxRetries: opts.maxRetries,
        prices: {},
      },
      { sleep: deps.sleep },
    );
  }

  models(): string[] {
    return loadCostTables()
      .prices.filter(
        (e) =>
          e.provider === "together" && e.kind !== "local" && !e.model.startsWith("band:") && e.trainingPer1M !== null,
      )
      .map((e) => e.model);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Files

  /** Problems Together's own file check (together-py `check_file`, conversational format) would report. */
  checkRows(rows: readonly LocatedRow[]): string[] {
    const problems: string[] = [];
    const kinds = new Set(rows.map((r) => r.kind));
    if (kinds.size > 1)
      problems.push("the dataset mixes plain text rows and chat rows; Together takes one format per file");
    for (const r of rows) {
      if (r.kind === "text") {
        if (typeof r.text !== "string" || !r.text) problems.push(`line ${r.line}: empty text`);
        continue;
      }
      const msgs = r.messages ?? [];
      if (!msgs.length) {
        problems.push(`line ${r.line}: no messages`);
        continue;
      }
      const weighted = msgs.some((m) => m.weight !== undefined);
      let prev: string | null = null;
      let assistant = false;
      for (const [i, m] of msgs.entries()) {
        if (!["system", "user", "assistant"].includes(m.role)) {
          problems.push(`line ${r.line}: messages[${i}] has role "${m.role}" (Together takes system, user, assistant)`);
          break;
        }
        if (typeof m.content !== "string") {
          problems.push(`line ${r.line}: messages[${i}].content is not text`);
          break;
        }
        if (prev !== null && prev === m.role) {
          problems.push(
            `line ${r.line}: two ${m.role} messages in a row (roles must alternate after the system message)`,
          );
          break;
        }
        if (weighted && m.weight !== undefined && m.weight !== 0 && m.weight !== 1) {
          problems.push(`line ${r.line}: messages[${i}].weight must be 0 or 1`);
          break;
        }
        prev = m.role;
        assistant ||= m.role === "assistant";
      }
      if (!assistant) problems.push(`line ${r.line}: no assistant message`);
    }
    return problems;
  }

  /**
   * Uploads rows as JSONL (purpose fine-tune) after the local check, then waits for Together's own validation
   * of the file. The same content is uploaded once per process.
   */
  async uploadFile(
    rows: readonly LocatedRow[],
    o: {
      filename: string;
      signal?: AbortSignal;
      onStalled?: (m: string, err: ProviderUnavailableError) => void;
      onRecovered?: () => void;
    },
  ): Promise<TogetherFile> {
    throwRowProblems("Together", this.checkRows(rows));
    const content = toJsonl(rows);
    const key = sha256(content);
    const known = this.uploaded.get(key);
    if (known) return { id: known };
    const signal = o.signal ?? new AbortController().signal;
    const deadline = Date.now() + FILE_CHECK_LIMIT_MS;
    const file = await this.api.multipart<TogetherFile>(
      "/files/upload",
      { purpose: "fine-tune", file_name: o.filename, file_type: "jsonl" },
      { field: "file", filename: o.filename, content, contentType: "application/jsonl" },
      { signal },
    );
    const checked = await pollUntil(
      file.id,
      async () => {
        const f = await this.api.json<TogetherFile>("GET", `/files/${encodeURIComponent(file.id)}`, { signal });
        const st = (f.processing_status ?? "").toUpperCase();
        if (st === "COMPLETED" || (!st && f.Processed !== false)) return { done: true as const, value: f };
        if (st === "FAILED" || st === "INVALID_FORMAT") {
          throw new TuneError(
            ErrorCode.ProviderFileInvalid,
            `Together rejected the training file ${f.id} (${st}): ${reportText(f.validation_report)}. Fix the rows and upload a new dataset version.`,
          );
        }
        if (Date.now() > deadline) {
          throw new TuneError(
            ErrorCode.ProviderFileInvalid,
            `Together has not finished checking the training file ${f.id} after ${FILE_CHECK_LIMIT_MS / 60_000} minutes (processing_status ${st || "unknown"}). Try again later.`,
          );
        }
        return { done: false as const, changed: false };
      },
      {
        intervalMs: this.opts.pollIntervalMs,
        maxIntervalMs: this.opts.pollMaxMs,
        signal,
        immediate: true,
        sleep: this.deps.sleep,
        // Without a run to mark stalled (a quote), an outage is an error at once.
        onStalled:
          o.onStalled ??
          ((_m: string, err: ProviderUnavailableError) => {
            throw err;
          }),
        onRecovered: o.onRecovered ?? (() => {}),
      },
    );
    this.uploaded.set(key, checked.id);
    return checked;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Estimate

  private settingsFor(hyper: Hyper): Required<Omit<HostedHyper, "learningRateMultiplier">> {
    const h = hyper as Hyper & HostedHyper;
    const d = this.opts.defaults;
    return {
      trainingType: h.trainingType ?? d.trainingType,
      loraDropout: h.loraDropout ?? d.loraDropout,
      warmupRatio: h.warmupRatio ?? d.warmupRatio,
      nCheckpoints: h.nCheckpoints ?? d.nCheckpoints,
      nEvals: h.nEvals ?? d.nEvals,
      trainOnInputs: h.trainOnInputs ?? d.trainOnInputs,
    };
  }

  private trainingType(hyper: Hyper) {
    const s = this.settingsFor(hyper);
    return s.trainingType === "full"
      ? { type: "Full" }
      : {
          type: "Lora",
          lora_r: hyper.loraRank,
          lora_alpha: Math.max(1, Math.round(hyper.loraAlpha)),
          lora_dropout: s.loraDropout,
          lora_trainable_modules: "all-linear",
        };
  }

  /**
   * Together's own estimate (POST /fine-tunes/estimate-price) for training `trainRows` on `baseModel`, to show
   * beside tuneloop's. Uploads (and checks) the file first; train() reuses that upload.
   */
  async quote(input: {
    trainRows: readonly LocatedRow[];
    baseModel: string;
    hyper: Hyper;
    validRows?: readonly LocatedRow[];
    signal?: AbortSignal;
  }): Promise<ProviderQuote> {
    const train = await this.uploadFile(input.trainRows, { filename: "tuneloop-train.jsonl", signal: input.signal });
    const valid = input.validRows?.length
      ? await this.uploadFile(input.validRows, { filename: "tuneloop-valid.jsonl", signal: input.signal })
      : null;
    const s = this.settingsFor(input.hyper);
    const r = await this.api
      .json<{
        estimation_available?: boolean;
        unavailable_reason?: string;
        estimated_total_price?: number;
        estimated_train_token_count?: number;
        estimated_eval_token_count?: number;
        user_limit?: number;
        allowed_to_proceed?: boolean;
      }>("POST", "/fine-tunes/estimate-price", {
        signal: input.signal,
        body: {
          training_file: train.id,
          ...(valid ? { validation_file: valid.id, n_evals: s.nEvals } : {}),
          model: input.baseModel,
          n_epochs: input.hyper.epochs,
          training_method: { method: "sft", train_on_inputs: s.trainOnInputs },
          training_type: this.trainingType(input.hyper),
        },
      })
      .catch((err) => {
        throw refusal(err, `Together could not estimate the price of tuning ${input.baseModel}`);
      });
    return {
      provider: "together",
      model: input.baseModel,
      available: r.estimation_available !== false,
      usd: r.estimated_total_price ?? null,
      trainTokens: r.estimated_train_token_count ?? null,
      evalTokens: r.estimated_eval_token_count ?? null,
      userLimitUsd: r.user_limit ?? null,
      allowedToProceed: r.allowed_to_proceed ?? null,
      reason: r.unavailable_reason,
      fileId: train.id,
    };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Jobs

  getJob(id: string, signal?: AbortSignal): Promise<TogetherJob> {
    return this.api.json<TogetherJob>("GET", `/fine-tunes/${encodeURIComponent(id)}`, { signal });
  }

  async listEvents(id: string, signal?: AbortSignal): Promise<TogetherEvent[]> {
    const r = await this.api.json<{ data?: TogetherEvent[] }>("GET", `/fine-tunes/${encodeURIComponent(id)}/events`, {
      signal,
    });
    return r.data ?? [];
  }

  async cancelJob(id: string, signal?: AbortSignal): Promise<TogetherJob> {
    return this.api.json<TogetherJob>("POST", `/fine-tunes/${encodeURIComponent(id)}/cancel`, { signal });
  }

  /** Our job from an earlier attempt, found by its suffix (Together takes no idempotency key). */
  async findBySuffix(suffix: string, model: string, signal?: AbortSignal): Promise<TogetherJob | null> {
    const r = await this.api.json<{ data?: TogetherJob[] }>("GET", "/fine-tunes", { signal });
    return (
      (r.data ?? []).find(
        (j) => (j.suffix === suffix || (j.model_output_name ?? "").includes(suffix)) && (!j.model || j.model === model),
      ) ?? null
    );
  }

  /** Training loss points after `fromStep` (GET /fine-tunes/{id}/metrics); [] when the API has no metrics. */
  private async metrics(
    id: string,
    fromStep: number,
    signal: AbortSignal,
  ): Promise<Array<{ step: number; loss: number }>> {
    if (!this.metricsSupported) return [];
    try {
      const r = await this.api.json<{ metrics?: Array<Record<string, unknown>> }>(
        "GET",
        `/fine-tunes/${encodeURIComponent(id)}/metrics`,
        { signal, query: { global_step_from: fromStep + 1 } },
      );
      const out: Array<{ step: number; loss: number }> = [];
      for (const m of r.metrics ?? []) {
        const step = Number(m.global_step ?? m.step);
        const loss = Number(m.train_loss ?? m.loss ?? m["train/loss"]);
        if (Number.isFinite(step) && Number.isFinite(loss) && step > fromStep) out.push({ step, loss });
      }
      return out.sort((a, b) => a.step - b.step);
    } catch (err) {
      if (err instanceof ProviderHttpError && [400, 404, 405, 501].includes(err.status)) {
        this.metricsSupported = false;
        return [];
      }
      throw err;
    }
  }

  async train(job: HostedTrainJob): Promise<TrainOutcome> {
    const t0 = Date.now();
    const model = job.run.baseModel;
    const suffix = `tuneloop-${runTag(job)}`;
    let jobId = job.jobId;
    try {
      return await withCancel(
        job,
        () => jobId,
        async (id, signal) => {
          await this.cancelJob(id, signal);
        },
        async () => {
          if (!jobId) {
            jobId = (await this.startJob(job, suffix)).id;
          }
          return await this.follow(job, jobId, t0);
        },
      );
    } catch (err) {
      throw refusal(err, `Together job ${jobId ?? "(not created)"} for ${model}`);
    }
  }

  /** Uploads and creates the job (or finds the one an earlier attempt created), riding out an outage as stalled. */
  private async startJob(job: HostedTrainJob, suffix: string): Promise<{ id: string; found: boolean }> {
    const model = job.run.baseModel;
    return pollUntil<{ id: string; found: boolean }>(
      suffix,
      async () => {
        if (job.run.attempts > 1 || this.unsureCreates.has(suffix)) {
          const found = await this.findBySuffix(suffix, model, job.signal);
          if (found) {
            job.onJobCreated(found.id);
            job.onEvent?.(`Following Together job ${found.id}, created by an earlier attempt of this run.`);
            return { done: true, value: { id: found.id, found: true } };
          }
        }
        const stall = { onStalled: job.onStalled, onRecovered: job.onRecovered, signal: job.signal };
        const train = await this.uploadFile(job.trainRows, {
          filename: `tuneloop-run-${job.run.id}-train.jsonl`,
          ...stall,
        });
        const valid = job.validRows?.length
          ? await this.uploadFile(job.validRows, { filename: `tuneloop-run-${job.run.id}-valid.jsonl`, ...stall })
          : null;
        const s = this.settingsFor(job.hyper);
        const body = {
          training_file: train.id,
          ...(valid ? { validation_file: valid.id, n_evals: s.nEvals } : {}),
          model,
          n_epochs: job.hyper.epochs,
          n_checkpoints: s.nCheckpoints,
          batch_size: job.hyper.batchSize,
          learning_rate: job.hyper.learningRate,
          warmup_ratio: s.warmupRatio,
          suffix,
          training_method: { method: "sft", train_on_inputs: s.trainOnInputs },
          training_type: this.trainingType(job.hyper),
        };
        let created: TogetherJob;
        try {
          created = await this.api.json<TogetherJob>("POST", "/fine-tunes", {
            body,
            signal: job.signal,
            retryUnsure: false,
          });
        } catch (err) {
          if (err instanceof ProviderUnavailableError) this.unsureCreates.add(suffix);
          throw err;
        }
        this.unsureCreates.delete(suffix);
        job.onJobCreated(created.id);
        const tt = body.training_type as { type: string; lora_r?: number; lora_alpha?: number };
        job.onEvent?.(
          `Together job ${created.id} created: ${model}, ${tt.type === "Full" ? "full fine-tune" : `LoRA r=${tt.lora_r} alpha=${tt.lora_alpha}`}, ${fmt.count(body.n_epochs, "epoch")}, batch ${body.batch_size}, learning rate ${body.learning_rate}.`,
        );
        return { done: true, value: { id: created.id, found: false } };
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
    const losses: number[] = [];
    let lastStatus = "";
    let step = 0;
    let totalSteps = 0;
    let reportedStep = resumeStep;
    let lastLoss = Number.NaN;
    let lastError: string | null = null;
    let tokenCount = 0;
    let metricStep = 0;
    let nEpochs = job.hyper.epochs;
    const say = (m: string) => job.onEvent?.(m);

    const report = (s: number, loss: number) => {
      lastLoss = loss;
      losses.push(loss);
      if (s <= reportedStep) return;
      reportedStep = s;
      const elapsedMs = Date.now() - t0;
      const total = Math.max(totalSteps, s);
      const tokens = total ? Math.round((tokenCount * s) / total) : 0;
      job.onProgress({
        step: s,
        totalSteps: total,
        epoch: total ? Math.min(nEpochs, (s / total) * nEpochs) : 0,
        loss,
        tokensPerSec: rate(tokens, elapsedMs),
        tokens,
        elapsedMs,
      });
    };

    const final = await pollUntil<TogetherJob>(
      jobId,
      async () => {
        const j = await this.getJob(jobId, job.signal);
        const events = await this.listEvents(jobId, job.signal);
        let changed = false;
        if (j.n_epochs) nEpochs = j.n_epochs;
        if (j.token_count) tokenCount = j.token_count;
        const m = mapTogetherStatus(j.status);
        if (j.status !== lastStatus) {
          changed = true;
          lastStatus = j.status;
          if (!m.known) say(`Together reports status "${j.status}" for job ${jobId}; still following it.`);
          else if (j.status === "queued" || j.status === "pending")
            say(`Together job ${jobId} is ${j.status}${j.queue_depth ? ` (queue depth ${j.queue_depth})` : ""}.`);
          else if (j.status === "compressing" || j.status === "uploading") say(`Together job ${jobId}: ${m.label}.`);
        }
        for (const e of events) {
          const key = e.hash || `${e.created_at}|${e.type}|${e.step ?? ""}|${e.message}`;
          if (seen.has(key)) continue;
          seen.add(key);
          changed = true;
          if (e.total_steps) totalSteps = Math.max(totalSteps, e.total_steps);
          if (e.token_count && !tokenCount) tokenCount = e.token_count;
          if (e.type === "job_error" || e.level === "error") lastError = e.message;
          if (TOLD.has(e.type) || e.level === "warning" || e.level === "error") {
            if (e.type === "billing_limit") say(`Together: billing limit reached: ${e.message}`);
            else if (e.type === "checkpoint_save") say(`Together checkpoint at step ${e.step ?? "?"}: ${e.message}`);
            else say(`Together: ${e.message}`);
          }
          if (e.step && e.step > step) step = e.step;
          const loss = LOSS_IN_TEXT.exec(e.message);
          if (loss && e.step) report(e.step, Number(loss[1]));
        }
        if (
          j.status === "running" ||
          m.state === "succeeded" ||
          j.status === "compressing" ||
          j.status === "uploading"
        ) {
          for (const p of await this.metrics(jobId, metricStep, job.signal)) {
            metricStep = Math.max(metricStep, p.step);
            if (p.step > step) step = p.step;
            report(p.step, p.loss);
            changed = true;
          }
        }
        if (m.state === "succeeded") return { done: true, value: j };
        if (m.state === "cancelled") throw new CancelledError(`Together job ${jobId} was cancelled at Together.`);
        if (m.state === "failed") {
          throw new TuneError(
            ErrorCode.ProviderJobFailed,
            `Together job ${jobId} failed: ${lastError ?? `status ${j.status}, no error event`}. Together refunds failed jobs (docs: fine-tuning pricing).`,
            { jobId, status: j.status },
          );
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

    const tuned = final.model_output_name;
    if (!tuned) {
      throw new TuneError(ErrorCode.ProviderJobFailed, `Together finished job ${jobId} but named no output model.`, {
        jobId,
      });
    }
    const base = final.model ?? job.run.baseModel;
    this.tunedBase.set(tuned, base);
    const trainingTokens = final.token_count ?? tokenCount;
    const full = (final.training_type?.type ?? this.settingsFor(job.hyper).trainingType).toLowerCase() === "full";
    const entry = priceEntry("together", base);
    const per1M = entry ? (full ? (entry.fullTrainingPer1M ?? entry.trainingPer1M) : entry.trainingPer1M) : null;
    const reported = final.total_price ? final.total_price / 1e9 : null;
    let usd: number;
    if (per1M !== null && trainingTokens > 0) usd = (trainingTokens * per1M) / 1e6;
    else usd = reported ?? 0;
    if (reported !== null) {
      say(
        `Together reports ${fmt.usd(reported)} for job ${jobId} (${fmt.count(trainingTokens, "token")}); booked ${fmt.usd(usd)} from the price table.`,
      );
    }
    const created = Date.parse(final.created_at ?? "");
    const updated = Date.parse(final.updated_at ?? "");
    return {
      tunedModelId: tuned,
      steps: Math.max(totalSteps, step),
      trainingTokens,
      finalLoss: lastLoss,
      losses,
      wallMs:
        Number.isFinite(created) && Number.isFinite(updated) && updated >= created
          ? updated - created
          : Date.now() - t0,
      usd,
      jobId,
    };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Inference

  /** Prices of a base model (its serverless rate) or a tuned one (the tuned-model rate of its base). */
  pricingFor(modelId: string): Pricing | null {
    const base = priceEntry("together", modelId);
    if (base) return pricingOf(base.baseInputPer1M ?? base.inputPer1M, base.baseOutputPer1M ?? base.outputPer1M);
    const known = this.tunedBase.get(modelId);
    const entry = known ? priceEntry("together", known) : baseOfTuned(modelId);
    return entry ? pricingOf(entry.inputPer1M, entry.outputPer1M) : null;
  }

  /** A base model id or a tuned model id (a job's model_output_name), answered through chat completions. */
  inference(modelId: string, ref: string): InferenceModel {
    return { ...endpointModel(this.chat, modelId), ref, provider: "together", pricing: this.pricingFor(modelId) };
  }
}

/** The price entry of the base a Together output name was tuned from ("acct/Meta-Llama-3.1-8B-...-tuneloop-..."). */
function baseOfTuned(modelId: string) {
  const lower = modelId.toLowerCase();
  const hits = loadCostTables()
    .prices.filter((e) => e.provider === "together" && !e.model.startsWith("band:"))
    .filter((e) => lower.includes((e.model.split("/").pop() ?? e.model).toLowerCase()))
    .sort((a, b) => b.model.length - a.model.length);
  return hits[0] ?? null;
}

/** Together's validation_report as one line. */
export function reportText(report: unknown): string {
  if (report == null) return "no validation report";
  if (typeof report === "string") return report.slice(0, 500);
  if (typeof report === "object") {
    const r = report as { errors?: unknown[]; message?: string };
    if (Array.isArray(r.errors) && r.errors.length) {
      return r.errors
        .slice(0, 5)
        .map((e) => (typeof e === "string" ? e : ((e as { message?: string }).message ?? JSON.stringify(e))))
        .join("; ")
        .slice(0, 500);
    }
    if (r.message) return r.message.slice(0, 500);
  }
  return JSON.stringify(report).slice(0, 500);
}

/** Turns a provider refusal or outage that escaped into a TuneError the user can read (the body is shown). */
export function refusal(err: unknown, what: string): unknown {
  if (err instanceof ProviderHttpError) {
    const hint =
      err.status === 401
        ? " Check the API key setting."
        : err.status === 404
          ? " Check the model name and the job id."
          : "";
    return new TuneError(
      ErrorCode.ProviderRefused,
      `${what}: ${err.provider} refused it (HTTP ${err.status}): ${err.providerMessage}.${hint}`,
      {
        status: err.status,
      },
    );
  }
  if (err instanceof ProviderUnavailableError) {
    return new TuneError(ErrorCode.ProviderUnavailable, `${what}: ${err.message}. Try again later.`);
  }
  return err;
}
