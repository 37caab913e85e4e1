/**
 * What every inference provider does to an answer before an eval sees it, so that a misbehaving endpoint can neither
 * fill the database nor put a wrong number in the ledger:
 *  - `max_tokens` is always sent (the caller's, or DEFAULT_MAX_TOKENS);
 *  - the body is read up to TUNELOOP_MAX_ANSWER_BYTES (1 MiB) and cut there, flagged `truncated`; the answer's text
 *    is taken from what was read;
 *  - the reported usage is booked only when it is plausible: a count that is missing, negative, not finite, or over
 *    10x what the request allows (max_tokens for the answer; the prompt's bytes for the prompt) is replaced by
 *    tuneloop's own token count (gpt-tokenizer o200k), flagged `usageEstimated` with the reason.
 * The request's total deadline (headers and body) is the HTTP layer's (src/lib/http.ts, and the OpenAI SDK path).
 */
import type { ChatMessage } from "../core/datasets/types.ts";
import type { CompletionFlags, CompletionRequest } from "../core/inference.ts";

export const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;
/** An answer's own token count reads this many characters of it (the rest is scaled from them). */
const OWN_COUNT_CHARS = 32_768;
/** max_tokens of a request that did not say. */
export const DEFAULT_MAX_TOKENS = 1024;

/** The max_tokens sent for a request: its own when a positive integer, else DEFAULT_MAX_TOKENS. */
export function maxTokensOf(req: Pick<CompletionRequest, "maxTokens">): number {
  const n = req.maxTokens;
  return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_TOKENS;
}

/**
 * The text of the first choice of a chat.completion body and its usage. A body cut at the size limit is rarely
 * valid JSON: the answer's text is then read from what arrived (up to the cut) and the usage is unknown. Null when an
 * uncut body is not a chat completion (the caller treats it as a bad answer).
 */
export function chatAnswer(body: string, truncated: boolean): { text: string; usage: unknown } | null {
  try {
    const json = JSON.parse(body) as { choices?: Array<{ message?: { content?: unknown } }>; usage?: unknown };
    const content = json?.choices?.[0]?.message?.content;
    return { text: typeof content === "string" ? content : "", usage: json?.usage };
  } catch {
    if (!truncated) return null;
    return { text: salvageContent(body), usage: undefined };
  }
}

/** The first `"content": "..."` string of a JSON text cut anywhere, decoded up to the cut. */
function salvageContent(body: string): string {
  const m = /"content"\s*:\s*"/.exec(body);
  if (!m) return "";
  const start = m.index + m[0].length;
  let end = start;
  while (end < body.length && body[end] !== '"') end += body[end] === "\\" ? 2 : 1;
  const raw = body.slice(start, Math.min(end, body.length));
  // the cut may fall inside an escape ("\", "\u00"): drop up to its 6 characters
  for (let drop = 0; drop <= Math.min(6, raw.length); drop++) {
    try {
      return JSON.parse(`"${raw.slice(0, raw.length - drop)}"`) as string;
    } catch {
      // try a shorter tail
    }
  }
  return "";
}

const utf8 = (s: string | null | undefined) => Buffer.byteLength(s ?? "", "utf8");

/** Why a reported count cannot be booked, or null when it can. */
function implausible(v: unknown, max: number): string | null {
  if (v === undefined || v === null) return "missing";
  if (typeof v !== "number" || Number.isNaN(v)) return `not a number (${JSON.stringify(v)?.slice(0, 20)})`;
  if (!Number.isFinite(v)) return `not finite (${v})`;
  if (v < 0) return `negative (${v})`;
  if (v > max) return `absurd (${v}, over 10x what the request allows)`;
  return null;
}

/**
 * The tokens to book for one answer and, when the provider's usage could not be used, why (the flag). The own count
 * loads the tokenizer on first use, which happens only for an endpoint whose usage is bad.
 */
export async function plausibleUsage(
  req: Pick<CompletionRequest, "messages" | "maxTokens">,
  text: string,
  usage: unknown,
): Promise<{ inputTokens: number; outputTokens: number; flags?: CompletionFlags }> {
  const u = (usage !== null && typeof usage === "object" ? usage : {}) as Record<string, unknown>;
  const messages = req.messages as ChatMessage[];
  // A token is at least one byte of text, plus a few per message for the chat template.
  const promptMax = 10 * (messages.reduce((n, m) => n + utf8(m.content) + utf8(m.name) + 16, 0) + 64);
  const answerMax = 10 * maxTokensOf(req);
  const badIn = usage === undefined || usage === null ? "missing" : implausible(u.prompt_tokens, promptMax);
  const badOut = usage === undefined || usage === null ? "missing" : implausible(u.completion_tokens, answerMax);
  if (!badIn && !badOut) return { inputTokens: u.prompt_tokens as number, outputTokens: u.completion_tokens as number };
  const { countRowTokens, countTextTokens } = await import("../core/datasets/tokens.ts");
  const reasons = [badIn && `prompt_tokens ${badIn}`, badOut && `completion_tokens ${badOut}`].filter(Boolean);
  // An answer of up to a megabyte is counted on its first OWN_COUNT_CHARS and scaled: the bot's thread does this.
  const head = text.slice(0, OWN_COUNT_CHARS);
  const ownOut = head.length ? Math.round(countTextTokens(head) * (text.length / head.length)) : 0;
  return {
    inputTokens: badIn ? countRowTokens({ kind: "chat", messages }) : (u.prompt_tokens as number),
    outputTokens: badOut ? ownOut : (u.completion_tokens as number),
    flags: { usageEstimated: usage === undefined || usage === null ? "usage missing" : reasons.join(", ") },
  };
}

/** A completion's flags, or undefined when there are none. */
export function answerFlags(...parts: Array<CompletionFlags | undefined>): CompletionFlags | undefined {
  const f: CompletionFlags = Object.assign({}, ...parts.filter(Boolean));
  return Object.keys(f).length ? f : undefined;
}

/**
 * Reads a fetch body (the OpenAI SDK's raw response) as src/lib/http.ts reads one: at most `maxBytes` (cut, and
 * `truncated`), within `ms` (else an Error named TimeoutError). Reading stops at either.
 */
export async function readBody(
  body: ReadableStream<Uint8Array> | null,
  opts: { maxBytes: number; ms: number },
): Promise<{ text: string; truncated: boolean }> {
  if (!body) return { text: "", truncated: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        const err = new Error(`no answer within the deadline (${opts.ms} ms left for the body)`);
        err.name = "TimeoutError";
        reject(err);
      },
      Math.max(0, opts.ms),
    );
  });
  const text = () => Buffer.concat(chunks).toString("utf8");
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), late]);
      if (r.done) return { text: text(), truncated: false };
      if (size + r.value.length > opts.maxBytes) {
        chunks.push(r.value.subarray(0, opts.maxBytes - size));
        return { text: text(), truncated: true };
      }
      chunks.push(r.value);
      size += r.value.length;
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
}
