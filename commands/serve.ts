/**
 * `serve bench`: several tuned adapters on one GPU, measured on the team's own vLLM/SGLang server
 * (src/providers/selfhosted/bench.ts), with a PNG chart of tokens/s and latency.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { renderPng } from "../src/charts/render.ts";
import { CHART_CONFIG } from "../src/charts/render.ts";
import { fields, text, type CardFile } from "../src/core/cards.ts";
import { fmt } from "../src/core/format.ts";
import { TuneError } from "../src/errors.ts";
import { serveBench, type BenchResult } from "../src/providers/selfhosted/bench.ts";
import { defineCommand } from "./types.ts";

async function benchChart(dataDir: string, r: BenchResult): Promise<CardFile> {
  const rows = r.phases.flatMap((p) => [
    { phase: p.label, metric: "output tokens/s", value: Math.round(p.tokensPerSec) },
    { phase: p.label, metric: "p50 latency (ms)", value: p.p50Ms },
    { phase: p.label, metric: "p95 latency (ms)", value: p.p95Ms },
  ]);
  const png = await renderPng({
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    config: CHART_CONFIG,
    title: {
      text: `${r.endpoint}: ${r.base} alone vs ${r.phases[1].label}`,
      subtitle: `${r.phases[0].requests} requests per phase at concurrency ${r.concurrency}; throughput ratio ${r.ratio.toFixed(2)}x`,
    },
    data: { values: rows },
    facet: { column: { field: "metric", type: "nominal", title: null } },
    spec: {
      width: 220,
      height: 240,
      mark: { type: "bar", tooltip: true },
      encoding: {
        x: {
          field: "phase",
          type: "nominal",
          title: null,
          axis: { labelAngle: 0 },
          sort: r.phases.map((p) => p.label),
        },
        y: { field: "value", type: "quantitative", title: null },
        color: { field: "phase", type: "nominal", legend: null, sort: r.phases.map((p) => p.label) },
      },
    },
    resolve: { scale: { y: "independent" } },
  } as never);
  const dir = path.join(dataDir, "charts");
  fs.mkdirSync(dir, { recursive: true });
  const name = `serve-bench-${r.endpoint}.png`;
  const file = path.join(dir, name);
  fs.writeFileSync(file, png);
  return { name, content: png, mime: "image/png", title: `serve bench of ${r.endpoint}`, path: file };
}

export const serveBenchCommand = defineCommand({
  path: ["serve", "bench"],
  summary:
    "Measure several tuned adapters on one GPU: the base model alone, then N adapters mixed; tokens/s, p50/p95 latency, the ratio and a chart.",
  options: z.object({
    endpoint: z.string().describe("a vllm or sglang endpoint of TUNELOOP_ENDPOINTS"),
    adapters: z.coerce.number().int().min(0).max(256).default(4).describe("adapters mixed in the second phase"),
    requests: z.coerce.number().int().min(1).max(10_000).default(200).describe("requests per phase"),
    concurrency: z.coerce.number().int().min(1).max(512).default(16).describe("requests in flight"),
  }),
  positional: ["endpoint"],
  permission: "spend",
  examples: ["/tune serve bench gpu-box --adapters 8 --requests 400 --concurrency 32"],
  async handler(ctx, input) {
    const providers = ctx.app.providers;
    const server = providers.loraServer?.(input.endpoint) ?? null;
    if (!server) {
      const names = providers.loraServerNames?.() ?? [];
      throw new TuneError(
        "serve_endpoint_unknown",
        `No vllm or sglang endpoint named "${input.endpoint}". ${names.length ? `There are: ${names.join(", ")}.` : 'Name one in TUNELOOP_ENDPOINTS with "kind": "vllm" (docs/selfhosted.md).'}`,
      );
    }
    const r = await serveBench(server, {
      adapters: input.adapters,
      requests: input.requests,
      concurrency: input.concurrency,
      progress: ctx.progress,
    });
    const chart = await benchChart(ctx.app.config.dataDir, r);
    const line = (p: BenchResult["phases"][number]) =>
      `${fmt.int(Math.round(p.tokensPerSec))} tokens/s · p50 ${fmt.duration(p.p50Ms)} · p95 ${fmt.duration(p.p95Ms)} · ${fmt.usd(p.usdPer1k)} per 1,000 requests${p.failed ? ` · ${p.failed} failed` : ""}`;
    const [alone, mixed] = r.phases;
    return {
      card: {
        title: `serve bench · ${r.endpoint}`,
        blocks: [
          fields([
            ["Base alone", line(alone)],
            [mixed.label, line(mixed)],
            ["Ratio", `${r.ratio.toFixed(2)}x the base model's tokens/s with ${mixed.label} mixed in`],
            [
              "Setup",
              `${r.base}, ${fmt.int(input.requests)} requests per phase at concurrency ${input.concurrency}, GPU at ${fmt.usd(r.gpuHourUsd)}/h`,
            ],
          ]),
          text(
            mixed.adapters
              ? `${mixed.adapters} tuned models served from one GPU at ${(r.ratio * 100).toFixed(0)}% of the base model's throughput.`
              : "No adapters mixed in (--adapters 0).",
          ),
        ],
        files: [chart],
      },
      data: { ...r, chart: chart.path },
    };
  },
});

export const serveCommands = [serveBenchCommand];
