/**
 * The hosted providers' settings (Together, OpenAI, polling, the endpoints file), parsed with zod from the
 * environment. A provider is configured when its key is set; keys are only ever read here and never printed.
 * An empty value (`TOGETHER_API_KEY=` in .env) counts as unset.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { TuneError, ErrorCode } from "../errors.ts";
import { DEFAULT_MAX_ANSWER_BYTES } from "./answer-limits.ts";
import { endpointsSchema, parseEndpoints, type EndpointConfig } from "./openai-compatible.ts";

const blankIsUnset = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const opt = <T extends z.ZodType>(t: T) => z.preprocess(blankIsUnset, t.optional());
const withDefault = <T extends z.ZodType>(t: T, d: z.input<T>) => z.preprocess(blankIsUnset, t.default(d as never));

export const providerSettingsSchema = z.object({
  TOGETHER_API_KEY: opt(z.string().min(8, "looks too short for a key")),
  TOGETHER_BASE_URL: withDefault(z.string().url(), "https://api.together.xyz/v1"),
  OPENAI_API_KEY: opt(z.string().min(8, "looks too short for a key")),
  OPENAI_BASE_URL: withDefault(z.string().url(), "https://api.openai.com/v1"),
  OPENAI_WEBHOOK_SECRET: opt(z.string().regex(/^(whsec_)?[A-Za-z0-9+/=]{16,}$/, "expected whsec_ followed by base64")),
  TUNELOOP_POLL_INTERVAL_MS: withDefault(z.coerce.number().int().min(1).max(3_600_000), 15_000),
  TUNELOOP_POLL_MAX_MS: withDefault(z.coerce.number().int().min(1).max(3_600_000), 60_000),
  TUNELOOP_PROVIDER_TIMEOUT_MS: withDefault(z.coerce.number().int().min(100), 60_000),
  TUNELOOP_PROVIDER_RETRIES: withDefault(z.coerce.number().int().min(0).max(20), 5),
  TUNELOOP_MAX_ANSWER_BYTES: withDefault(z.coerce.number().int().min(1024), DEFAULT_MAX_ANSWER_BYTES),
  TOGETHER_TRAINING_TYPE: withDefault(z.enum(["lora", "full"]), "lora"),
  TOGETHER_LORA_DROPOUT: withDefault(z.coerce.number().min(0).max(1), 0),
  TOGETHER_WARMUP_RATIO: withDefault(z.coerce.number().min(0).max(1), 0),
  TOGETHER_N_CHECKPOINTS: withDefault(z.coerce.number().int().min(1).max(100), 1),
  TOGETHER_N_EVALS: withDefault(z.coerce.number().int().min(0).max(100), 0),
  TOGETHER_TRAIN_ON_INPUTS: withDefault(z.enum(["auto", "true", "false"]), "auto"),
  TUNELOOP_ENDPOINTS_FILE: opt(z.string().min(1)),
});

export type ProviderEnv = z.infer<typeof providerSettingsSchema>;

export interface HttpSettings {
  baseUrl: string;
  apiKey: string;
  /** Total deadline of one request, headers and body. */
  timeoutMs: number;
  /** Longest answer body read (chat completions); longer ones are cut and flagged. Default 1 MiB. */
  maxAnswerBytes?: number;
  maxRetries: number;
  /** First retry backoff step; never more than the poll interval (so tiny test intervals make tiny retries). */
  retryBaseMs: number;
  pollIntervalMs: number;
  pollMaxMs: number;
}

export interface TogetherDefaults {
  trainingType: "lora" | "full";
  loraDropout: number;
  warmupRatio: number;
  nCheckpoints: number;
  /** Evaluations on the validation set during training (only when a validation set is given). */
  nEvals: number;
  trainOnInputs: boolean | "auto";
}

export interface ProviderSettings {
  together: (HttpSettings & { defaults: TogetherDefaults }) | null;
  openai: (HttpSettings & { webhookSecret: string | null }) | null;
  /** For `help providers` (never the keys). */
  summary: { together: boolean; openai: boolean; openaiWebhook: boolean; pollIntervalMs: number };
}

const SECRET = /(KEY|SECRET)$/;

/** Parses the hosted providers' settings; a bad value throws config_invalid naming the setting (values of keys hidden). */
export function loadProviderSettings(env: NodeJS.ProcessEnv = process.env): ProviderSettings {
  const parsed = providerSettingsSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? "?");
      return `${name}=${SECRET.test(name) ? "(hidden)" : JSON.stringify(env[name])}: ${issue.message}`;
    });
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `Bad provider setting${lines.length > 1 ? "s" : ""}:\n  ${lines.join("\n  ")}\nFix it in .env or the environment (see .env.example).`,
    );
  }
  const s = parsed.data;
  const http = (baseUrl: string, apiKey: string): HttpSettings => ({
    baseUrl,
    apiKey,
    timeoutMs: s.TUNELOOP_PROVIDER_TIMEOUT_MS,
    maxAnswerBytes: s.TUNELOOP_MAX_ANSWER_BYTES,
    maxRetries: s.TUNELOOP_PROVIDER_RETRIES,
    retryBaseMs: Math.min(500, s.TUNELOOP_POLL_INTERVAL_MS),
    pollIntervalMs: s.TUNELOOP_POLL_INTERVAL_MS,
    pollMaxMs: Math.max(s.TUNELOOP_POLL_INTERVAL_MS, s.TUNELOOP_POLL_MAX_MS),
  });
  return {
    together: s.TOGETHER_API_KEY
      ? {
          ...http(s.TOGETHER_BASE_URL, s.TOGETHER_API_KEY),
          defaults: {
            trainingType: s.TOGETHER_TRAINING_TYPE,
            loraDropout: s.TOGETHER_LORA_DROPOUT,
            warmupRatio: s.TOGETHER_WARMUP_RATIO,
            nCheckpoints: s.TOGETHER_N_CHECKPOINTS,
            nEvals: s.TOGETHER_N_EVALS,
            trainOnInputs: s.TOGETHER_TRAIN_ON_INPUTS === "auto" ? "auto" : s.TOGETHER_TRAIN_ON_INPUTS === "true",
          },
        }
      : null,
    openai: s.OPENAI_API_KEY
      ? { ...http(s.OPENAI_BASE_URL, s.OPENAI_API_KEY), webhookSecret: s.OPENAI_WEBHOOK_SECRET ?? null }
      : null,
    summary: {
      together: Boolean(s.TOGETHER_API_KEY),
      openai: Boolean(s.OPENAI_API_KEY),
      openaiWebhook: Boolean(s.OPENAI_WEBHOOK_SECRET),
      pollIntervalMs: s.TUNELOOP_POLL_INTERVAL_MS,
    },
  };
}

/**
 * Named OpenAI-compatible endpoints from a JSON file (TUNELOOP_ENDPOINTS_FILE), in the same shape as
 * TUNELOOP_ENDPOINTS, optionally wrapped as `{"endpoints": {...}}`:
 *
 *   {"vllm": {"baseUrl": "http://localhost:8000/v1", "prices": {"qwen2.5-7b": {"inputPer1M": 0.1, "outputPer1M": 0.1}}},
 *    "fireworks": {"baseUrl": "https://api.fireworks.ai/inference/v1", "apiKeyEnv": "FIREWORKS_API_KEY",
 *                  "prices": {"*": {"inputPer1M": 0.2, "outputPer1M": 0.2}}}}
 *
 * Keys stay in the environment (`apiKeyEnv` names the variable), never in the file.
 */
export function loadEndpointsFile(file: string, env: NodeJS.ProcessEnv = process.env): EndpointConfig[] {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(file), "utf8");
  } catch (err) {
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `TUNELOOP_ENDPOINTS_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `TUNELOOP_ENDPOINTS_FILE: ${file} is not valid JSON (${(err as Error).message}).`,
    );
  }
  if (raw && typeof raw === "object" && "endpoints" in raw) raw = (raw as { endpoints: unknown }).endpoints;
  const parsed = endpointsSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `TUNELOOP_ENDPOINTS_FILE (${file}): ${first.path.join(".")}: ${first.message}`,
    );
  }
  try {
    return parseEndpoints(JSON.stringify(parsed.data), env);
  } catch (err) {
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      (err as Error).message.replace("TUNELOOP_ENDPOINTS:", `TUNELOOP_ENDPOINTS_FILE (${file}):`),
    );
  }
}

/**
 * Every named endpoint: TUNELOOP_ENDPOINTS, then the file's. A name in both is an error (which one is meant would
 * be a guess).
 */
export function endpointsFromSettings(env: NodeJS.ProcessEnv = process.env): EndpointConfig[] {
  const inline = parseEndpoints(env.TUNELOOP_ENDPOINTS, env);
  const file = blankIsUnset(env.TUNELOOP_ENDPOINTS_FILE) as string | undefined;
  const fromFile = file ? loadEndpointsFile(file, env) : [];
  const names = new Set(inline.map((e) => e.name));
  const clash = fromFile.find((e) => names.has(e.name));
  if (clash) {
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `Endpoint "${clash.name}" is named in both TUNELOOP_ENDPOINTS and TUNELOOP_ENDPOINTS_FILE; keep one.`,
    );
  }
  // an endpoint without its own maxAnswerBytes reads up to TUNELOOP_MAX_ANSWER_BYTES
  const limit = providerSettingsSchema.shape.TUNELOOP_MAX_ANSWER_BYTES.safeParse(env.TUNELOOP_MAX_ANSWER_BYTES);
  const maxAnswerBytes = limit.success ? limit.data : DEFAULT_MAX_ANSWER_BYTES;
  return [...inline, ...fromFile].map((e) => ({ ...e, maxAnswerBytes: e.maxAnswerBytes ?? maxAnswerBytes }));
}
