import { z } from "zod";
import { fmt, table, text } from "../src/core/cards.ts";
import { budgetLine, committedUsd, leftUsd } from "../src/core/costs/budget.ts";
import { round, summarizeLedger } from "../src/core/costs/ledger.ts";
import { EVAL_COLUMNS, evalRow, experimentCard, pct } from "../src/core/runs/cards.ts";
import { graderExamples } from "../src/core/evals/graders.ts";
import { awaitEval, replyChannel } from "./eval.ts";
import { addRunnerNote, runCardFor } from "./run.ts";
import { defineCommand } from "./types.ts";

/** "+5pts", "5", "-2.5 pts", "+5%" -> number of points */
export const points = z.string().transform((s, ctx) => {
  const m = /^\s*([+-]?\d+(?:\.\d+)?)\s*(?:pts?|points?|%)?\s*$/i.exec(s);
  if (!m) {
    ctx.addIssue({ code: "custom", message: `"${s}" is not an effect in points (e.g. +5pts)` });
    return z.NEVER;
  }
  return Number(m[1]);
});

export const experimentNew = defineCommand({
  path: ["experiment", "new"],
  summary: "Create an experiment: its eval set (frozen), metric, baselines to beat and budget.",
  options: z.object({
    name: z.string().describe("experiment name"),
    eval: z.string().describe("eval dataset, name[@vN] (frozen at this version)"),
    metric: z.string().default("exact").describe(`grader: ${graderExamples()}`),
    baseline: z.array(z.string()).default([]).describe("models to beat, endpoint:model (repeat or comma-separate)"),
    budget: z.coerce.number().min(0).optional().describe("budget in USD"),
    alpha: z.coerce.number().gt(0).lt(1).default(0.05).describe("significance level"),
    packs: z.array(z.string()).default([]).describe("eval packs, e.g. pii-leak,tone"),
  }),
  positional: ["name"],
  complete: { eval: "dataset" },
  permission: "write",
  examples: [
    "/tune experiment new support --eval support-eval --metric exact --baseline vllm:qwen2.5-7b --budget 20",
    "/tune experiment new support --eval support-eval --packs pii-leak,bias-counterfactual",
  ],
  async handler(ctx, input) {
    const packs = [
      ...new Set(
        input.packs
          .flatMap((p) => p.split(","))
          .map((p) => p.trim())
          .filter(Boolean),
      ),
    ];
    ctx.app.packs.check(packs); // an unknown pack, or a judge pack without a judge, is refused before anything is made
    const e = ctx.app.experiments.create({
      name: input.name,
      evalDataset: input.eval,
      metric: input.metric,
      baselines: input.baseline,
      budgetUsd: input.budget,
      alpha: input.alpha,
      user: ctx.user.name,
      channelId: ctx.channelId,
    });
    if (packs.length) ctx.app.packs.setExperimentPacks(e.id, packs);
    const evalRef = ctx.app.datasets.refOf(e.evalVersionId);
    const card = experimentCard(e, { evalRef, runs: [], hypotheses: [], spend: summarizeLedger([]) });
    card.title = `Created experiment ${e.name}`;
    card.tone = "success";
    if (packs.length)
      card.blocks.push(text(`Every run is also judged on these eval packs, base vs tuned: ${packs.join(", ")}.`));
    card.blocks.push(
      text(
        `Next: /tune hypothesis ${e.name} "what you expect" --expect +5pts, then /tune run start <train-dataset> --experiment ${e.name}`,
      ),
    );
    return { card, data: experimentJson(ctx.app, e.name) };
  },
});

function experimentJson(app: import("../src/app.ts").App, name: string) {
  const e = app.experiments.get(name);
  const spend = app.costs.ofExperiment(e.id);
  const use = app.costs.budgetUse(e.id);
  const left = leftUsd(use);
  return {
    name: e.name,
    eval: app.datasets.refOf(e.evalVersionId),
    evalSha256: e.evalSha256,
    metric: e.metric,
    baselines: e.baselines,
    budgetUsd: e.budgetUsd,
    alpha: e.alpha,
    packs: app.packs.experimentPacks(e.id),
    spentUsd: spend.totalUsd,
    heldUsd: round(use.heldUsd),
    leftUsd: left === null ? null : round(left),
    createdAt: e.createdAt.toISOString(),
    runs: app.runs.list({ experimentId: e.id }).map((r) => ({ id: r.id, state: r.state })),
    hypotheses: app.experiments
      .hypotheses(e.id)
      .map((h) => ({ id: h.id, text: h.text, metric: h.metric, expectPts: h.expectPts, verdict: h.verdict })),
  };
}

export const experimentShow = defineCommand({
  path: ["experiment", "show"],
  summary: "Show an experiment: eval set, metric, baselines, budget, runs, hypotheses, best model.",
  options: z.object({ name: z.string().describe("experiment name") }),
  positional: ["name"],
  complete: { name: "experiment" },
  permission: "read",
  examples: ["/tune experiment show support"],
  async handler(ctx, input) {
    const e = ctx.app.experiments.get(input.name);
    const best = ctx.app.evals.leaderboard(e)[0];
    const card = experimentCard(e, {
      evalRef: ctx.app.datasets.refOf(e.evalVersionId),
      runs: ctx.app.runs.list({ experimentId: e.id }),
      hypotheses: ctx.app.experiments.hypotheses(e.id),
      spend: ctx.app.costs.ofExperiment(e.id),
      budget: ctx.app.costs.budgetUse(e.id),
      best,
    });
    return { card, data: experimentJson(ctx.app, e.name) };
  },
});

export const experimentBudget = defineCommand({
  path: ["experiment", "budget"],
  summary: "Set an experiment's budget in USD (or none); shows what is spent and held against it.",
  options: z.object({
    name: z.string().describe("experiment name"),
    usd: z
      .string()
      .transform((s, c) => {
        if (/^none$/i.test(s.trim())) return null;
        const n = Number(s.trim().replace(/^\$/, ""));
        if (!Number.isFinite(n) || n < 0) {
          c.addIssue({ code: "custom", message: `"${s}" is not an amount in USD (e.g. 50, or none)` });
          return z.NEVER;
        }
        return n;
      })
      .describe("the budget in USD, or none"),
  }),
  positional: ["name", "usd"],
  complete: { name: "experiment" },
  permission: "admin",
  examples: ["/tune experiment budget support 50", "/tune experiment budget support none"],
  async handler(ctx, input) {
    const e = ctx.app.experiments.setBudget(input.name, input.usd);
    const use = ctx.app.costs.budgetUse(e.id);
    const blocks = [text(`Budget of ${e.name}: ${budgetLine(use)}.`)];
    if (e.budgetUsd !== null && committedUsd(use) > e.budgetUsd + 1e-9)
      blocks.push(
        text(
          "More than that is already spent or reserved: work already queued keeps its reservation, new work is refused, and running evals stop at the budget.",
        ),
      );
    return {
      card: { title: `Budget of ${e.name} set`, tone: "success", blocks },
      data: experimentJson(ctx.app, e.name),
    };
  },
});

export const experimentList = defineCommand({
  path: ["experiment", "list"],
  summary: "List experiments.",
  options: z.object({}),
  permission: "read",
  examples: ["/tune experiment list"],
  async handler(ctx) {
    const all = ctx.app.experiments.list();
    if (!all.length)
      return {
        card: {
          title: "Experiments",
          blocks: [text("No experiments yet. /tune experiment new <name> --eval <dataset>")],
        },
        data: [],
      };
    const rows = all.map((e) => {
      const spend = ctx.app.costs.ofExperiment(e.id).totalUsd;
      return { e, spend, runs: ctx.app.runs.list({ experimentId: e.id }).length };
    });
    return {
      card: {
        title: `Experiments (${all.length})`,
        blocks: [
          table(
            ["experiment", "eval set", "metric", "runs", "spend"],
            rows.map(({ e, spend, runs }) => [
              e.name,
              ctx.app.datasets.refOf(e.evalVersionId),
              e.metric,
              String(runs),
              `${fmt.usd(spend)}${e.budgetUsd !== null ? ` / ${fmt.usd(e.budgetUsd)}` : ""}`,
            ]),
          ),
        ],
      },
      data: rows.map(({ e, spend, runs }) => ({
        name: e.name,
        eval: ctx.app.datasets.refOf(e.evalVersionId),
        metric: e.metric,
        runs,
        spentUsd: spend,
        budgetUsd: e.budgetUsd,
      })),
    };
  },
});

export const hypothesis = defineCommand({
  path: ["hypothesis"],
  summary: "Record a hypothesis before a run; its verdict is posted against it when the next run's evals finish.",
  options: z.object({
    experiment: z.string().describe("experiment name"),
    text: z.string().describe("what you expect, in quotes"),
    metric: z.string().optional().describe("metric (default: the experiment's)"),
    expect: points.describe("expected effect of the next run against its base, e.g. +5pts"),
  }),
  positional: ["experiment", "text"],
  complete: { experiment: "experiment" },
  permission: "write",
  examples: ['/tune hypothesis support "adding refund examples helps" --expect +5pts'],
  async handler(ctx, input) {
    const h = ctx.app.experiments.addHypothesis({
      experiment: input.experiment,
      text: input.text,
      metric: input.metric,
      expectPts: input.expect,
      user: ctx.user.name,
    });
    return {
      card: {
        title: `Hypothesis #${h.id} recorded`,
        tone: "success",
        blocks: [
          text(
            `"${h.text}": expect ${h.expectPts >= 0 ? "+" : ""}${h.expectPts} pts on ${h.metric}. The next run of ${input.experiment} decides it.`,
          ),
        ],
      },
      data: { id: h.id, experiment: input.experiment, text: h.text, metric: h.metric, expectPts: h.expectPts },
    };
  },
});

export const experimentRerun = defineCommand({
  path: ["experiment", "rerun"],
  summary:
    "Re-train the experiment's best recipe on the newest version of its dataset (skipped when it has not changed).",
  options: z.object({ experiment: z.string().describe("experiment name"), yes: z.boolean().default(false) }),
  positional: ["experiment"],
  complete: { experiment: "experiment" },
  permission: "spend",
  examples: ["/tune experiment rerun support"],
  async handler(ctx, input) {
    const app = ctx.app;
    const exp = app.experiments.get(input.experiment);
    const best = app.evals.bestTuned(exp);
    if (!best?.runId) {
      return {
        card: { title: `Nothing to re-run in ${exp.name}`, blocks: [text("No run has finished yet.")] },
        data: { skipped: "no finished run to repeat yet" },
      };
    }
    const run = app.runs.get(best.runId);
    const used = app.datasets.byId(run.datasetVersionId);
    const newest = app.datasets.get(used.name);
    if (newest.id === used.id) {
      const why = `${used.name}@v${used.version} has not changed since run ${run.id}`;
      return { card: { title: `Re-run of ${exp.name} skipped`, blocks: [text(`${why}.`)] }, data: { skipped: why } };
    }
    const out = await app.runs.start({
      dataset: `${newest.name}@v${newest.version}`,
      experiment: exp.name,
      provider: run.provider,
      model: run.baseModel,
      epochs: run.hyper.epochs,
      learningRate: run.hyper.learningRate,
      batchSize: run.hyper.batchSize,
      loraRank: run.hyper.loraRank,
      loraAlpha: run.hyper.loraAlpha,
      seed: run.hyper.seed,
      yes: input.yes,
      user: ctx.user.name,
      userId: ctx.user.id,
      channelId: ctx.surface === "cli" || ctx.surface === "schedule" ? null : ctx.channelId,
      idempotencyKey: ctx.requestId,
    });
    const card = runCardFor(app, out.run);
    card.blocks.unshift(
      text(
        `Best recipe of ${exp.name} (run ${run.id}, ${pct(best.mean)}) on the newest data, ${newest.name}@v${newest.version}.`,
      ),
    );
    const runner = addRunnerNote(ctx, card, out.run, false);
    return {
      card,
      data: {
        run: { id: out.run.id, state: out.run.state },
        from: run.id,
        dataset: `${newest.name}@v${newest.version}`,
        ...runner,
      },
      onPosted: ({ channelId, messageId }) => {
        app.runs.setMessage(out.run.id, { channelId, messageId });
      },
    };
  },
});

export const experimentReeval = defineCommand({
  path: ["experiment", "reeval"],
  summary: "Evaluate the experiment's current best model and its baselines again (e.g. after adding a baseline).",
  options: z.object({ experiment: z.string().describe("experiment name") }),
  positional: ["experiment"],
  complete: { experiment: "experiment" },
  permission: "spend",
  examples: ["/tune experiment reeval support"],
  async handler(ctx, input) {
    const app = ctx.app;
    const exp = app.experiments.get(input.experiment);
    const best = app.evals.bestTuned(exp);
    const models = [
      ...(best ? [{ model: best.model, role: "tuned" as const }] : []),
      ...exp.baselines.map((m) => ({ model: m, role: "baseline" as const })),
    ];
    if (!models.length)
      return {
        card: {
          title: `Nothing to re-evaluate in ${exp.name}`,
          blocks: [text("No tuned model and no baselines yet.")],
        },
        data: { skipped: "no model to evaluate" },
      };
    const evalSet = app.datasets.byId(exp.evalVersionId);
    // All of it must fit before the first request (each eval then reserves its own part as it starts).
    const total = models.reduce((a, m) => a + app.evals.estimateUsd(m.model, evalSet, exp.metric), 0);
    app.experiments.assertFits(exp, total, `Re-evaluating ${models.map((m) => m.model).join(", ")}`);
    const reqs = models.map((m) => ({
      modelRef: m.model,
      dataset: evalSet,
      metric: exp.metric,
      role: m.role,
      experimentId: exp.id,
      runId: m.role === "tuned" ? best?.runId : null,
    }));
    const done = [];
    if (app.evals.jobs) {
      // With a queue (Postgres): one job per model, each claimed and reserved here, answered by workers at once.
      const queued = [];
      for (const r of reqs) queued.push(await app.evals.enqueue(r, { replyChannelId: replyChannel(ctx) }));
      for (const q of queued) done.push((await awaitEval(ctx, q)).eval);
    } else for (const r of reqs) done.push(await app.evals.evaluate(r));
    return {
      card: {
        title: `Re-evaluated ${exp.name} on ${app.datasets.refOf(exp.evalVersionId)}`,
        blocks: [table(EVAL_COLUMNS, done.map(evalRow))],
      },
      data: {
        experiment: exp.name,
        evals: done.map((e) => ({ model: e.model, mean: e.mean, ci: [e.ciLow, e.ciHigh], n: e.n })),
      },
    };
  },
});

export const experimentCommands = [
  experimentNew,
  experimentShow,
  experimentList,
  experimentBudget,
  hypothesis,
  experimentRerun,
  experimentReeval,
];
