/**
 * The one retry policy of every HTTP client (the providers' REST clients, the OpenAI SDK wrapper, the
 * OpenAI-compatible endpoints): which failures are tried again, how long to wait (the server's Retry-After, in
 * seconds or as an HTTP date, wins; else exponential backoff with full jitter, capped), and when to stop.
 *
 * An unsure create is never retried blindly: a request that creates something (a fine-tuning job, which costs money)
 * and failed in a way the server may have received it (a timeout, a reset connection, a 5xx) is not sent again;
 * the caller looks for what it made first. A 429 (the server refused it unrun) or a connection that was never made
 * (refused, unknown host) is safe to send again.
 */

/** One failed attempt, as the client saw it. */
export interface AttemptFailure {
  /** The HTTP status, or null when no answer came (timeout, network error). */
  status: number | null;
  /** The Retry-After header of the answer, if any. */
  retryAfter?: string | null;
  /** The error of an attempt that got no answer (to tell a connection never made from one cut short). */
  error?: unknown;
}

export interface RetryPolicy {
  /** Retries after the first try (0: one try only). */
  maxRetries: number;
  /** The request creates something: after a failure the server may have received, it is not retried. */
  create?: boolean;
  /** First backoff step (default 500 ms); doubles per attempt. */
  baseMs?: number;
  /** Cap of the backoff (default 30 s); a Retry-After is honoured up to 4 x this. */
  capMs?: number;
  random?: () => number;
}

/** Network errors raised before any byte of the request reached a server. */
const NEVER_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH"]);

function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === "string") return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** Whether the server may have received (and carried out) the request of a failed attempt. */
export function maybeReceived(f: AttemptFailure): boolean {
  if (f.status === 429) return false;
  if (f.status === null) return !NEVER_SENT.has(errorCode(f.error) ?? "");
  return true;
}

/** Whether an answer with this status is worth trying again (429 and 5xx; other 4xx never change). */
export function retryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** The Retry-After header out of node:http's or fetch's headers. */
export function retryAfterHeader(
  headers: Record<string, string | string[] | undefined> | { get(name: string): string | null } | undefined,
): string | null {
  if (!headers) return null;
  if (typeof (headers as { get?: unknown }).get === "function") {
    return (headers as { get(name: string): string | null }).get("retry-after");
  }
  const v = (headers as Record<string, string | string[] | undefined>)["retry-after"];
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}

/**
 * How long to wait before retry number `attempt` (0-based): the server's Retry-After when it sent one
 * (seconds or an HTTP date), else exponential backoff with full jitter, capped.
 */
export function retryDelayMs(
  attempt: number,
  retryAfter: string | null | undefined,
  opts: { baseMs?: number; capMs?: number; random?: () => number } = {},
): number {
  const cap = opts.capMs ?? 30_000;
  if (retryAfter) {
    const secs = Number(retryAfter);
    if (retryAfter.trim() !== "" && Number.isFinite(secs)) return Math.min(cap * 4, Math.max(0, secs * 1000));
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.min(cap * 4, Math.max(0, at - Date.now()));
  }
  const base = opts.baseMs ?? 500;
  const exp = Math.min(cap, base * 2 ** attempt);
  return Math.round(exp / 2 + (opts.random ?? Math.random)() * (exp / 2));
}

/**
 * After failed attempt number `attempt` (0-based, of a retryable kind: 429, 5xx, timeout, network error): how long
 * to wait before the next try, or null to give up (retries used up, or an unsure create).
 */
export function nextRetryMs(attempt: number, failure: AttemptFailure, policy: RetryPolicy): number | null {
  if (attempt >= policy.maxRetries) return null;
  if (policy.create && maybeReceived(failure)) return null;
  return retryDelayMs(attempt, failure.retryAfter, policy);
}
