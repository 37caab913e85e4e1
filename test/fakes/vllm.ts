/**
 * A local fake of vLLM's OpenAI-compatible server with LoRA adapters loaded at run time
 * (https://docs.vllm.ai/en/latest/features/lora.html): GET /v1/models (base models and loaded adapters, an
 * adapter's `parent` is its base), POST /v1/chat/completions (`model` = the base or a loaded adapter's name),
 * POST /v1/load_lora_adapter {lora_name, lora_path} (200 text "Success: ..."; 400 JSON errors), POST
 * /v1/unload_lora_adapter {lora_name}. Like vLLM it reads the adapter folder: adapter_config.json's `r` must be at
 * most --max-lora-rank and adapter_model.safetensors must be a safetensors file; at most --max-loras adapters are
 * loaded. With run-time loading off (no VLLM_ALLOW_RUNTIME_LORA_UPDATING) the two routes do not exist: 404.
 * `dialect: "sglang"` serves SGLang's shapes instead: adapter routes at the root, a model written `base:adapter`.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

export interface FakeVllmOptions {
  base?: string;
  /** What the base was started from (`root` in /v1/models). */
  root?: string;
  maxLoras?: number;
  maxLoraRank?: number;
  runtimeLoading?: boolean;
  dialect?: "vllm" | "sglang";
  /** The answer of `model` (the base's id, or an adapter's name) to a chat. */
  answer?: (model: string, adapter: string | null, messages: Array<{ role: string; content: string }>) => string;
  /** Time to answer one request, in ms (tokens/s in serve bench): the base's, and each adapter's extra. */
  latencyMs?: number;
  adapterLatencyMs?: number;
}

export interface FakeVllm {
  /** The OpenAI-compatible base URL (ends in /v1). */
  baseUrl: string;
  loaded: Map<string, string>;
  calls: Array<{ method: string; path: string; body: unknown; status: number }>;
  chats: Array<{ model: string; adapter: string | null }>;
  maxInFlight: number;
  /** Restarts the fake with or without VLLM_ALLOW_RUNTIME_LORA_UPDATING (the adapter routes appear or vanish). */
  setRuntimeLoading(on: boolean): void;
  close(): Promise<void>;
}

/** The JSON header of a safetensors file (8-byte little-endian length, then the header), or null. */
export function safetensorsHeader(file: string): Record<string, unknown> | null {
  try {
    const buf = fs.readFileSync(file);
    const n = Number(buf.readBigUInt64LE(0));
    if (n <= 0 || 8 + n > buf.length) return null;
    return JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const tokens = (s: string) => Math.max(1, Math.ceil(s.length / 4));

export async function startFakeVllm(o: FakeVllmOptions = {}): Promise<FakeVllm> {
  const base = o.base ?? "Qwen/Qwen2.5-0.5B-Instruct";
  const maxLoras = o.maxLoras ?? 8;
  const maxRank = o.maxLoraRank ?? 16;
  const sglang = o.dialect === "sglang";
  let inFlight = 0;
  const fake: FakeVllm = {
    baseUrl: "",
    loaded: new Map(),
    calls: [],
    chats: [],
    maxInFlight: 0,
    setRuntimeLoading: (on) => {
      o.runtimeLoading = on;
    },
    close: async () => {},
  };
  const error = (status: number, message: string, type = "BadRequestError") => ({
    status,
    json: { object: "error", message, type, param: null, code: status },
  });
  const loadRoute = sglang ? "/load_lora_adapter" : "/v1/load_lora_adapter";
  const unloadRoute = sglang ? "/unload_lora_adapter" : "/v1/unload_lora_adapter";

  const handle = async (method: string, url: string, body: Record<string, unknown>) => {
    if (method === "GET" && url === "/v1/models") {
      return {
        status: 200,
        json: {
          object: "list",
          data: [
            { id: base, object: "model", root: o.root ?? base, parent: null },
            ...[...fake.loaded].map(([id, p]) => ({ id, object: "model", root: p, parent: base })),
          ],
        },
      };
    }
    if (method === "POST" && (url === loadRoute || url === unloadRoute)) {
      if (o.runtimeLoading === false) return { status: 404, json: { detail: "Not Found" } };
      const name = String(body.lora_name ?? "");
      if (url === unloadRoute) {
        if (!fake.loaded.has(name)) return error(404, `The lora adapter '${name}' cannot be found.`, "NotFoundError");
        fake.loaded.delete(name);
        return { status: 200, text: `Success: LoRA adapter '${name}' removed successfully.` };
      }
      const p = String(body.lora_path ?? "");
      if (!name || !p) return error(400, "Both 'lora_name' and 'lora_path' must be provided.");
      if (fake.loaded.has(name)) return error(400, `The lora adapter '${name}' has already been loaded.`);
      let cfg: { r?: number; base_model_name_or_path?: string };
      try {
        cfg = JSON.parse(fs.readFileSync(path.join(p, "adapter_config.json"), "utf8"));
      } catch {
        return error(400, `Loading lora ${name} failed: No adapter found for ${p}`);
      }
      if (!safetensorsHeader(path.join(p, "adapter_model.safetensors")))
        return error(400, `Loading lora ${name} failed: adapter_model.safetensors is not a safetensors file`);
      if ((cfg.r ?? 0) > maxRank) return error(400, `LoRA rank ${cfg.r} is greater than max_lora_rank ${maxRank}.`);
      if (fake.loaded.size >= maxLoras)
        return error(400, `Number of loaded LoRAs would exceed max_loras (${maxLoras}): unload one first.`);
      fake.loaded.set(name, p);
      return { status: 200, text: `Success: LoRA adapter '${name}' added successfully.` };
    }
    if (method === "POST" && url === "/v1/chat/completions") {
      const model = String(body.model ?? "");
      let adapter: string | null = null;
      if (sglang && model.startsWith(`${base}:`)) adapter = model.slice(base.length + 1);
      else if (!sglang && model !== base) adapter = model;
      if ((adapter && !fake.loaded.has(adapter)) || (!adapter && model !== base))
        return error(404, `The model \`${model}\` does not exist.`, "NotFoundError");
      const messages = (body.messages ?? []) as Array<{ role: string; content: string }>;
      fake.chats.push({ model, adapter });
      const ms = (o.latencyMs ?? 0) + (adapter ? (o.adapterLatencyMs ?? 0) : 0);
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      const text = o.answer?.(adapter ?? base, adapter, messages) ?? "ok";
      const prompt = messages.reduce((n, m) => n + tokens(String(m.content ?? "")), 0);
      return {
        status: 200,
        json: {
          id: `chatcmpl-${fake.chats.length}`,
          object: "chat.completion",
          model,
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
          usage: { prompt_tokens: prompt, completion_tokens: tokens(text), total_tokens: prompt + tokens(text) },
        },
      };
    }
    return { status: 404, json: { detail: "Not Found" } };
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      inFlight++;
      fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
      } catch {
        // answered as a bad request below by the route
      }
      const url = (req.url ?? "").split("?")[0];
      const r = (await handle(req.method ?? "GET", url, body)) as { status: number; json?: unknown; text?: string };
      inFlight--;
      fake.calls.push({ method: req.method ?? "GET", path: url, body, status: r.status });
      if (r.text !== undefined) {
        res.writeHead(r.status, { "content-type": "text/plain" }).end(r.text);
      } else {
        res.writeHead(r.status, { "content-type": "application/json" }).end(JSON.stringify(r.json));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  fake.baseUrl = `http://127.0.0.1:${port}/v1`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
