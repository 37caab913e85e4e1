/**
 * A local fake of Together AI's REST API (fine-tuning, files, chat completions), built from the API reference:
 *
 *   https://docs.together.ai/reference/upload-file          POST /files/upload, multipart: purpose (fine-tune, eval,
 *                                                            ...), file_name, file_type (jsonl), file -> file object
 *   https://docs.together.ai/reference/get-files-id         GET /files/{id}: processing_status (PENDING, QUEUED,
 *                                                            RUNNING, COMPLETED, FAILED, INVALID_FORMAT),
 *                                                            validation_report (Together's own check of the file)
 *   https://docs.together.ai/docs/fine-tuning/data-preparation  conversational rows: messages with role system|user|
 *                                                            assistant, alternating, at least one assistant; weights 0/1
 *   https://docs.together.ai/reference/post-fine-tunes-estimate-price  POST /fine-tunes/estimate-price ->
 *                                                            estimation_available, estimated_total_price (USD),
 *                                                            estimated_train_token_count, estimated_eval_token_count,
 *                                                            user_limit, allowed_to_proceed
 *   https://docs.together.ai/reference/post-fine-tunes      POST /fine-tunes: training_file, model, n_epochs,
 *                                                            n_checkpoints, n_evals, batch_size (int|"max"),
 *                                                            learning_rate, warmup_ratio, suffix, training_method
 *                                                            {method: sft, train_on_inputs}, training_type {type: Full}
 *                                                            | {type: Lora, lora_r, lora_alpha, lora_dropout, ...}
 *                                                            -> FinetuneResponseTruncated
 *   https://docs.together.ai/reference/get-fine-tunes       GET /fine-tunes -> {data: [jobs]}
 *   https://docs.together.ai/reference/get-fine-tunes-id    GET /fine-tunes/{id}: status (FinetuneJobStatus: pending,
 *                                                            queued, running, compressing, uploading, cancel_requested,
 *                                                            cancelled, error, completed), token_count, total_price
 *                                                            (nano-dollars), model_output_name, events, queue_depth
 *   https://docs.together.ai/reference/get-fine-tunes-id-events  GET /fine-tunes/{id}/events -> {data: [FineTuneEvent:
 *                                                            object fine-tune-event, created_at, level, message, type
 *                                                            (job_pending, job_start, training_start, epoch_complete,
 *                                                            checkpoint_save, billing_limit, job_error, ...), step,
 *                                                            total_steps, token_count, checkpoint_path, hash, ...]}
 *   https://docs.together.ai/reference/get-fine-tunes-id-metrics  GET /fine-tunes/{id}/metrics?global_step_from=...
 *                                                            -> {metrics: [...]}; the reference names the query
 *                                                            parameters (global_step_from/to, logged_at_from/to,
 *                                                            resolution) but the stored copy does not spell out a
 *                                                            record: {global_step, train_loss, logged_at} is inferred
 *   https://docs.together.ai/reference/post-fine-tunes-id-cancel  POST /fine-tunes/{id}/cancel -> job
 *   https://docs.together.ai/reference/chat-completions     POST /chat/completions (OpenAI-compatible), usage
 * Errors are ErrorData `{"error": {"message", "type", "param", "code"}}` with 400/401/404/429/5xx.
 *
 * Jobs move one stage per GET /fine-tunes/{id} (or on a timer with `autoAdvanceMs`): pending -> queued -> running
 * (one training step per tick, events and a metric per step) -> compressing -> uploading -> completed.
 */
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { chatCompletionText, type Misbehaviour, writeBody } from "./misbehave.ts";

// ---------------------------------------------------------------------------------------------------------------
// Shared fake plumbing (also used by the OpenAI fake)

export interface Fault {
  method?: string;
  /** Matches the path (without the /v1 prefix and query). */
  path?: RegExp;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** How many requests it answers (default 1). */
  times?: number;
}

export interface Logged {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  authorization?: string;
}

export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Writes the reply itself (a misbehaving chat answer) instead of status + JSON body. */
  write?: (res: http.ServerResponse) => void;
}

export type Handler = (req: Logged, raw: { contentType: string; text: string }) => Reply | Promise<Reply>;

export function parseMultipart(
  contentType: string,
  text: string,
): Record<string, { value: string; filename?: string }> {
  const m = /boundary=("?)([^";]+)\1/i.exec(contentType);
  if (!m) throw new Error("no multipart boundary");
  const out: Record<string, { value: string; filename?: string }> = {};
  for (const part of text.split(`--${m[2]}`)) {
    const sep = part.indexOf("\r\n\r\n");
    if (sep < 0) continue;
    const head = part.slice(0, sep);
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    if (!name) continue;
    const filename = /filename="([^"]*)"/i.exec(head)?.[1];
    out[name] = { value: part.slice(sep + 4).replace(/\r\n$/, ""), filename };
  }
  return out;
}

export const errorBody = (message: string, type = "invalid_request_error", code: string | null = null) => ({
  error: { message, type, param: null, code },
});

export async function serve(
  apiKey: string,
  faults: Fault[],
  requests: Logged[],
  handle: Handler,
): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", async () => {
      const send = (r: Reply) => {
        if (r.write) return r.write(res);
        res.writeHead(r.status, { "content-type": "application/json", ...r.headers });
        res.end(JSON.stringify(r.body));
      };
      const url = new URL(req.url ?? "/", "http://x");
      const path = url.pathname.replace(/^\/v1/, "");
      const text = Buffer.concat(chunks).toString("utf8");
      const contentType = String(req.headers["content-type"] ?? "");
      let body: unknown = null;
      try {
        body = contentType.includes("application/json") && text ? JSON.parse(text) : null;
      } catch {
        return send({ status: 400, body: errorBody("Request body is not valid JSON") });
      }
      const logged: Logged = {
        method: req.method ?? "GET",
        path,
        query: url.searchParams,
        body,
        authorization: req.headers.authorization,
      };
      requests.push(logged);
      if (req.headers.authorization !== `Bearer ${apiKey}`) {
        return send({
          status: 401,
          // The message shows the start of the key it was sent (as OpenAI's does).
          body: errorBody(
            `Invalid API key provided: ${String(req.headers.authorization ?? "").slice(7, 19)}****.`,
            "invalid_request_error",
            "invalid_api_key",
          ),
        });
      }
      const fault = faults.find((f) => (!f.method || f.method === logged.method) && (!f.path || f.path.test(path)));
      if (fault) {
        fault.times = (fault.times ?? 1) - 1;
        if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
        return send({
          status: fault.status,
          body: fault.body ?? errorBody(`scripted ${fault.status}`, "server_error"),
          headers: fault.headers,
        });
      }
      try {
        send(await handle(logged, { contentType, text }));
      } catch (err) {
        send({ status: 500, body: errorBody(`fake bug: ${(err as Error).message}`, "server_error") });
      }
    });
  });
  // longer than any pause between a test's requests: a kept-alive socket is never closed under a request
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const tokensOf = (s: string) => Math.max(1, Math.ceil(s.length / 4));

export function chatReply(
  body: { model: string; messages: Array<{ role: string; content: string }> },
  answer: (messages: Array<{ role: string; content: string }>, model: string) => string,
  n: number,
  misbehave?: Misbehaviour,
): Reply {
  const content = answer(body.messages, body.model);
  const prompt = body.messages.reduce((s, m) => s + 4 + tokensOf(m.content ?? ""), 3);
  const completion = tokensOf(content);
  if (misbehave) {
    const text = chatCompletionText(
      { id: `chatcmpl-${n}`, model: body.model, content, promptTokens: prompt, completionTokens: completion },
      misbehave,
    );
    return { status: 200, body: null, write: (res) => writeBody(res, text, misbehave) };
  }
  return {
    status: 200,
    body: {
      id: `chatcmpl-${n}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Together

export interface TogetherPlan {
  /** The job fails at this training step with this error event. */
  failAt?: { step: number; message: string };
  /** Together stops the job at this step for the billing limit. */
  billingLimitAt?: number;
}

export interface FakeTogetherOptions {
  apiKey: string;
  /** Base models it tunes (and serves). */
  models?: string[];
  /** Training steps of every job (default 4). */
  steps?: number;
  /** Chat answers (default: echo of the last user message). */
  answer?: (messages: Array<{ role: string; content: string }>, model: string) => string;
  /** Advance every job on a timer instead of per GET. */
  autoAdvanceMs?: number;
  /** Ticks a file stays PENDING before its check (default 1). */
  fileCheckTicks?: number;
}

interface FakeFile {
  id: string;
  object: "file";
  created_at: number;
  filename: string;
  bytes: number;
  purpose: string;
  FileType: string;
  LineCount: number;
  Processed: boolean;
  processing_status: string;
  validation_report?: { errors: string[] };
  content: string;
  ticks: number;
  problems: string[];
}

export interface FakeTogetherJob {
  id: string;
  status: string;
  created_at: string;
  updated_at: string;
  model: string;
  suffix?: string;
  model_output_name: string;
  training_file: string;
  validation_file?: string;
  n_epochs: number;
  n_checkpoints: number;
  n_evals: number;
  batch_size: number | "max";
  learning_rate: number;
  warmup_ratio: number;
  training_type: Record<string, unknown>;
  training_method: Record<string, unknown>;
  token_count: number;
  total_price: number;
  epochs_completed: number;
  queue_depth: number;
  events: Array<Record<string, unknown>>;
  metrics: Array<{ global_step: number; train_loss: number; logged_at: string }>;
  step: number;
  totalSteps: number;
  plan: TogetherPlan;
  body: Record<string, unknown>;
  /** Every status this job was reported with, in order (create, then each GET). */
  served: string[];
}

export interface FakeTogether {
  baseUrl: string;
  requests: Logged[];
  faults: Fault[];
  /** Misbehaviours of the next chat answers, one per answer (see misbehave.ts). */
  misbehave: Misbehaviour[];
  files: Map<string, FakeFile>;
  jobs: Map<string, FakeTogetherJob>;
  /** Plans for the next created jobs, in order. */
  plans: TogetherPlan[];
  /** Move a job on by one stage. */
  advance(id: string): void;
  count(method: string, path: RegExp): number;
  close(): Promise<void>;
}

const PRICE_PER_1M = { Lora: 0.48, Full: 0.54 };

function checkLine(line: string, n: number): string | null {
  let row: { messages?: Array<Record<string, unknown>>; text?: unknown };
  try {
    row = JSON.parse(line);
  } catch {
    return `Line ${n}: not valid JSON`;
  }
  if (typeof row.text === "string") return null;
  if (!Array.isArray(row.messages) || !row.messages.length) return `Line ${n}: the messages column must not be empty`;
  let prev: unknown = null;
  let assistant = false;
  for (const [j, m] of row.messages.entries()) {
    if (!("role" in m)) return `Line ${n}: messages[${j}] must contain a role field`;
    if (typeof m.content !== "string") return `Line ${n}: messages[${j}].content must be a string`;
    if (!["system", "user", "assistant"].includes(String(m.role))) return `Line ${n}: invalid role ${m.role}`;
    if (prev === m.role) return `Line ${n}: conversation roles must alternate`;
    prev = m.role;
    assistant ||= m.role === "assistant";
  }
  return assistant ? null : `Line ${n}: at least one message with the assistant role must be present`;
}

function checkLines(content: string): string[] {
  const problems: string[] = [];
  const lines = content.split("\n").filter((l) => l.trim());
  for (const [i, line] of lines.entries()) {
    const problem = checkLine(line, i + 1);
    if (problem) problems.push(problem);
  }
  return problems;
}

export async function startFakeTogether(opts: FakeTogetherOptions): Promise<FakeTogether> {
  const models = opts.models ?? ["meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "Qwen/Qwen2.5-7B-Instruct"];
  const stepsPerJob = opts.steps ?? 4;
  const requests: Logged[] = [];
  const faults: Fault[] = [];
  const misbehave: Misbehaviour[] = [];
  const files = new Map<string, FakeFile>();
  const jobs = new Map<string, FakeTogetherJob>();
  const plans: TogetherPlan[] = [];
  let chats = 0;
  const now = () => new Date().toISOString();
  const uid = (p: string) => `${p}-${crypto.randomUUID()}`;

  const event = (j: FakeTogetherJob, type: string, message: string, extra: Record<string, unknown> = {}) => {
    j.events.push({
      object: "fine-tune-event",
      created_at: now(),
      level: extra.level ?? "info",
      message,
      type,
      param_count: 8_030_000_000,
      token_count: j.token_count,
      total_steps: j.totalSteps,
      wandb_url: "",
      step: j.step,
      checkpoint_path: "",
      model_path: "",
      training_offset: 0,
      hash: crypto.randomBytes(8).toString("hex"),
      ...extra,
    });
    j.updated_at = now();
  };

  const truncated = (j: FakeTogetherJob) => {
    const { events: _e, metrics: _m, step: _s, totalSteps: _t, plan: _p, body: _b, served: _v, ...rest } = j;
    return rest;
  };

  const advance = (id: string) => {
    const j = jobs.get(id);
    if (!j) return;
    switch (j.status) {
      case "pending":
        j.status = "queued";
        j.queue_depth = 1;
        j.updated_at = now();
        break;
      case "queued": {
        j.status = "running";
        j.queue_depth = 0;
        const file = files.get(j.training_file);
        const perEpoch = (file?.content ?? "")
          .split("\n")
          .filter(Boolean)
          .reduce((s, l) => s + tokensOf(l), 0);
        j.token_count = perEpoch * j.n_epochs;
        j.total_price = Math.round(
          j.token_count * PRICE_PER_1M[j.training_type.type === "Full" ? "Full" : "Lora"] * 1000,
        );
        event(j, "job_start", "Job started");
        event(j, "model_downloading", "Downloading model");
        event(j, "training_data_downloading", "Downloading training data");
        event(j, "training_start", `Training started for model ${j.model}`);
        break;
      }
      case "running": {
        j.step++;
        const loss = Math.round((2.5 / (1 + j.step)) * 1e4) / 1e4;
        if (j.plan.billingLimitAt === j.step) {
          event(j, "billing_limit", "Job stopped: your account reached its billing limit. Add credit to continue.", {
            level: "error",
          });
          j.status = "error";
          break;
        }
        if (j.plan.failAt?.step === j.step) {
          event(j, "job_error", j.plan.failAt.message, { level: "error" });
          j.status = "error";
          break;
        }
        j.metrics.push({ global_step: j.step, train_loss: loss, logged_at: now() });
        const perEpoch = Math.max(1, Math.round(j.totalSteps / j.n_epochs));
        if (j.step % perEpoch === 0) {
          j.epochs_completed++;
          event(j, "epoch_complete", `Epoch completed, at step ${j.step}`);
          if (j.epochs_completed > j.n_epochs - j.n_checkpoints) {
            event(j, "checkpoint_save", `New checkpoint saved at step ${j.step}`, {
              checkpoint_path: `s3://fake/${j.id}/checkpoint-${j.step}`,
            });
          }
        }
        if (j.step >= j.totalSteps) {
          j.status = "compressing";
          event(j, "training_complete", "Training completed");
          event(j, "model_compressing", "Compressing output model");
        }
        break;
      }
      case "compressing":
        j.status = "uploading";
        event(j, "model_compression_complete", "Model compression complete");
        event(j, "model_uploading", "Uploading output model");
        break;
      case "uploading":
        j.status = "completed";
        event(j, "model_upload_complete", "Model upload complete");
        event(j, "job_complete", `Job finished. Output model: ${j.model_output_name}`);
        break;
      case "cancel_requested":
        j.status = "cancelled";
        event(j, "job_stopped", "Job was stopped by the user");
        break;
      default:
        break;
    }
  };

  const handle: Handler = (req, raw) => {
    const p = req.path;
    const filePath = /^\/files\/([^/]+)$/.exec(p);
    const jobPath = /^\/fine-tunes\/([^/]+)(\/events|\/metrics|\/cancel)?$/.exec(p);
    if (req.method === "POST" && p === "/files/upload") {
      if (!raw.contentType.includes("multipart/form-data"))
        return { status: 400, body: errorBody("Expected multipart/form-data") };
      const parts = parseMultipart(raw.contentType, raw.text);
      const purposes = [
        "fine-tune",
        "eval",
        "eval-sample",
        "eval-output",
        "eval-summary",
        "batch-generated",
        "batch-api",
      ];
      if (!parts.purpose || !purposes.includes(parts.purpose.value))
        return { status: 400, body: errorBody(`purpose must be one of ${purposes.join(", ")}`) };
      if (!parts.file_name?.value) return { status: 400, body: errorBody("file_name is required") };
      if (!parts.file) return { status: 400, body: errorBody("file is required") };
      if (parts.file_type && !["csv", "jsonl", "parquet"].includes(parts.file_type.value))
        return { status: 400, body: errorBody("file_type must be csv, jsonl or parquet") };
      const content = parts.file.value;
      const f: FakeFile = {
        id: uid("file"),
        object: "file",
        created_at: Math.floor(Date.now() / 1000),
        filename: parts.file_name.value,
        bytes: Buffer.byteLength(content),
        purpose: parts.purpose.value,
        FileType: parts.file_type?.value ?? "jsonl",
        LineCount: content.split("\n").filter(Boolean).length,
        Processed: true,
        processing_status: "PENDING",
        content,
        ticks: opts.fileCheckTicks ?? 1,
        problems: checkLines(content),
      };
      files.set(f.id, f);
      const { content: _c, ticks: _t, problems: _p, ...pub } = f;
      return { status: 200, body: pub };
    }
    if (req.method === "GET" && filePath) {
      const f = files.get(decodeURIComponent(filePath[1]));
      if (!f) return { status: 404, body: errorBody("File not found") };
      if (f.processing_status !== "COMPLETED" && f.processing_status !== "INVALID_FORMAT") {
        if (f.ticks-- <= 0) {
          if (f.problems.length) {
            f.processing_status = "INVALID_FORMAT";
            f.validation_report = { errors: f.problems };
          } else f.processing_status = "COMPLETED";
        } else f.processing_status = "RUNNING";
      }
      const { content: _c, ticks: _t, problems: _p, ...pub } = f;
      return { status: 200, body: pub };
    }
    if (req.method === "POST" && p === "/fine-tunes/estimate-price") {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const f = files.get(String(b.training_file));
      if (!f) return { status: 400, body: errorBody(`training_file ${b.training_file} not found`) };
      if (!models.includes(String(b.model)))
        return { status: 400, body: errorBody(`Model ${b.model} is not supported for fine-tuning`) };
      if (f.processing_status !== "COMPLETED")
        return {
          status: 200,
          body: { estimation_available: false, unavailable_reason: "The training file has not passed validation yet." },
        };
      const tokens =
        f.content
          .split("\n")
          .filter(Boolean)
          .reduce((s, l) => s + tokensOf(l), 0) * Number(b.n_epochs ?? 1);
      const type = (b.training_type as { type?: string } | undefined)?.type === "Full" ? "Full" : "Lora";
      return {
        status: 200,
        body: {
          estimation_available: true,
          estimated_total_price: Math.round(((tokens * PRICE_PER_1M[type]) / 1e6) * 1e6) / 1e6,
          estimated_train_token_count: tokens,
          estimated_eval_token_count: 0,
          user_limit: 100,
          allowed_to_proceed: true,
        },
      };
    }
    if (req.method === "POST" && p === "/fine-tunes") {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const f = files.get(String(b.training_file));
      if (!b.training_file || !b.model) return { status: 400, body: errorBody("training_file and model are required") };
      if (!f) return { status: 400, body: errorBody(`File ${b.training_file} not found`) };
      if (f.processing_status !== "COMPLETED")
        return { status: 400, body: errorBody(`File ${f.id} has not passed validation (${f.processing_status})`) };
      if (!models.includes(String(b.model)))
        return { status: 400, body: errorBody(`Model ${b.model} is not supported for fine-tuning`) };
      if (b.n_epochs !== undefined && (!Number.isInteger(b.n_epochs) || Number(b.n_epochs) < 1))
        return { status: 400, body: errorBody("n_epochs must be a positive integer") };
      if (b.batch_size !== undefined && b.batch_size !== "max" && !Number.isInteger(b.batch_size))
        return { status: 400, body: errorBody("batch_size must be an integer or 'max'") };
      if (b.learning_rate !== undefined && typeof b.learning_rate !== "number")
        return { status: 400, body: errorBody("learning_rate must be a number") };
      const tt = (b.training_type ?? { type: "Lora", lora_r: 8, lora_alpha: 16 }) as Record<string, unknown>;
      if (tt.type !== "Full" && tt.type !== "Lora")
        return { status: 400, body: errorBody("training_type.type must be Full or Lora") };
      if (tt.type === "Lora" && (!Number.isInteger(tt.lora_r) || !Number.isInteger(tt.lora_alpha)))
        return { status: 400, body: errorBody("training_type Lora requires integer lora_r and lora_alpha") };
      const tm = (b.training_method ?? { method: "sft", train_on_inputs: "auto" }) as Record<string, unknown>;
      if (tm.method !== "sft" && tm.method !== "dpo")
        return { status: 400, body: errorBody("training_method.method must be sft or dpo") };
      if (Number(b.n_evals ?? 0) > 0 && !b.validation_file)
        return { status: 400, body: errorBody("n_evals > 0 requires a validation_file") };
      const id = `ft-${crypto.randomUUID()}`;
      const j: FakeTogetherJob = {
        id,
        status: "pending",
        created_at: now(),
        updated_at: now(),
        model: String(b.model),
        suffix: b.suffix as string | undefined,
        model_output_name: `fakeuser/${String(b.model).split("/").pop()}-${b.suffix ?? "ft"}-${id.slice(3, 11)}`,
        training_file: f.id,
        validation_file: b.validation_file as string | undefined,
        n_epochs: Number(b.n_epochs ?? 1),
        n_checkpoints: Number(b.n_checkpoints ?? 1),
        n_evals: Number(b.n_evals ?? 0),
        batch_size: (b.batch_size as number | "max") ?? "max",
        learning_rate: Number(b.learning_rate ?? 0.00001),
        warmup_ratio: Number(b.warmup_ratio ?? 0),
        training_type: tt,
        training_method: tm,
        token_count: 0,
        total_price: 0,
        epochs_completed: 0,
        queue_depth: 2,
        events: [],
        metrics: [],
        step: 0,
        totalSteps: stepsPerJob,
        plan: plans.shift() ?? {},
        body: b,
        served: ["pending"],
      };
      jobs.set(id, j);
      event(j, "job_pending", "Fine tune request created");
      return { status: 200, body: truncated(j) };
    }
    if (req.method === "GET" && p === "/fine-tunes") {
      return { status: 200, body: { data: [...jobs.values()].reverse().map(truncated) } };
    }
    if (jobPath && p !== "/fine-tunes/estimate-price") {
      const m = jobPath;
      const j = jobs.get(decodeURIComponent(m[1]));
      if (!j) return { status: 404, body: errorBody(`Fine-tune job ${m[1]} not found`) };
      const sub = m[2] ?? "";
      if (req.method === "GET" && sub === "") {
        if (!opts.autoAdvanceMs) advance(j.id);
        j.served.push(j.status);
        return { status: 200, body: { ...truncated(j), events: j.events } };
      }
      if (req.method === "GET" && sub === "/events") return { status: 200, body: { data: j.events } };
      if (req.method === "GET" && sub === "/metrics") {
        const from = Number(req.query.get("global_step_from") ?? 0);
        return { status: 200, body: { metrics: j.metrics.filter((x) => x.global_step >= from) } };
      }
      if (req.method === "POST" && sub === "/cancel") {
        if (["completed", "error", "cancelled"].includes(j.status))
          return { status: 400, body: errorBody(`Job ${j.id} is already ${j.status}`) };
        j.status = "cancel_requested";
        event(j, "cancel_requested", "Cancel requested by the user");
        return { status: 200, body: truncated(j) };
      }
    }
    if (req.method === "POST" && p === "/chat/completions") {
      const b = req.body as { model: string; messages: Array<{ role: string; content: string }> };
      const tuned = [...jobs.values()].some((j) => j.status === "completed" && j.model_output_name === b.model);
      if (!models.includes(b.model) && !tuned)
        return {
          status: 404,
          body: errorBody(`Unable to access model ${b.model}.`, "invalid_request_error", "model_not_available"),
        };
      const answer = opts.answer ?? ((msgs) => [...msgs].reverse().find((x) => x.role === "user")?.content ?? "");
      return chatReply(b, answer, ++chats, misbehave.shift());
    }
    return { status: 404, body: errorBody(`Unknown request URL: ${req.method} ${p}`) };
  };

  const s = await serve(opts.apiKey, faults, requests, handle);
  const timer = opts.autoAdvanceMs
    ? setInterval(() => {
        for (const id of jobs.keys()) advance(id);
      }, opts.autoAdvanceMs)
    : null;
  return {
    baseUrl: s.baseUrl,
    requests,
    faults,
    misbehave,
    files,
    jobs,
    plans,
    advance,
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    close: async () => {
      if (timer) clearInterval(timer);
      await s.close();
    },
  };
}
