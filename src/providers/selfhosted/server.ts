/**
 * A self-hosted inference server that loads LoRA adapters at run time (vLLM; SGLang through sglang.ts): what is
 * served (`GET /models`), loading and unloading adapters with at most `maxLoras` loaded (the least recently used is
 * unloaded), one warm-up request after a load, and chat completions through the OpenAI-compatible client.
 *
 * vLLM's API (https://docs.vllm.ai/en/latest/features/lora.html, "Dynamically serving LoRA Adapters"):
 *   POST {baseUrl}/load_lora_adapter   {"lora_name", "lora_path"}  200 text "Success: ..."; 400 JSON error
 *   POST {baseUrl}/unload_lora_adapter {"lora_name"}
 *   GET  {baseUrl}/models               data[]: {id, root, parent}; an adapter's parent is its base
 * The routes exist only with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True (else 404).
 */
import { TuneError } from "../../errors.ts";
import { request, type HttpResponse } from "../../lib/http.ts";
import type { CompletionRequest, CompletionResult } from "../../core/inference.ts";
import { OpenAICompatibleClient, type EndpointConfig } from "../openai-compatible.ts";

/** What differs between servers: where the routes are, how an adapter is named in a request, which ranks load. */
export interface ServerDialect {
  kind: "vllm" | "sglang";
  /** The name people know the server by. */
  label: string;
  loadUrl(baseUrl: string): string;
  unloadUrl(baseUrl: string): string;
  modelsUrl(baseUrl: string): string;
  /** The `model` of a chat request answered by `adapter` on `base`. */
  chatModel(base: string, adapter: string): string;
  /** LoRA ranks the server can load at all (null: any up to its maximum). */
  ranks: readonly number[] | null;
  /** The server's flag for the largest rank, and for the adapters loaded at once. */
  maxRankFlag: string;
  /** How to turn run-time loading on, for the refusal of a 404. */
  runtimeLoadingHint: string;
}

const trim = (u: string) => u.replace(/\/+$/, "");

export const VLLM: ServerDialect = {
  kind: "vllm",
  label: "vLLM",
  loadUrl: (b) => `${trim(b)}/load_lora_adapter`,
  unloadUrl: (b) => `${trim(b)}/unload_lora_adapter`,
  modelsUrl: (b) => `${trim(b)}/models`,
  chatModel: (_base, adapter) => adapter,
  ranks: [1, 8, 16, 32, 64, 128, 256, 320, 512],
  maxRankFlag: "--max-lora-rank",
  runtimeLoadingHint:
    "run-time adapter loading is off on this vLLM: start it with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True in its environment (and --enable-lora)",
};

export interface ServedModel {
  id: string;
  /** The weights it was started with (a Hugging Face id or a folder), or an adapter's path. */
  root: string | null;
  /** An adapter's base model; null for a base model. */
  parent: string | null;
}

export interface ServerDeps {
  http?: (
    method: string,
    url: string,
    opts: { headers?: Record<string, string>; body?: string; timeoutMs?: number; signal?: AbortSignal },
  ) => Promise<HttpResponse>;
}

/** The GPU time one request is expected to take before its time is known (cautious: estimates reserve enough). */
export const EXPECT = { prefillTokensPerSec: 1000, decodeTokensPerSec: 25 };

export class LoraServer {
  readonly client: OpenAICompatibleClient;
  private readonly http: NonNullable<ServerDeps["http"]>;
  /** Adapters loaded by us or found loaded, with when each was last used (LRU order). */
  private loaded: Map<string, number> | null = null;
  private runtimeLoadingOn = false;
  private clock = 0;
  /** Loads and unloads run one at a time (the LRU bookkeeping must match the server). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly endpoint: EndpointConfig,
    readonly dialect: ServerDialect,
    deps: ServerDeps = {},
  ) {
    this.client = new OpenAICompatibleClient(endpoint);
    this.http = deps.http ?? ((m, u, o) => request(m, u, o));
  }

  get name() {
    return this.endpoint.name;
  }
  get maxLoras() {
    return this.endpoint.maxLoras ?? 8;
  }
  get maxLoraRank() {
    return this.endpoint.maxLoraRank ?? 16;
  }
  get gpuHourUsd() {
    return this.endpoint.gpuHourUsd ?? 0;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { "content-type": "application/json" };
    if (this.endpoint.apiKey) h.authorization = `Bearer ${this.endpoint.apiKey}`;
    return h;
  }

  private async call(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<HttpResponse> {
    try {
      return await this.http(method, url, {
        headers: this.headers(),
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: this.endpoint.timeoutMs,
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new TuneError(
        "endpoint_unavailable",
        `${this.dialect.label} at ${this.name} (${this.endpoint.baseUrl}) did not answer: ${(err as Error).message}. Is it running?`,
      );
    }
  }

  /** Everything the server serves now: base models and loaded adapters. */
  async models(signal?: AbortSignal): Promise<ServedModel[]> {
    const res = await this.call("GET", this.dialect.modelsUrl(this.endpoint.baseUrl), undefined, signal);
    if (res.status !== 200) {
      throw new TuneError(
        "endpoint_error",
        `${this.dialect.label} at ${this.name} answered GET /models with HTTP ${res.status}: ${errorText(res.text)}.`,
      );
    }
    let data: Array<{ id?: unknown; root?: unknown; parent?: unknown }> = [];
    try {
      data = (JSON.parse(res.text) as { data?: typeof data }).data ?? [];
    } catch {
      throw new TuneError("endpoint_error", `${this.name}: GET /models did not answer JSON.`);
    }
    return data
      .filter((m) => typeof m.id === "string")
      .map((m) => ({
        id: String(m.id),
        root: typeof m.root === "string" ? m.root : null,
        parent: typeof m.parent === "string" ? m.parent : null,
      }));
  }

  /** The base models served (not adapters). */
  async bases(signal?: AbortSignal): Promise<ServedModel[]> {
    return (await this.models(signal)).filter((m) => m.parent === null);
  }

  /**
   * The served base model named `name` (its id, or the weights it was started with), or a refusal naming what the
   * server serves and how to serve the other one.
   */
  async servedBase(name: string, signal?: AbortSignal): Promise<ServedModel> {
    const bases = await this.bases(signal);
    const hit = bases.find((m) => m.id === name || m.root === name);
    if (hit) return hit;
    throw new TuneError(
      "selfhosted_base_not_served",
      `${this.dialect.label} at ${this.name} does not serve ${name}: it serves ${bases.map((m) => m.id).join(", ") || "no base model"}. Train on that one (--model gpu:${bases[0]?.id ?? "<base>"}), or start the server with the other base (vllm serve ${name} --enable-lora ...).`,
    );
  }

  /**
   * Finds run-time adapter loading off before anything is trained: the load route answers a request naming no adapter
   * with a validation error (400/422) when it exists, and 404 when the server was started without it. Asked once
   * per server until it answers yes (a restart with the setting is then seen on the next run).
   */
  async checkRuntimeLoading(signal?: AbortSignal): Promise<void> {
    if (this.runtimeLoadingOn) return;
    const res = await this.call("POST", this.dialect.loadUrl(this.endpoint.baseUrl), {}, signal);
    if (res.status === 404) {
      throw new TuneError(
        "selfhosted_runtime_loading_off",
        `${this.name} could not serve the adapter this run would train: ${this.dialect.runtimeLoadingHint}. Then restart it and start the run again; nothing was trained or spent.`,
      );
    }
    this.runtimeLoadingOn = true;
  }

  /** Refuses a LoRA rank the server cannot load, naming the setting to change on each side. */
  checkRank(rank: number): void {
    const ranks = this.dialect.ranks;
    if (ranks && !ranks.includes(rank)) {
      const fits = ranks.filter((r) => r <= this.maxLoraRank);
      throw new TuneError(
        "selfhosted_rank_unsupported",
        `LoRA rank ${rank} cannot be loaded by ${this.dialect.label}: it loads ranks ${ranks.join(", ")} only. On tuneloop's side, pick --lora-rank ${fits.slice(-2).join(" or ") || ranks[0]} (this server's maxLoraRank is ${this.maxLoraRank}).`,
      );
    }
    if (rank > this.maxLoraRank) {
      const allowed = (ranks ?? []).filter((r) => r <= this.maxLoraRank);
      throw new TuneError(
        "selfhosted_rank_too_large",
        `LoRA rank ${rank} is over what ${this.name} loads: its maxLoraRank is ${this.maxLoraRank} (the server's ${this.dialect.maxRankFlag}). Either train with --lora-rank ${allowed.length ? allowed.slice(-1)[0] : this.maxLoraRank} or lower (tuneloop's side), or restart the server with ${this.dialect.maxRankFlag} ${rank} and set "maxLoraRank": ${rank} for ${this.name} in TUNELOOP_ENDPOINTS (the server's side).`,
      );
    }
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => {});
    return p;
  }

  private async loadedNow(signal?: AbortSignal): Promise<Map<string, number>> {
    if (!this.loaded) {
      this.loaded = new Map((await this.models(signal)).filter((m) => m.parent !== null).map((m) => [m.id, 0]));
    }
    return this.loaded;
  }

  /** Adapters loaded now, least recently used first. */
  async loadedAdapters(): Promise<string[]> {
    return [...(await this.loadedNow()).entries()].sort((a, b) => a[1] - b[1]).map(([n]) => n);
  }

  /**
   * Makes sure `adapter` is loaded (from `path`, a folder the server reads), unloading the least recently used
   * adapter when `maxLoras` are loaded, and sends one warm-up request after a load so the first timed request does
   * not pay for it. Marks it used.
   */
  ensureLoaded(adapter: string, path: string, base: string, signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      const loaded = await this.loadedNow(signal);
      if (loaded.has(adapter)) {
        loaded.set(adapter, ++this.clock);
        return;
      }
      while (loaded.size >= this.maxLoras) {
        const [lru] = [...loaded.entries()].sort((a, b) => a[1] - b[1])[0];
        await this.unloadNow(lru, signal);
      }
      const res = await this.call(
        "POST",
        this.dialect.loadUrl(this.endpoint.baseUrl),
        { lora_name: adapter, lora_path: path },
        signal,
      );
      if (res.status === 404) {
        throw new TuneError(
          "selfhosted_runtime_loading_off",
          `${this.name} answered 404 to load_lora_adapter: ${this.dialect.runtimeLoadingHint}. Then restart it; nothing was loaded.`,
        );
      }
      const already = res.status === 400 && /already (been )?loaded/i.test(res.text);
      if ((res.status < 200 || res.status >= 300) && !already) {
        throw new TuneError(
          "selfhosted_load_failed",
          `${this.dialect.label} at ${this.name} refused to load ${adapter} from ${path}: HTTP ${res.status}: ${errorText(res.text)}. The server must read that folder (adapterDir in TUNELOOP_ENDPOINTS is a path both sides see).`,
        );
      }
      loaded.set(adapter, ++this.clock);
      // vLLM's first request after a load can take seconds: pay it here, not in an eval's latencies.
      await this.client.chat(
        this.dialect.chatModel(base, adapter),
        { messages: [{ role: "user", content: "Hi" }], maxTokens: 1 },
        signal,
      );
    });
  }

  unload(adapter: string, signal?: AbortSignal): Promise<void> {
    return this.serial(() => this.unloadNow(adapter, signal));
  }

  private async unloadNow(adapter: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call("POST", this.dialect.unloadUrl(this.endpoint.baseUrl), { lora_name: adapter }, signal);
    // gone already (another client, a server restart) is what we wanted
    if ((res.status < 200 || res.status >= 300) && res.status !== 404 && !/not found|no lora/i.test(res.text)) {
      throw new TuneError(
        "selfhosted_unload_failed",
        `${this.name} refused to unload ${adapter}: HTTP ${res.status}: ${errorText(res.text)}.`,
      );
    }
    this.loaded?.delete(adapter);
  }

  /** Forgets what we think is loaded (after a refusal that may mean the server restarted). */
  forget(): void {
    this.loaded = null;
  }

  chat(base: string, adapter: string | null, req: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    return this.client.chat(adapter ? this.dialect.chatModel(base, adapter) : base, req, signal);
  }
}

export function errorText(raw: string): string {
  try {
    const j = JSON.parse(raw) as { error?: { message?: string } | string; message?: string; detail?: unknown };
    const m = typeof j.error === "string" ? j.error : (j.error?.message ?? j.message ?? j.detail);
    if (m) return String(typeof m === "string" ? m : JSON.stringify(m)).slice(0, 300);
  } catch {
    // not JSON
  }
  return raw.slice(0, 300) || "(empty)";
}
