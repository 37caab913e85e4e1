/**
 * A local fake of OpenAI's fine-tuning API (files, fine_tuning.jobs, events, checkpoints, cancel, chat completions,
 * webhooks), built from the API reference:
 *
 *   https://platform.openai.com/docs/api-reference/files/create        POST /files, multipart: purpose (fine-tune,
 *                                                                      ...), file -> File {id, object: "file", bytes,
 *                                                                      created_at, filename, purpose, status}
 *   https://platform.openai.com/docs/api-reference/fine-tuning/create  POST /fine_tuning/jobs: model, training_file,
 *                                                                      validation_file, suffix (up to 64 chars), seed,
 *                                                                      metadata, method {type: supervised, supervised:
 *                                                                      {hyperparameters: {n_epochs, batch_size,
 *                                                                      learning_rate_multiplier}}} -> fine_tuning.job
 *   https://platform.openai.com/docs/api-reference/fine-tuning/object  status: validating_files, queued, running,
 *                                                                      succeeded, failed, cancelled; fine_tuned_model,
 *                                                                      trained_tokens, finished_at, error {code,
 *                                                                      message, param}, metadata
 *   https://platform.openai.com/docs/api-reference/fine-tuning/list    GET /fine_tuning/jobs?after&limit&metadata[k]=v
 *   https://platform.openai.com/docs/api-reference/fine-tuning/list-events  GET .../events?after&limit (default 20):
 *                                                                      newest first, {object: list, data, has_more};
 *                                                                      events {id, object: fine_tuning.job.event,
 *                                                                      created_at, level info|warn|error, message,
 *                                                                      type message|metrics, data}
 *   https://platform.openai.com/docs/api-reference/fine-tuning/list-checkpoints  GET .../checkpoints?after&limit ->
 *                                                                      {data: [fine_tuning.job.checkpoint {id,
 *                                                                      created_at, fine_tuned_model_checkpoint,
 *                                                                      step_number, metrics {step, train_loss,
 *                                                                      train_mean_token_accuracy, valid_loss,
 *                                                                      valid_mean_token_accuracy, full_valid_loss,
 *                                                                      full_valid_mean_token_accuracy}}], first_id,
 *                                                                      last_id, has_more}
 *   https://platform.openai.com/docs/api-reference/fine-tuning/cancel  POST .../cancel -> the job, cancelled
 *   https://platform.openai.com/docs/api-reference/chat/create         POST /chat/completions with usage
 *   https://platform.openai.com/docs/api-reference/files/retrieve      GET /files/{id} -> File (metadata)
 *   https://platform.openai.com/docs/api-reference/files/retrieve-contents  GET /files/{id}/content -> the file's
 *                                                                      bytes as they were uploaded
 *   https://platform.openai.com/docs/api-reference/webhook-events      fine_tuning.job.succeeded|failed|cancelled:
 *                                                                      {id, object: event, created_at, type, data: {id}}
 *   https://platform.openai.com/docs/guides/webhooks                   Standard Webhooks headers webhook-id,
 *                                                                      webhook-timestamp, webhook-signature
 * Errors: `{"error": {"message", "type", "param", "code"}}`. Metric event data fields (step, train_loss,
 * train_mean_token_accuracy, total_steps, valid_loss...) follow what the fine-tuning guide shows; the message text
 * of a refused job when OpenAI closes fine-tuning is not in the reference (the fake's wording is its own).
 *
 * Jobs move one stage per GET /fine_tuning/jobs/{id} (or on a timer with `autoAdvanceMs`): validating_files (the
 * training file is checked here) -> queued -> running (one step per tick, a metrics event each, a checkpoint per
 * epoch) -> succeeded.
 */
import crypto from "node:crypto";
import type { Misbehaviour } from "./misbehave.ts";
import {
  chatReply,
  errorBody,
  type Fault,
  type Handler,
  type Logged,
  parseMultipart,
  serve,
  tokensOf,
} from "./together.ts";

export interface OpenAIPlan {
  failAt?: { step: number; code: string; message: string };
}

export interface FakeOpenAIOptions {
  apiKey: string;
  /** Snapshots it fine-tunes (and serves as base models). */
  models?: string[];
  steps?: number;
  answer?: (messages: Array<{ role: string; content: string }>, model: string) => string;
  autoAdvanceMs?: number;
  /** Refuse new fine-tuning jobs (as OpenAI does for organisations past the closure dates). */
  refuseNewJobs?: boolean;
  /** Where finished jobs are announced, signed with `secret` (Standard Webhooks). */
  webhook?: { secret: string; deliver: (headers: Record<string, string>, body: string) => void };
}

interface FakeEvent {
  id: string;
  object: "fine_tuning.job.event";
  created_at: number;
  level: "info" | "warn" | "error";
  message: string;
  type: "message" | "metrics";
  data: Record<string, unknown> | null;
}

export interface SeedJob {
  /** The job's id (default: a random ftjob-...); its last 8 characters end the tuned model's id. */
  id?: string;
  model?: string;
  suffix?: string;
  training: { filename: string; content: string };
  validation?: { filename: string; content: string };
  method?: "supervised" | "dpo" | "reinforcement";
  hyperparameters?: Record<string, unknown>;
  status?: string;
  createdAt?: number;
}

export interface FakeOpenAIJob {
  id: string;
  object: "fine_tuning.job";
  created_at: number;
  finished_at: number | null;
  model: string;
  fine_tuned_model: string | null;
  organization_id: string;
  status: string;
  training_file: string;
  validation_file: string | null;
  trained_tokens: number | null;
  seed: number;
  estimated_finish: number | null;
  error: { code: string; message: string; param: string | null } | null;
  metadata: Record<string, string> | null;
  method: Record<string, unknown>;
  hyperparameters: Record<string, unknown>;
  result_files: string[];
  integrations: unknown[];
  user_provided_suffix: string | null;
}

interface JobState {
  job: FakeOpenAIJob;
  events: FakeEvent[];
  checkpoints: Array<{ id: string } & Record<string, unknown>>;
  step: number;
  totalSteps: number;
  epochs: number;
  plan: OpenAIPlan;
  served: string[];
  /** A job added by seedJob: it stays as seeded (a running one keeps running). */
  seeded?: boolean;
}

export interface FakeOpenAI {
  baseUrl: string;
  requests: Logged[];
  faults: Fault[];
  /** Misbehaviours of the next chat answers, one per answer (see misbehave.ts). */
  misbehave: Misbehaviour[];
  jobs: Map<string, JobState>;
  files: Map<string, { id: string; purpose: string; filename: string; content: string }>;
  plans: OpenAIPlan[];
  /** Files whose content is sent a few bytes at a time and then never finished (a stalled download). */
  stalledFiles: Set<string>;
  advance(id: string): void;
  /**
   * Adds a finished job as a team would have it from earlier work (for `migrate openai`): its training file (and
   * validation file when given) stored as uploads, the job succeeded with a fine-tuned model, the hyperparameters
   * under `method.<type>.hyperparameters` and (for supervised jobs) the legacy top-level `hyperparameters`.
   */
  seedJob(j: SeedJob): FakeOpenAIJob;
  count(method: string, path: RegExp): number;
  close(): Promise<void>;
}

export function signStandardWebhook(secret: string, id: string, ts: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${crypto.createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64")}`;
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions): Promise<FakeOpenAI> {
  const models = opts.models ?? ["gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14", "gpt-4.1-2025-04-14"];
  const steps = opts.steps ?? 4;
  const requests: Logged[] = [];
  const faults: Fault[] = [];
  const misbehave: Misbehaviour[] = [];
  const jobs = new Map<string, JobState>();
  const files = new Map<string, { id: string; purpose: string; filename: string; content: string }>();
  const plans: OpenAIPlan[] = [];
  const stalledFiles = new Set<string>();
  let n = 0;
  const nowS = () => Math.floor(Date.now() / 1000);
  const rid = (p: string) => `${p}-${crypto.randomBytes(12).toString("hex")}`;

  const event = (s: JobState, message: string, extra: Partial<FakeEvent> = {}) => {
    s.events.push({
      id: rid("ftevent"),
      object: "fine_tuning.job.event",
      created_at: nowS(),
      level: "info",
      message,
      type: "message",
      data: {},
      ...extra,
    });
  };

  const announce = (s: JobState) => {
    if (!opts.webhook) return;
    const type = `fine_tuning.job.${s.job.status}`;
    const body = JSON.stringify({ id: rid("evt"), object: "event", created_at: nowS(), type, data: { id: s.job.id } });
    const id = rid("wh");
    const ts = nowS();
    opts.webhook.deliver(
      {
        "webhook-id": id,
        "webhook-timestamp": String(ts),
        "webhook-signature": signStandardWebhook(opts.webhook.secret, id, ts, body),
      },
      body,
    );
  };

  const fileProblems = (content: string): string[] => {
    const out: string[] = [];
    content
      .split("\n")
      .filter((l) => l.trim())
      .forEach((l, i) => {
        try {
          const row = JSON.parse(l) as { messages?: Array<{ role?: string }> };
          if (!Array.isArray(row.messages)) out.push(`line ${i + 1}: missing messages`);
          else if (!row.messages.some((m) => m.role === "assistant")) out.push(`line ${i + 1}: no assistant message`);
        } catch {
          out.push(`line ${i + 1}: invalid JSON`);
        }
      });
    return out;
  };

  const advance = (id: string) => {
    const s = jobs.get(id);
    if (!s || s.seeded) return;
    const j = s.job;
    switch (j.status) {
      case "validating_files": {
        const f = files.get(j.training_file);
        const problems = fileProblems(f?.content ?? "");
        if (problems.length) {
          j.status = "failed";
          j.finished_at = nowS();
          j.error = {
            code: "invalid_training_file",
            message: `The job failed due to an invalid training file. ${problems.slice(0, 3).join("; ")}.`,
            param: "training_file",
          };
          event(s, j.error.message, { level: "error" });
          announce(s);
          break;
        }
        j.status = "queued";
        event(s, "Files validated, moving job to queued state");
        break;
      }
      case "queued":
        j.status = "running";
        event(s, "Fine-tuning job started");
        break;
      case "running": {
        s.step++;
        if (s.plan.failAt?.step === s.step) {
          j.status = "failed";
          j.finished_at = nowS();
          j.error = { code: s.plan.failAt.code, message: s.plan.failAt.message, param: null };
          event(s, s.plan.failAt.message, { level: "error" });
          announce(s);
          break;
        }
        const loss = Math.round((2 / (1 + s.step)) * 1e4) / 1e4;
        const acc = Math.round((1 - loss / 3) * 1e4) / 1e4;
        event(s, `Step ${s.step}/${s.totalSteps}: training loss=${loss}`, {
          type: "metrics",
          data: { step: s.step, train_loss: loss, train_mean_token_accuracy: acc, total_steps: s.totalSteps },
        });
        const perEpoch = Math.max(1, Math.round(s.totalSteps / s.epochs));
        if (s.step % perEpoch === 0) {
          const cp = {
            object: "fine_tuning.job.checkpoint",
            id: rid("ftckpt"),
            created_at: nowS(),
            fine_tuned_model_checkpoint: `ft:${j.model}:fake-org:${j.user_provided_suffix ?? ""}:${j.id.slice(-8)}:ckpt-step-${s.step}`,
            step_number: s.step,
            fine_tuning_job_id: j.id,
            metrics: {
              step: s.step,
              train_loss: loss,
              train_mean_token_accuracy: acc,
              valid_loss: loss * 1.1,
              valid_mean_token_accuracy: acc * 0.95,
              full_valid_loss: loss * 1.1,
              full_valid_mean_token_accuracy: acc * 0.95,
            },
          };
          s.checkpoints.push(cp);
          event(s, `Checkpoint created at step ${s.step}`);
        }
        if (s.step >= s.totalSteps) {
          const f = files.get(j.training_file);
          j.status = "succeeded";
          j.finished_at = nowS();
          j.fine_tuned_model = `ft:${j.model}:fake-org:${j.user_provided_suffix ?? ""}:${j.id.slice(-8)}`;
          j.trained_tokens =
            (f?.content ?? "")
              .split("\n")
              .filter(Boolean)
              .reduce((a, l) => a + tokensOf(l), 0) * s.epochs;
          event(s, `New fine-tuned model created: ${j.fine_tuned_model}`);
          event(s, "The job has successfully completed");
          announce(s);
        }
        break;
      }
      default:
        break;
    }
  };

  const page = <T extends { id: string }>(items: T[], q: URLSearchParams, def = 20) => {
    const limit = Math.max(1, Math.min(100, Number(q.get("limit") ?? def)));
    const after = q.get("after");
    const start = after ? items.findIndex((x) => x.id === after) + 1 : 0;
    const data = items.slice(start, start + limit);
    return {
      object: "list",
      data,
      has_more: start + limit < items.length,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
    };
  };

  const handle: Handler = (req, raw) => {
    const p = req.path;
    const jobPath = /^\/fine_tuning\/jobs\/([^/]+)(\/events|\/checkpoints|\/cancel)?$/.exec(p);
    if (req.method === "POST" && p === "/files") {
      if (!raw.contentType.includes("multipart/form-data"))
        return { status: 400, body: errorBody("Expected multipart/form-data") };
      const parts = parseMultipart(raw.contentType, raw.text);
      const purposes = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];
      if (!parts.purpose || !purposes.includes(parts.purpose.value))
        return { status: 400, body: errorBody(`'purpose' must be one of ${purposes.join(", ")}`) };
      if (!parts.file?.filename) return { status: 400, body: errorBody("'file' is required") };
      const id = rid("file");
      files.set(id, { id, purpose: parts.purpose.value, filename: parts.file.filename, content: parts.file.value });
      return {
        status: 200,
        body: {
          id,
          object: "file",
          bytes: Buffer.byteLength(parts.file.value),
          created_at: nowS(),
          filename: parts.file.filename,
          purpose: parts.purpose.value,
          status: "processed",
          status_details: null,
        },
      };
    }
    const filePath = /^\/files\/([^/]+)(\/content)?$/.exec(p);
    if (req.method === "GET" && filePath) {
      const f = files.get(decodeURIComponent(filePath[1]));
      if (!f)
        return {
          status: 404,
          body: errorBody(`No such File object: ${filePath[1]}`, "invalid_request_error", "file_not_found"),
        };
      if (!filePath[2])
        return {
          status: 200,
          body: {
            id: f.id,
            object: "file",
            bytes: Buffer.byteLength(f.content),
            created_at: nowS(),
            filename: f.filename,
            purpose: f.purpose,
            status: "processed",
            status_details: null,
          },
        };
      return {
        status: 200,
        body: null,
        write: (res) => {
          res.writeHead(200, { "content-type": "application/octet-stream" });
          if (stalledFiles.has(f.id)) res.write(f.content.slice(0, 10));
          else res.end(f.content);
        },
      };
    }
    if (req.method === "POST" && p === "/fine_tuning/jobs") {
      const b = (req.body ?? {}) as Record<string, unknown>;
      if (opts.refuseNewJobs) {
        return {
          status: 403,
          body: errorBody(
            "Fine-tuning is no longer available for new jobs in this organization.",
            "invalid_request_error",
            "fine_tuning_unavailable",
          ),
        };
      }
      if (!models.includes(String(b.model)))
        return {
          status: 400,
          body: errorBody(
            `Model ${b.model} is not available for fine-tuning or does not exist.`,
            "invalid_request_error",
            "model_not_available",
          ),
        };
      const f = files.get(String(b.training_file));
      if (!f)
        return {
          status: 400,
          body: errorBody(
            `invalid training_file: ${b.training_file}`,
            "invalid_request_error",
            "invalid_training_file",
          ),
        };
      if (f.purpose !== "fine-tune")
        return { status: 400, body: errorBody(`File ${f.id} does not have purpose fine-tune`) };
      if (b.suffix !== undefined && String(b.suffix).length > 64)
        return { status: 400, body: errorBody("suffix is longer than 64 characters") };
      const method = (b.method ?? { type: "supervised", supervised: { hyperparameters: {} } }) as {
        type?: string;
        supervised?: { hyperparameters?: Record<string, unknown> };
      };
      if (!["supervised", "dpo", "reinforcement"].includes(String(method.type)))
        return { status: 400, body: errorBody("method.type is invalid") };
      const hp = method.supervised?.hyperparameters ?? {};
      for (const k of Object.keys(hp)) {
        if (!["n_epochs", "batch_size", "learning_rate_multiplier"].includes(k))
          return { status: 400, body: errorBody(`Unknown hyperparameter ${k}`) };
        const v = hp[k];
        if (v !== "auto" && typeof v !== "number")
          return { status: 400, body: errorBody(`${k} must be a number or "auto"`) };
      }
      const meta = (b.metadata ?? null) as Record<string, string> | null;
      if (meta && (Object.keys(meta).length > 16 || Object.values(meta).some((v) => typeof v !== "string")))
        return { status: 400, body: errorBody("metadata: at most 16 string values") };
      const epochs = typeof hp.n_epochs === "number" ? hp.n_epochs : 3;
      const job: FakeOpenAIJob = {
        id: rid("ftjob"),
        object: "fine_tuning.job",
        created_at: nowS(),
        finished_at: null,
        model: String(b.model),
        fine_tuned_model: null,
        organization_id: "org-fake",
        status: "validating_files",
        training_file: f.id,
        validation_file: (b.validation_file as string) ?? null,
        trained_tokens: null,
        seed: typeof b.seed === "number" ? b.seed : 42,
        estimated_finish: null,
        error: null,
        metadata: meta,
        method: method as Record<string, unknown>,
        hyperparameters: hp,
        result_files: [],
        integrations: [],
        user_provided_suffix: (b.suffix as string) ?? null,
      };
      const s: JobState = {
        job,
        events: [],
        checkpoints: [],
        step: 0,
        totalSteps: steps,
        epochs,
        plan: plans.shift() ?? {},
        served: ["validating_files"],
      };
      jobs.set(job.id, s);
      event(s, `Validating training file: ${f.id}`);
      event(s, `Created fine-tuning job: ${job.id}`);
      return { status: 200, body: job };
    }
    if (req.method === "GET" && p === "/fine_tuning/jobs") {
      let list = [...jobs.values()].reverse().map((s) => s.job);
      for (const [k, v] of req.query) {
        const mm = /^metadata\[(.+)\]$/.exec(k);
        if (mm) list = list.filter((j) => j.metadata?.[mm[1]] === v);
      }
      const r = page(list, req.query);
      return { status: 200, body: { object: "list", data: r.data, has_more: r.has_more } };
    }
    if (jobPath) {
      const m = jobPath;
      const s = jobs.get(decodeURIComponent(m[1]));
      if (!s)
        return {
          status: 404,
          body: errorBody(`No such fine-tuning job: ${m[1]}`, "invalid_request_error", "fine_tune_not_found"),
        };
      const sub = m[2] ?? "";
      if (req.method === "GET" && sub === "") {
        if (!opts.autoAdvanceMs) advance(s.job.id);
        s.served.push(s.job.status);
        return { status: 200, body: s.job };
      }
      if (req.method === "GET" && sub === "/events")
        return {
          status: 200,
          body: (({ first_id: _f, last_id: _l, ...r }) => r)(page([...s.events].reverse(), req.query)),
        };
      if (req.method === "GET" && sub === "/checkpoints")
        return { status: 200, body: page([...s.checkpoints].reverse(), req.query, 10) };
      if (req.method === "POST" && sub === "/cancel") {
        if (["succeeded", "failed", "cancelled"].includes(s.job.status))
          return { status: 400, body: errorBody(`Job ${s.job.id} has already ${s.job.status}.`) };
        s.job.status = "cancelled";
        s.job.finished_at = nowS();
        event(s, "Fine-tuning job cancelled");
        announce(s);
        return { status: 200, body: s.job };
      }
    }
    if (req.method === "POST" && p === "/chat/completions") {
      const b = req.body as { model: string; messages: Array<{ role: string; content: string }> };
      const known =
        models.some((x) => x === b.model || x.startsWith(`${b.model}-`)) ||
        [...jobs.values()].some((s) => s.job.fine_tuned_model === b.model);
      if (!known)
        return {
          status: 404,
          body: errorBody(
            `The model \`${b.model}\` does not exist or you do not have access to it.`,
            "invalid_request_error",
            "model_not_found",
          ),
        };
      const answer = opts.answer ?? ((msgs) => [...msgs].reverse().find((x) => x.role === "user")?.content ?? "");
      return chatReply(b, answer, ++n, misbehave.shift());
    }
    return { status: 404, body: errorBody(`Invalid URL (${req.method} /v1${p})`) };
  };

  const seedJob = (j: SeedJob): FakeOpenAIJob => {
    // With a given job id, its files' ids follow from it (a rehearsal prints the same ids every time).
    const file = (x: { filename: string; content: string }, side: string) => {
      const id = j.id ? `file-${j.id.replace(/^ftjob-/, "").slice(0, 10)}${side}` : rid("file");
      files.set(id, { id, purpose: "fine-tune", filename: x.filename, content: x.content });
      return id;
    };
    const type = j.method ?? "supervised";
    const hp = j.hyperparameters ?? { n_epochs: 3, batch_size: 1, learning_rate_multiplier: 1.8 };
    const model = j.model ?? "gpt-4o-mini-2024-07-18";
    const id = j.id ?? rid("ftjob");
    const succeeded = (j.status ?? "succeeded") === "succeeded";
    const job: FakeOpenAIJob = {
      id,
      object: "fine_tuning.job",
      created_at: j.createdAt ?? nowS(),
      finished_at: succeeded ? (j.createdAt ?? nowS()) + 600 : null,
      model,
      fine_tuned_model: succeeded ? `ft:${model}:fake-org:${j.suffix ?? ""}:${id.slice(-8)}` : null,
      organization_id: "org-fake",
      status: j.status ?? "succeeded",
      training_file: file(j.training, "Tr"),
      validation_file: j.validation ? file(j.validation, "Va") : null,
      trained_tokens: succeeded ? tokensOf(j.training.content) * 3 : null,
      seed: 42,
      estimated_finish: null,
      error: null,
      metadata: null,
      method: { type, [type]: { hyperparameters: hp } },
      hyperparameters: type === "supervised" ? hp : {},
      result_files: [],
      integrations: [],
      user_provided_suffix: j.suffix ?? null,
    };
    jobs.set(id, {
      job,
      events: [],
      checkpoints: [],
      step: steps,
      totalSteps: steps,
      epochs: 3,
      plan: {},
      served: [],
      seeded: true,
    });
    return job;
  };

  const srv = await serve(opts.apiKey, faults, requests, handle);
  const timer = opts.autoAdvanceMs
    ? setInterval(() => {
        for (const id of jobs.keys()) advance(id);
      }, opts.autoAdvanceMs)
    : null;
  return {
    baseUrl: srv.baseUrl,
    requests,
    faults,
    misbehave,
    jobs,
    files,
    plans,
    stalledFiles,
    advance,
    seedJob,
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    close: async () => {
      if (timer) clearInterval(timer);
      await srv.close();
    },
  };
}
