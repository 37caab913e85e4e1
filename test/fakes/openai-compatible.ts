/**
 * A local fake of an OpenAI-compatible chat completions endpoint, following the API reference
 * (https://platform.openai.com/docs/api-reference/chat/create and .../chat/object): POST /v1/chat/completions
 * returns a `chat.completion` object with `choices[].message` and `usage`; errors are `{ "error": { "message",
 * "type", "code" } }` with 401/404/429/5xx; 429 may carry `Retry-After` (seconds). GET /v1/models lists models.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { chatCompletionText, type Misbehaviour, writeBody } from "./misbehave.ts";

export interface FakeReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface FakeOptions {
  /** Answer for a request (default: echoes the last user message). */
  answer?: (messages: Array<{ role: string; content: string }>, model: string) => string;
  latencyMs?: number;
  apiKey?: string;
  models?: string[];
  /**
   * Called with the 1-based ordinal of each chat request before it is answered: may hold it (return a promise that
   * settles later) or return a reply to send instead (e.g. a 500 after the eighth request).
   */
  before?: (n: number) => FakeReply | undefined | Promise<FakeReply | undefined>;
  /** Bills more than the text's size: usage is multiplied by this (a provider that bills more than estimated). */
  usageScale?: number;
  /** Called once an answer has been written to the socket (the bot has it, or will on its next read). */
  onAnswered?: () => void;
}

export interface FakeEndpoint {
  baseUrl: string;
  requests: Array<{
    at: number;
    model: string;
    messages: Array<{ role: string; content: string }>;
    /** The request's max_tokens (undefined when it was not sent). */
    maxTokens?: number;
    authorization?: string;
  }>;
  /** Replies to send before normal answers (e.g. a 429, then a 500). */
  script: FakeReply[];
  /** The usage of every answer the client received in full (what a real provider would bill), in order. */
  answered: Array<{ model: string; promptTokens: number; completionTokens: number }>;
  /** Misbehaviours of the next answers, one per answer (see misbehave.ts). */
  misbehave: Misbehaviour[];
  maxInFlight: number;
  close(): Promise<void>;
}

const words = (s: string) => Math.max(1, Math.ceil(s.length / 4));

export async function startFakeOpenAI(opts: FakeOptions = {}): Promise<FakeEndpoint> {
  const fake: FakeEndpoint = {
    baseUrl: "",
    requests: [],
    script: [],
    answered: [],
    misbehave: [],
    maxInFlight: 0,
    close: async () => {},
  };
  let inFlight = 0;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", async () => {
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(payload), () => opts.onAnswered?.());
      };
      if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        // Like OpenAI: the message shows the start and the end of the key it was sent.
        const sent = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
        return send(401, {
          error: {
            message: `Incorrect API key provided: ${sent.slice(0, 12)}****${sent.slice(-4)}.`,
            type: "invalid_request_error",
            code: "invalid_api_key",
          },
        });
      }
      if (req.method === "GET" && req.url === "/v1/models") {
        return send(200, {
          object: "list",
          data: (opts.models ?? ["fake-model"]).map((id) => ({ id, object: "model", created: 0, owned_by: "fake" })),
        });
      }
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        return send(404, {
          error: { message: `Unknown request URL: ${req.method} ${req.url}`, type: "invalid_request_error" },
        });
      }
      const parsed = JSON.parse(body) as {
        model: string;
        messages: Array<{ role: string; content: string }>;
        max_tokens?: number;
      };
      fake.requests.push({
        at: Date.now(),
        model: parsed.model,
        messages: parsed.messages,
        maxTokens: parsed.max_tokens,
        authorization: req.headers.authorization,
      });
      const n = fake.requests.length;
      inFlight++;
      fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
      try {
        if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
        const instead = opts.before ? await opts.before(n) : undefined;
        if (res.destroyed) return; // the client went away while the request was held
        const scripted = instead ?? fake.script.shift();
        if (scripted)
          return send(
            scripted.status,
            scripted.body ?? { error: { message: `scripted ${scripted.status}`, type: "server_error" } },
            scripted.headers,
          );
        if (opts.models && !opts.models.includes(parsed.model)) {
          return send(404, {
            error: {
              message: `The model \`${parsed.model}\` does not exist.`,
              type: "invalid_request_error",
              code: "model_not_found",
            },
          });
        }
        const lastUser = [...parsed.messages].reverse().find((m) => m.role === "user")?.content ?? "";
        const content = opts.answer ? opts.answer(parsed.messages, parsed.model) : lastUser;
        const scale = opts.usageScale ?? 1;
        const prompt = Math.round(parsed.messages.reduce((t, m) => t + 4 + words(m.content ?? ""), 3) * scale);
        const completion = Math.round(words(content) * scale);
        const m = fake.misbehave.shift() ?? {};
        res.on("finish", () => {
          fake.answered.push({ model: parsed.model, promptTokens: prompt, completionTokens: completion });
          opts.onAnswered?.();
        });
        writeBody(
          res,
          chatCompletionText(
            {
              id: `chatcmpl-${fake.requests.length}`,
              model: parsed.model,
              content,
              promptTokens: prompt,
              completionTokens: completion,
            },
            m,
          ),
          m,
        );
      } finally {
        inFlight--;
      }
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  fake.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return fake;
}
