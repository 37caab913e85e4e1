/**
 * Any OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, Ollama, LM Studio, Together, OpenAI, Fireworks...)
 * as an eval baseline or judge. Endpoints are named in TUNELOOP_ENDPOINTS; a model is written `<endpoint>:<model>`.
 * node:http with keep-alive: a concurrency limit per endpoint, retries with backoff on 429/5xx/network errors honouring
 * Retry-After, a total deadline per request (headers and body), answers capped and their usage checked
 * (answer-limits.ts) before it reaches the cost ledger.
 * API reference: https://platform.openai.com/docs/api-reference/chat/create
 */
import { z } from "zod";
import type { CompletionRequest, CompletionResult, InferenceModel, Pricing } from "../core/inference.ts";
import { TuneError, ErrorCode } from "../errors.ts";
import { request, type HttpResponse } from "../lib/http.ts";
import { answerFlags, chatAnswer, DEFAULT_MAX_ANSWER_BYTES, maxTokensOf, plausibleUsage } from "./answer-limits.ts";
import { Limiter, sleep } from "../lib/limit.ts";
import { nextRetryMs, retryableStatus, retryAfterHeader } from "../lib/retry.ts";
import { scrubberFor } from "../lib/secrets.ts";

export const endpointSchema = z.object({
  baseUrl: z.string().url(),
  /** The name of the environment variable holding the key (the key itself never goes in settings files). */
  apiKeyEnv: z.string().optional(),
  concurrency: z.number().int().min(1).max(1024).default(8),
  /** Total deadline of one request, headers and body (ms). */
  timeoutMs: z.number().int().min(100).default(120_000),
  /** Longest answer body read (bytes); longer ones are cut and flagged. Default: TUNELOOP_MAX_ANSWER_BYTES (1 MiB). */
  maxAnswerBytes: z.number().int().min(1024).optional(),
  maxRetries: z.number().int().min(0).max(20).default(5),
  /** Per-model prices in USD per 1M tokens; `*` applies to every model of the endpoint. */
  prices: z.record(z.string(), z.object({ inputPer1M: z.number().min(0), outputPer1M: z.number().min(0) })).default({}),
  /**
   * "openai" (default): any chat endpoint. "vllm" / "sglang": a self-hosted server that loads LoRA adapters at run
   * time (docs/selfhosted.md); it then needs `adapterDir` and `gpuHourUsd`.
   */
  kind: z.enum(["openai", "vllm", "sglang"]).optional(),
  /** A folder both tuneloop's trainer and the server read: trained adapters are written under it. */
  adapterDir: z.string().min(1).optional(),
  /** The server's --max-loras (default 8): adapters loaded at once (the least recently used is unloaded beyond it). */
  maxLoras: z.number().int().min(1).max(1024).optional(),
  /** The server's --max-lora-rank (default 16). */
  maxLoraRank: z.number().int().min(1).max(512).optional(),
  /** What an hour of the GPU costs (rented, or your own amortised): training and eval time are booked at it. */
  gpuHourUsd: z.number().min(0).optional(),
});

export const endpointsSchema = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, "endpoint names are letters, digits, - and _"),
  endpointSchema,
);

export type EndpointSettings = z.infer<typeof endpointSchema>;

export interface EndpointConfig extends EndpointSettings {
  name: string;
  apiKey?: string;
}

export interface ClientDeps {
  /** The HTTP transport (default: node:http/https with keep-alive). */
  post?: (
    url: string,
    opts: { headers: Record<string, string>; body: string; signal?: AbortSignal; timeoutMs: number; maxBytes: number },
  ) => Promise<HttpResponse>;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  onRetry?: (info: { attempt: number; status: number | null; delayMs: number }) => void;
}

export class OpenAICompatibleClient {
  private readonly limiter: Limiter;
  private readonly post: NonNullable<ClientDeps["post"]>;
  private readonly wait: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    readonly endpoint: EndpointConfig,
    private readonly deps: ClientDeps = {},
  ) {
    this.limiter = new Limiter(endpoint.concurrency);
    this.post = deps.post ?? ((url, o) => request("POST", url, o));
    this.wait = deps.sleep ?? sleep;
  }

  pricing(model: string): Pricing | null {
    return this.endpoint.prices[model] ?? this.endpoint.prices["*"] ?? null;
  }

  chat(model: string, req: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    return this.limiter.run(() => this.chatNow(model, req, signal));
  }

  private async chatNow(model: string, req: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    const url = `${this.endpoint.baseUrl.replace(/\/+$/, "")}/chat/completions`;
    const body = JSON.stringify({
      model,
      messages: req.messages.map((m) => ({
        role: m.role,
        content: m.content ?? "",
        ...(m.name ? { name: m.name } : {}),
      })),
      max_tokens: maxTokensOf(req),
      temperature: req.temperature ?? 0,
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
    });
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.endpoint.apiKey) headers.authorization = `Bearer ${this.endpoint.apiKey}`;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let status: number | null = null;
      let retryAfter: string | null = null;
      let error: unknown;
      let failure: string;
      try {
        const res = await this.post(url, {
          headers,
          body,
          signal,
          timeoutMs: this.endpoint.timeoutMs,
          maxBytes: this.endpoint.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
        });
        status = res.status;
        if (res.status >= 200 && res.status < 300) {
          const answer = chatAnswer(res.text, res.truncated === true);
          if (!answer) throw new Error(`the answer is not a chat completion: ${res.text.slice(0, 100)}`);
          const usage = await plausibleUsage(req, answer.text, answer.usage);
          const flags = answerFlags(usage.flags, res.truncated ? { truncated: true } : undefined);
          return {
            text: answer.text,
            inputTokens: usage.inputTokens,
            outputTokens: usage.outputTokens,
            latencyMs: performance.now() - started,
            ...(flags ? { flags } : {}),
          };
        }
        retryAfter = retryAfterHeader(res.headers);
        failure = `HTTP ${res.status}: ${this.scrub(errorText(res.text, res.status))}`;
        if (!retryableStatus(res.status)) {
          throw new TuneError(
            ErrorCode.EndpointError,
            `${this.endpoint.name} refused the request for ${model}: ${failure}. Check the model name and the endpoint's settings (TUNELOOP_ENDPOINTS).`,
          );
        }
      } catch (err) {
        if (err instanceof TuneError) throw err;
        if (signal?.aborted) throw err;
        error = err;
        const timedOut =
          err instanceof Error && (err.name === "TimeoutError" || (err.name === "AbortError" && !signal?.aborted));
        failure = timedOut
          ? `no answer within ${this.endpoint.timeoutMs} ms`
          : `network error: ${this.scrub(String((err as Error)?.message ?? err))}`;
      }
      const delayMs = nextRetryMs(attempt, { status, retryAfter, error }, { maxRetries: this.endpoint.maxRetries });
      if (delayMs === null) {
        throw new TuneError(
          ErrorCode.EndpointUnavailable,
          `${this.endpoint.name} did not answer for ${model} after ${attempt + 1} tries (last: ${failure}). Is the endpoint up? Try again later.`,
        );
      }
      this.deps.onRetry?.({ attempt, status, delayMs });
      await this.wait(delayMs, signal);
    }
  }

  private scrubber?: (s: string) => string;

  /** Hides the key, and any 8+ character piece of it, in text from or about the provider. */
  private scrub(s: string): string {
    this.scrubber ??= scrubberFor([this.endpoint.apiKey]);
    return this.scrubber(s);
  }
}

function errorText(raw: string, status: number): string {
  try {
    const j = JSON.parse(raw) as { error?: { message?: string } | string; message?: string };
    const m = typeof j.error === "string" ? j.error : (j.error?.message ?? j.message);
    if (m) return m.slice(0, 300);
  } catch {
    // not JSON
  }
  return raw.slice(0, 300) || `status ${status}`;
}

/** An endpoint model as an InferenceModel (requests run concurrently up to the endpoint's limit). */
export function endpointModel(client: OpenAICompatibleClient, model: string): InferenceModel {
  return {
    ref: `${client.endpoint.name}:${model}`,
    provider: client.endpoint.name,
    pricing: client.pricing(model),
    concurrency: client.endpoint.concurrency,
    async completeAll(requests, opts) {
      return Promise.all(
        requests.map(async (r, i) => {
          const res = await client.chat(model, r, opts.signal);
          opts.onResult?.(i, res);
          return res;
        }),
      );
    },
  };
}

/** Parses TUNELOOP_ENDPOINTS (JSON) and reads each endpoint's key from the variable it names. */
export function parseEndpoints(json: string | undefined, env: NodeJS.ProcessEnv): EndpointConfig[] {
  if (!json?.trim()) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `TUNELOOP_ENDPOINTS is not valid JSON (${(err as Error).message}). Example: {"vllm": {"baseUrl": "http://localhost:8000/v1"}}`,
    );
  }
  const parsed = endpointsSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new TuneError(ErrorCode.ConfigInvalid, `TUNELOOP_ENDPOINTS: ${first.path.join(".")}: ${first.message}`);
  }
  return Object.entries(parsed.data).map(([name, e]) => {
    if (e.kind && e.kind !== "openai" && (e.adapterDir === undefined || e.gpuHourUsd === undefined)) {
      const missing = [e.adapterDir === undefined ? "adapterDir" : "", e.gpuHourUsd === undefined ? "gpuHourUsd" : ""]
        .filter(Boolean)
        .join(" and ");
      throw new TuneError(
        "config_invalid",
        `TUNELOOP_ENDPOINTS: endpoint "${name}" is a ${e.kind} server for self-hosted training and needs ${missing} (see docs/selfhosted.md).`,
      );
    }
    if (e.apiKeyEnv && !env[e.apiKeyEnv]) {
      throw new TuneError(
        ErrorCode.ConfigInvalid,
        `TUNELOOP_ENDPOINTS: endpoint "${name}" reads its key from ${e.apiKeyEnv}, which is not set.`,
      );
    }
    return { ...e, name, apiKey: e.apiKeyEnv ? env[e.apiKeyEnv] : undefined };
  });
}
