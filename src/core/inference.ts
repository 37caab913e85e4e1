/**
 * The inference port: whatever answers eval prompts (the local model with or without an adapter, an
 * OpenAI-compatible endpoint, a hosted provider) is an InferenceModel.
 */
import type { ChatMessage } from "./datasets/types.ts";

export interface CompletionRequest {
  messages: ChatMessage[];
  maxTokens: number;
  temperature?: number;
  seed?: number;
}

export interface CompletionResult {
  text: string;
  /** Always finite and >= 0: a provider's missing or implausible usage is replaced by tuneloop's own count. */
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
  /** Set when the answer is not what the provider sent as such (see src/providers/answer-limits.ts). */
  flags?: CompletionFlags;
}

export interface CompletionFlags {
  /** The provider's usage was missing, negative, not finite or absurd: the tokens are tuneloop's own count. */
  usageEstimated?: string;
  /** The answer was cut at the size limit. */
  truncated?: boolean;
}

export interface Pricing {
  inputPer1M: number;
  outputPer1M: number;
  /**
   * A self-hosted GPU bills time, not tokens: USD per second of a request's time (the GPU's hourly price / 3600 /
   * the requests that share it). A request whose time is not known yet (an estimate) is expected to take
   * `expectSeconds` for its tokens.
   */
  time?: { usdPerSecond: number; prefillTokensPerSec: number; decodeTokensPerSec: number };
}

/** The seconds a request of this size is expected to take on a time-billed model (for estimates). */
export function expectSeconds(t: NonNullable<Pricing["time"]>, inputTokens: number, outputTokens: number): number {
  return inputTokens / t.prefillTokensPerSec + outputTokens / t.decodeTokensPerSec;
}

export interface InferenceModel {
  /** The model reference as users write it (e.g. `local:stories260K`, `run:3`, `vllm:qwen2.5-7b`). */
  ref: string;
  provider: string;
  /** Prices per 1M tokens, or null when unknown (then cost is reported as unknown, never as $0). */
  pricing: Pricing | null;
  /**
   * How many requests it answers at once (an endpoint's limit). Set: the eval runner sends it one request per free
   * slot, each admitted against the budget; unset and free (the local model): the whole batch at once.
   */
  concurrency?: number;
  /** Answers a batch of requests; `onResult` fires as each one finishes (for progress). Results keep input order. */
  completeAll(
    requests: CompletionRequest[],
    opts: { signal?: AbortSignal; onResult?: (index: number, r: CompletionResult) => void },
  ): Promise<CompletionResult[]>;
}

export const usd = (p: Pricing | null, inputTokens: number, outputTokens: number, latencyMs?: number): number | null =>
  p
    ? (inputTokens * p.inputPer1M + outputTokens * p.outputPer1M) / 1e6 +
      (p.time
        ? p.time.usdPerSecond *
          (latencyMs !== undefined ? latencyMs / 1000 : expectSeconds(p.time, inputTokens, outputTokens))
        : 0)
    : null;
