/**
 * Chat-completion misbehaviours the provider fakes can put on (each fake keeps a queue, one per chat request):
 * usage that is missing, negative, not finite or absurd; an answer far longer than max_tokens asked for; a body
 * dripped a few bytes at a time so that no idle timer ever fires.
 */
import type http from "node:http";

export interface Misbehaviour {
  /**
   * The raw JSON text sent as `usage` (numbers JSON cannot spell, such as `1e999`, parse as Infinity), or null to
   * leave `usage` out.
   */
  usage?: string | null;
  /** An answer of this many bytes ("a" repeated), whatever max_tokens said. */
  contentBytes?: number;
  /** Headers at once, then the body `chunk` bytes (default 1) every `everyMs`. */
  drip?: { everyMs: number; chunk?: number };
}

export interface ChatAnswer {
  id: string;
  model: string;
  content: string;
  promptTokens: number;
  completionTokens: number;
}

/** The chat.completion body, misbehaving as told (the usage goes last, as OpenAI sends it). */
export function chatCompletionText(a: ChatAnswer, m: Misbehaviour = {}): string {
  const content = m.contentBytes !== undefined ? "a".repeat(m.contentBytes) : a.content;
  const head = {
    id: a.id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: a.model,
    choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, finish_reason: "stop" }],
  };
  const usage =
    m.usage === undefined
      ? JSON.stringify({
          prompt_tokens: a.promptTokens,
          completion_tokens: a.completionTokens,
          total_tokens: a.promptTokens + a.completionTokens,
        })
      : m.usage;
  const json = JSON.stringify(head);
  return usage === null ? json : `${json.slice(0, -1)},"usage":${usage}}`;
}

/** Writes a 200 with `body`, dripped when told; stops when the client goes away. */
export function writeBody(res: http.ServerResponse, body: string, m: Misbehaviour = {}): void {
  res.writeHead(200, { "content-type": "application/json" });
  if (!m.drip) {
    res.end(body);
    return;
  }
  const bytes = Buffer.from(body);
  const chunk = m.drip.chunk ?? 1;
  let at = 0;
  res.flushHeaders();
  const timer = setInterval(() => {
    if (res.destroyed || at >= bytes.length) {
      clearInterval(timer);
      if (!res.destroyed) res.end();
      return;
    }
    res.write(bytes.subarray(at, at + chunk));
    at += chunk;
  }, m.drip.everyMs);
  res.on("close", () => clearInterval(timer));
}
