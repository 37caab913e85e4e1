import { z } from "zod";
import { fields, fmt, table, text } from "../src/core/cards.ts";
import { summarizeLedger } from "../src/core/costs/ledger.ts";
import type { Comparison } from "../src/core/evals/service.ts";
import type { EvalRecord } from "../src/core/ports.ts";
import { compareCard, EVAL_COLUMNS, evalRow, leaderboardCard, pct } from "../src/core/runs/cards.ts";
import { experimentChartFiles } from "../src/charts/run-charts.ts";
import { parseRunRef, resolveModel } from "../src/core/models.ts";
import { TuneError } from "../src/errors.ts";
import { defineCommand } from "./types.ts";

export function evalJson(e: EvalRecord) {
  return {
    id: e.id,
    model: e.model,
    role: e.role,
    metric: e.metric,
    mean: e.mean,
    ci: [e.ciLow, e.ciHigh],
    n: e.n,
    latencyMs: { p50: e.summary?.latencyMs.p50 ?? null, p95: e.summary?.latencyMs.p95 ?? null },
    tokens: { input: e.summary?.inputTokens ?? 0, output: e.summary?.outputTokens ?? 0 },
    usd: e.summary?.usd ?? null,
    chance: e.summary?.chance ?? null,
  };
}

export function comparisonJson(c: Comparison) {
  return {
    metric: c.metric,
    dataset: c.dataset,
    n: c.n,
    a: c.a,
    b: c.b,
    diff: c.diff,
    ci: c.ci,
    pValue: c.pValue,
    test: c.test,
    discordant: c.discordant,
    mde: c.mde,
    correlation: c.correlation,
    clusteredSe: c.clusteredSe,
    alpha: c.alpha,
    significant: c.significant,
    regressions: c.regressions,
    verdict: c.verdict,
  };
}

export const evalCommand = defineCommand({
  path: ["eval"],
  summary: "Evaluate a model (local:stories260K, run:N, endpoint:model) on a dataset's chat rows.",
  options: z.object({
    model: z.string().describe("model: provider:model, run:N or endpoint:model"),
    dataset: z.string().describe("eval dataset, name[@vN]"),
    graders: z
      .string()
      .default("exact")
      .describe("metric/grader, e.g. exact, normalized, label:yes,no, judge:endpoint:model"),
    experiment: z.string().optional().describe("book the eval (and its cost) to this experiment"),
    maxTokens: z.coerce.number().int().min(1).max(8192).optional().describe("longest answer to generate"),
  }),
  positional: ["model", "dataset"],
  permission: "spend",
  examples: ["/tune eval local:stories260K demo-eval", "/tune eval run:3 support-eval --graders normalized"],
  async handler(ctx, input) {
    const dataset = ctx.app.datasets.get(input.dataset);
    const exp = input.experiment ? ctx.app.experiments.get(input.experiment) : null;
    let lastPct = -1;
    const e = await ctx.app.evals.evaluate({
      modelRef: input.model,
      dataset,
      metric: input.graders,
      role: "adhoc",
      experimentId: exp?.id ?? null,
      maxTokens: input.maxTokens,
      onProgress: (d, t) => {
        const p = Math.floor((d / t) * 4) * 25;
        if (p > lastPct) {
          lastPct = p;
          ctx.progress(`eval ${input.model}: ${d}/${t} rows`);
        }
      },
    });
    const ref = ctx.app.datasets.refOf(dataset.id);
    const blocks = [table(EVAL_COLUMNS, [evalRow(e)])];
    if (e.summary?.chance)
      blocks.push(text(`Chance baseline (always "${e.summary.chance.label}"): ${pct(e.summary.chance.accuracy)}.`));
    const cost = summarizeLedger(ctx.app.engine.ledger({}).filter((l) => l.evalId === e.id));
    blocks.push(fields([["Cost", `${fmt.usd(cost.totalUsd)} · ${fmt.duration(e.summary?.wallMs ?? 0)}`]]));
    return {
      card: { title: `Eval of ${e.model} on ${ref} (${e.metric})`, blocks },
      data: { ...evalJson(e), dataset: ref },
    };
  },
});

export const compareCommand = defineCommand({
  path: ["compare"],
  summary: "Paired comparison of two models on the same eval rows: difference, interval, test, rows that regressed.",
  options: z.object({
    a: z.string().describe("the reference model (e.g. local:stories260K, or best: the experiment's best)"),
    b: z.string().describe("the candidate (e.g. run:3)"),
    experiment: z.string().optional().describe("use this experiment's eval set, metric and alpha"),
  }),
  positional: ["a", "b"],
  permission: "read",
  examples: [
    "/tune compare local:stories260K run:3",
    "/tune compare run:2 run:3 --experiment support",
    "/tune compare best run:3",
  ],
  async handler(ctx, input) {
    let exp = input.experiment ? ctx.app.experiments.get(input.experiment) : undefined;
    let { a, b } = input;
    if (a === "best" || b === "best") {
      // "best" is the experiment's best-scoring model other than the one it is compared with.
      const other = a === "best" ? b : a;
      if (!exp) {
        const runId = parseRunRef(other);
        const run = runId !== null ? ctx.app.engine.runById(runId) : null;
        exp = run ? (ctx.app.engine.experimentById(run.experimentId) ?? undefined) : undefined;
      }
      if (!exp)
        throw new TuneError(
          "invalid_options",
          "best needs an experiment: add --experiment <name>, or compare against a run (run:N).",
        );
      const otherRef = resolveModel(other, ctx.app.providers, ctx.app.engine).ref;
      const best = ctx.app.engine
        .evals({ datasetVersionId: exp.evalVersionId, state: "succeeded" })
        .filter((e) => e.metric === exp?.metric && e.model !== otherRef)
        .sort((x, y) => (y.mean ?? -1) - (x.mean ?? -1) || y.id - x.id)[0];
      if (!best)
        throw new TuneError(
          "eval_not_found",
          `Nothing else has been evaluated in ${exp.name} yet; there is no best to compare with.`,
        );
      if (a === "best") a = best.model;
      else b = best.model;
    }
    const c = ctx.app.evals.compare(a, b, { experiment: exp });
    return { card: compareCard(c), data: comparisonJson(c) };
  },
});

export const leaderboardCommand = defineCommand({
  path: ["leaderboard"],
  summary: "Every model evaluated in an experiment, best first, with intervals, latency and cost per 1,000 requests.",
  options: z.object({ experiment: z.string().describe("experiment name") }),
  positional: ["experiment"],
  permission: "read",
  examples: ["/tune leaderboard support"],
  async handler(ctx, input) {
    const exp = ctx.app.experiments.get(input.experiment);
    const latest = new Map<string, EvalRecord>();
    for (const e of ctx.app.engine.evals({ datasetVersionId: exp.evalVersionId, state: "succeeded" })) {
      if (e.metric === exp.metric && !latest.has(e.model)) latest.set(e.model, e);
    }
    const evals = [...latest.values()].sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1));
    const spend = summarizeLedger(ctx.app.engine.ledger({ experimentId: exp.id }));
    const card = leaderboardCard(exp, ctx.app.datasets.refOf(exp.evalVersionId), evals, spend);
    if (evals.length) card.files = await experimentChartFiles(ctx.app, exp);
    return {
      card,
      data: {
        experiment: exp.name,
        metric: exp.metric,
        eval: ctx.app.datasets.refOf(exp.evalVersionId),
        entries: evals.map(evalJson),
        spentUsd: spend.totalUsd,
        budgetUsd: exp.budgetUsd,
      },
    };
  },
});

export const evalCommands = [evalCommand, compareCommand, leaderboardCommand];
