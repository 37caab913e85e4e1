/**
 * `serve bench`: many adapters on one GPU, measured on the team's own server. The base model alone, then N adapters
 * mixed in one stream of requests (round robin), each phase R requests at concurrency C after a warm-up; output
 * tokens/s, p50/p95 latency, the ratio of the two, and what 1,000 requests cost at the endpoint's gpuHourUsd.
 * Adapters are tuneloop's adapters in adapterDir; fewer than N are loaded again under extra names (the server
 * holds each name as a separate adapter). What the bench loaded is unloaded at the end.
 */
import fs from "node:fs";
import path from "node:path";
import type { CompletionRequest } from "../../core/inference.ts";
import { TuneError } from "../../errors.ts";
import type { LoraServer } from "./server.ts";

export interface BenchPhase {
  label: string;
  adapters: number;
  requests: number;
  failed: number;
  outputTokens: number;
  wallMs: number;
  tokensPerSec: number;
  p50Ms: number;
  p95Ms: number;
  /** USD of 1,000 requests: this phase's GPU time per request at gpuHourUsd. */
  usdPer1k: number;
}

export interface BenchResult {
  endpoint: string;
  base: string;
  concurrency: number;
  gpuHourUsd: number;
  phases: [BenchPhase, BenchPhase];
  /** tokens/s with N adapters mixed over the base model's alone. */
  ratio: number;
}

const PROMPTS = [
  "Summarise in one sentence why the sky is blue.",
  "Write a short, polite reply declining a meeting on Friday.",
  "List three uses of a paperclip.",
  "Explain what a LoRA adapter is to a product manager, in two sentences.",
  "Translate 'good morning, the train is late' into French.",
  "Give a one-line SQL query counting rows of a table named orders.",
  "What is 17 times 23? Answer with the number.",
  "Name two differences between a list and a tuple in Python.",
];

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

/** Folders of adapterDir that hold a PEFT adapter, oldest first. */
export function adaptersIn(dir: string): string[] {
  let names: string[] = [];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => !n.startsWith(".") && fs.existsSync(path.join(dir, n, "adapter_config.json")));
  } catch {
    return [];
  }
  return names.sort((a, b) => fs.statSync(path.join(dir, a)).mtimeMs - fs.statSync(path.join(dir, b)).mtimeMs);
}

export async function serveBench(
  server: LoraServer,
  opts: {
    adapters: number;
    requests: number;
    concurrency: number;
    maxTokens?: number;
    signal?: AbortSignal;
    progress?: (m: string) => void;
  },
): Promise<BenchResult> {
  if (opts.adapters > server.maxLoras) {
    throw new TuneError(
      "serve_bench_too_many",
      `--adapters ${opts.adapters} is over ${server.name}'s maxLoras ${server.maxLoras} (the server's --max-loras): pick ${server.maxLoras} or fewer, or raise both.`,
    );
  }
  const dir = path.resolve(server.endpoint.adapterDir ?? "");
  const found = adaptersIn(dir);
  if (opts.adapters > 0 && !found.length) {
    throw new TuneError(
      "serve_bench_no_adapters",
      `No adapter in ${server.name}'s adapterDir yet: train one first (/tune run start ... --provider selfhosted), or bench the base alone with --adapters 0.`,
    );
  }
  const [base] = await server.bases(opts.signal);
  if (!base) throw new TuneError("selfhosted_base_not_served", `${server.name} serves no base model.`);
  const before = new Set(await server.loadedAdapters());
  // N names: the adapters found, then the same folders again under bench names
  const plan = Array.from({ length: opts.adapters }, (_, i) => ({
    name: i < found.length ? found[i] : `bench-${i + 1}-${found[i % found.length]}`.slice(0, 120),
    dir: path.join(dir, found[i % found.length]),
  }));
  const maxTokens = opts.maxTokens ?? 64;
  const request = (i: number): CompletionRequest => ({
    messages: [{ role: "user", content: PROMPTS[i % PROMPTS.length] }],
    maxTokens,
    temperature: 0,
  });

  const phase = async (label: string, target: (i: number) => string | null): Promise<BenchPhase> => {
    const latencies: number[] = [];
    let outputTokens = 0;
    let failed = 0;
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < opts.requests) {
        const i = next++;
        const adapter = target(i);
        try {
          const r = await server.chat(base.id, adapter, request(i), opts.signal);
          latencies.push(r.latencyMs);
          outputTokens += r.outputTokens;
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.requests) }, worker));
    const wallMs = performance.now() - t0;
    const ok = opts.requests - failed;
    const r: BenchPhase = {
      label,
      adapters: label === "base" ? 0 : plan.length,
      requests: opts.requests,
      failed,
      outputTokens,
      wallMs: Math.round(wallMs),
      tokensPerSec: outputTokens / Math.max(wallMs / 1000, 1e-9),
      p50Ms: Math.round(percentile(latencies, 50)),
      p95Ms: Math.round(percentile(latencies, 95)),
      usdPer1k: ok ? ((wallMs / ok) * 1000 * server.gpuHourUsd) / 3_600_000 : Number.NaN,
    };
    opts.progress?.(
      `${label}: ${Math.round(r.tokensPerSec)} tokens/s, p50 ${r.p50Ms} ms, p95 ${r.p95Ms} ms${failed ? `, ${failed} failed` : ""}`,
    );
    return r;
  };

  const loadedHere: string[] = [];
  try {
    opts.progress?.(`warming up ${base.id}`);
    await server.chat(base.id, null, request(0), opts.signal);
    const alone = await phase("base", () => null);
    for (const a of plan) {
      opts.progress?.(`loading ${a.name}`);
      await server.ensureLoaded(a.name, a.dir, base.id, opts.signal);
      if (!before.has(a.name)) loadedHere.push(a.name);
    }
    const mixed = plan.length
      ? await phase(`${plan.length} adapters`, (i) => plan[i % plan.length].name)
      : { ...alone, label: "0 adapters" };
    return {
      endpoint: server.name,
      base: base.id,
      concurrency: opts.concurrency,
      gpuHourUsd: server.gpuHourUsd,
      phases: [alone, mixed],
      ratio: mixed.tokensPerSec / Math.max(alone.tokensPerSec, 1e-9),
    };
  } finally {
    // leave the server as it was: what the bench loaded goes
    for (const n of loadedHere) await server.unload(n).catch(() => {});
  }
}
