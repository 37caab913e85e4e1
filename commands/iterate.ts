/** Iterations: schedules, subscriptions, digests, sweeps, and the re-run / re-eval recipes they fire. */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { App } from "../src/app.ts";
import { experimentChartFiles, historyChart, spendChart } from "../src/charts/run-charts.ts";
import { heatmapPng } from "../src/charts/sweep.ts";
import { fields, fmt, table, text, type Card, type CardFile } from "../src/core/cards.ts";
import { assertFits } from "../src/core/costs/budget.ts";
import { buildDigest, digestText } from "../src/core/digest.ts";
import type { ScheduleRecord, SweepRecord } from "../src/core/ports.ts";
import { EVAL_COLUMNS, evalRow, pct } from "../src/core/runs/cards.ts";
import { nextRuns } from "../src/core/schedules/scheduler.ts";
import type { SweepSummary } from "../src/core/sweeps.ts";
import { TuneError } from "../src/errors.ts";
import { addRunnerNote, runCardFor } from "./run.ts";
import { defineCommand } from "./types.ts";

const id = z.coerce.number().int().positive();
const nums = (what: string) =>
  z
    .array(z.string())
    .default([])
    .transform((xs, ctx) =>
      xs.map((x) => {
        const n = Number(x);
        if (!Number.isFinite(n) || n <= 0)
          ctx.addIssue({ code: "custom", message: `"${x}" is not a positive ${what}` });
        return n;
      }),
    );

function scheduler(app: App) {
  if (!app.scheduler)
    throw new TuneError(
      "scheduler_unavailable",
      "Schedules need the bot running (npm start); this process has no scheduler.",
    );
  return app.scheduler;
}

function scheduleJson(s: ScheduleRecord) {
  return {
    id: s.id,
    cron: s.cron,
    tz: s.tz,
    recipe: s.recipe,
    state: s.state,
    lastRun: s.lastFireAt?.toISOString() ?? null,
    lastOutcome: s.lastOutcome,
    nextRun: s.state === "active" ? (nextRuns(s.cron, s.tz, 1)[0]?.toISOString() ?? null) : null,
    failures: s.failures,
  };
}

export const scheduleAdd = defineCommand({
  path: ["schedule", "add"],
  summary:
    "Schedule a recipe with a cron expression: rerun <experiment>, reeval <experiment>, sweep <experiment> ..., digest.",
  options: z.object({
    cron: z.string().describe('cron expression in quotes, e.g. "0 9 * * MON"'),
    recipe: z.string().describe("rerun <experiment> | reeval <experiment> | sweep <experiment> <options> | digest"),
    tz: z.string().optional().describe("time zone, e.g. Europe/Berlin (default TUNELOOP_TZ)"),
  }),
  positional: ["cron"],
  rest: "recipe",
  permission: "spend",
  examples: [
    '/tune schedule add "0 2 * * *" rerun support --tz Europe/Berlin',
    '/tune schedule add "0 9 * * MON" digest',
  ],
  async handler(ctx, input) {
    const tz = input.tz ?? ctx.app.config.schedules.defaultTz;
    const s = scheduler(ctx.app).add({
      cron: input.cron,
      tz,
      recipe: input.recipe,
      channelId: ctx.surface === "cli" ? null : ctx.channelId,
      user: ctx.user.name,
    });
    const next = nextRuns(s.cron, s.tz, 3);
    return {
      card: {
        title: `Schedule #${s.id} added`,
        tone: "success",
        blocks: [
          fields([
            ["Recipe", s.recipe],
            ["When", `${s.cron} (${s.tz})`],
            ["Next", next.map((d) => fmt.zoned(d, s.tz)).join(" · ")],
          ]),
          text(`Pause it with /tune schedule pause ${s.id}.`),
        ],
      },
      data: { id: s.id, cron: s.cron, tz: s.tz, recipe: s.recipe, nextRuns: next.map((d) => d.toISOString()) },
    };
  },
});

export const scheduleList = defineCommand({
  path: ["schedule", "list"],
  summary: "List schedules with their last and next fire.",
  options: z.object({}),
  permission: "read",
  examples: ["/tune schedule list"],
  async handler(ctx) {
    const all = ctx.app.iterations.schedules();
    const rows = all.map(scheduleJson);
    // Times in each schedule's own zone, the zone written out (a bare "02:00" is read as local time).
    const at = (iso: string | null | undefined, tz: string) => (iso ? fmt.zoned(new Date(iso), tz) : "-");
    return {
      card: all.length
        ? {
            title: `Schedules (${all.length})`,
            blocks: [
              table(
                ["id", "recipe", "cron", "state", "last", "next"],
                rows.map((r) => [
                  `#${r.id}`,
                  r.recipe,
                  `${r.cron} (${r.tz})`,
                  r.state,
                  r.lastOutcome ? `${at(r.lastRun, r.tz)} ${r.lastOutcome.split(":")[0]}` : "-",
                  at(r.nextRun, r.tz),
                ]),
              ),
            ],
          }
        : { title: "Schedules", blocks: [text('None yet. /tune schedule add "0 9 * * MON" digest')] },
      data: rows,
    };
  },
});

const scheduleVerb = (verb: "pause" | "resume" | "remove") =>
  defineCommand({
    path: ["schedule", verb],
    summary: `${verb[0].toUpperCase()}${verb.slice(1)} a schedule.`,
    options: z.object({ id: id.describe("schedule id") }),
    positional: ["id"],
    permission: "spend",
    examples: [`/tune schedule ${verb} 2`],
    async handler(ctx, input) {
      const sch = scheduler(ctx.app);
      if (verb === "remove") {
        sch.remove(input.id);
        return { card: { title: `Schedule #${input.id} removed`, blocks: [] }, data: { id: input.id, removed: true } };
      }
      const s = verb === "pause" ? sch.pause(input.id) : sch.resume(input.id);
      return {
        card: { title: `Schedule #${s.id} ${s.state}`, blocks: [text(`${s.recipe} (${s.cron}, ${s.tz})`)] },
        data: scheduleJson(s),
      };
    },
  });

export const subscribe = defineCommand({
  path: ["subscribe"],
  summary: "Subscribe this channel to an experiment's (or all) runs, evals, costs and digests.",
  options: z.object({
    experiment: z.string().describe("experiment name, or all"),
    kinds: z.string().default("runs evals costs digest").describe("any of: runs evals costs digest"),
  }),
  positional: ["experiment"],
  rest: "kinds",
  complete: { experiment: "experiment" },
  permission: "write",
  examples: ["/tune subscribe support digest", "/tune subscribe all runs evals"],
  async handler(ctx, input) {
    const kinds = input.kinds.split(/[\s,]+/).filter(Boolean);
    const bad = kinds.filter((k) => !["runs", "evals", "costs", "digest"].includes(k));
    if (bad.length)
      throw new TuneError(
        "invalid_options",
        `Unknown subscription ${fmt.noun(bad.length, "kind")}: ${bad.join(", ")}. Use runs, evals, costs or digest.`,
      );
    const exp = input.experiment === "all" ? null : ctx.app.experiments.get(input.experiment);
    const s = ctx.app.iterations.subscribe({
      channelId: ctx.channelId,
      experimentId: exp?.id ?? null,
      kinds,
      createdBy: ctx.user.name,
      createdAt: ctx.app.clock.now(),
    });
    return {
      card: {
        title: "Subscribed",
        tone: "success",
        blocks: [text(`This channel gets ${s.kinds.join(", ")} of ${exp ? exp.name : "every experiment"}.`)],
      },
      data: { channelId: s.channelId, experiment: exp?.name ?? "all", kinds: s.kinds },
    };
  },
});

export const digestNow = defineCommand({
  path: ["digest", "now"],
  summary:
    "Post a digest now: runs, each experiment's best against base and baselines, hypotheses, spend, what is next.",
  options: z.object({
    experiment: z.string().optional().describe("only this experiment"),
    days: z.coerce.number().int().min(1).max(365).default(7).describe("the period, in days"),
  }),
  complete: { experiment: "experiment" },
  permission: "read",
  examples: ["/tune digest now", "/tune digest now --experiment support --days 30"],
  async handler(ctx, input) {
    const app = ctx.app;
    const until = app.clock.now();
    const since = new Date(until.getTime() - input.days * 86_400_000);
    const exp = input.experiment ? app.experiments.get(input.experiment) : undefined;
    const d = buildDigest(
      { engine: app.engine, iterations: app.iterations, datasets: app.datasets },
      { since, until, experiment: exp },
    );
    const charts: CardFile[] = [];
    for (const e of d.experiments) {
      charts.push(...(await experimentChartFiles(app, e)));
      const history = await historyChart(app, e, d.data.experiments.find((x) => x.name === e.name)?.history ?? []);
      if (history) charts.push(history);
    }
    const spend = await spendChart(app, since, until, exp?.id);
    if (spend) charts.push(spend);
    d.card.files = charts;
    return { card: d.card, data: { text: digestText(d.card), charts: charts.map((c) => c.path), ...d.data } };
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
      channelId: ctx.surface === "cli" ? null : ctx.channelId,
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
    assertFits(app.engine, app.clock, exp, total, `Re-evaluating ${models.map((m) => m.model).join(", ")}`);
    const done = [];
    for (const m of models) {
      done.push(
        await app.evals.evaluate({
          modelRef: m.model,
          dataset: evalSet,
          metric: exp.metric,
          role: m.role,
          experimentId: exp.id,
          runId: m.role === "tuned" ? best?.runId : null,
        }),
      );
    }
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

function sweepCard(app: App, s: SweepRecord, totalUsd: number): Card {
  const exp = app.experiments.byId(s.experimentId);
  const rows = s.cells.map((c, i) => [
    String(i + 1),
    c.dataset,
    String(c.epochs),
    String(c.learningRate),
    String(c.loraRank),
    fmt.usd(c.estimateUsd),
    `${c.status}${c.runId ? ` (run ${c.runId})` : ""}${c.note ? `: ${c.note}` : ""}`,
  ]);
  const card: Card = {
    title: `Sweep ${s.id} of ${exp?.name} · ${s.state.replace("_", " ")}`,
    tone: s.state === "awaiting_confirmation" ? "warning" : "info",
    blocks: [
      fields([
        ["Grid", `${fmt.count(s.cells.length, "cell")}, cheapest first, ${s.concurrency} at a time`],
        [
          "Estimate",
          `${fmt.usd(totalUsd)} in all${s.budgetUsd !== null ? ` · budget ${fmt.usd(s.budgetUsd)}: no cell starts once it would be exceeded` : ""}`,
        ],
      ]),
      table(["#", "dataset", "epochs", "lr", "rank", "est.", "status"], rows),
    ],
  };
  if (s.state === "awaiting_confirmation") {
    card.blocks.push(text(`Start it with /tune sweep confirm ${s.id} (or /tune sweep cancel ${s.id}).`));
    card.actions = [
      { id: "confirm", label: "Start sweep", command: `sweep confirm ${s.id}`, style: "primary" },
      { id: "cancel", label: "Cancel", command: `sweep cancel ${s.id}`, style: "danger" },
    ];
  } else if (s.state === "running") {
    card.actions = [{ id: "cancel", label: "Cancel sweep", command: `sweep cancel ${s.id}`, style: "danger" }];
  }
  return card;
}

export async function sweepSummaryCard(app: App, s: SweepRecord, summary: SweepSummary): Promise<Card> {
  const exp = app.experiments.byId(s.experimentId);
  const rows = summary.cells.map((c) => [
    c.dataset,
    String(c.epochs),
    String(c.learningRate),
    String(c.loraRank),
    c.mean === null ? "-" : `${pct(c.mean)} [${pct(c.ci[0])}, ${pct(c.ci[1])}]`,
    fmt.usd(c.costUsd),
    `${c.status}${c.runId ? ` (run ${c.runId})` : ""}${c.note ? `: ${c.note}` : ""}`,
  ]);
  const blocks = [
    table(["dataset", "epochs", "lr", "rank", `${exp?.metric ?? "score"} [95% CI]`, "cost", "status"], rows),
  ];
  if (summary.best)
    blocks.push(
      text(
        `Best cell: ${summary.best.dataset}, ${fmt.count(summary.best.epochs, "epoch")}, lr ${summary.best.learningRate}, rank ${summary.best.loraRank} (run ${summary.best.runId}): ${pct(summary.best.mean)}.`,
      ),
    );
  if (summary.comparison) blocks.push(text(`Against the experiment's best before: ${summary.comparison.verdict}`));
  blocks.push(text(`Spent ${fmt.usd(summary.spentUsd)}${s.budgetUsd !== null ? ` of ${fmt.usd(s.budgetUsd)}` : ""}.`));
  const files: CardFile[] = [];
  try {
    const png = await heatmapPng(
      `Sweep ${s.id} · ${exp?.name} · ${exp?.metric}`,
      exp?.metric ?? "score",
      summary.cells.map((c) => ({
        row: `${c.dataset} · ${c.epochs} ep`,
        col: `${c.learningRate} · r${c.loraRank}`,
        score: c.mean,
      })),
      "each square: one run's score on the experiment's eval set",
    );
    const dir = path.join(app.config.dataDir, "charts");
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `sweep-${s.id}-heatmap.png`);
    fs.writeFileSync(file, png);
    files.push({
      name: path.basename(file),
      content: png,
      mime: "image/png",
      title: `Sweep ${s.id} heat map`,
      path: file,
    });
  } catch (err) {
    app.log.warn({ err }, "sweep heat map failed");
  }
  return {
    title: `Sweep ${s.id} ${s.state === "cancelled" ? "cancelled" : "finished"}`,
    tone: "success",
    blocks,
    files,
  };
}

export const sweep = defineCommand({
  path: ["sweep"],
  summary:
    "A small grid of runs within a budget, cheapest first; shows the grid and its cost, then waits for confirmation.",
  options: z.object({
    experiment: z.string().describe("experiment name"),
    dataset: z.array(z.string()).default([]).describe("training datasets (versions), comma-separated"),
    epochs: nums("number of epochs").describe("epochs, comma-separated"),
    lr: nums("learning rate").describe("learning rates, comma-separated"),
    loraRank: nums("LoRA rank").describe("LoRA ranks, comma-separated"),
    maxRuns: z.coerce.number().int().min(1).max(100).optional().describe("at most this many cells"),
    budget: z.coerce.number().min(0).optional().describe("budget of the sweep in USD"),
    yes: z.boolean().default(false).describe("start without asking"),
  }),
  positional: ["experiment"],
  complete: { experiment: "experiment", dataset: "dataset" },
  permission: "spend",
  examples: [
    "/tune sweep support --dataset support-train@v1,support-train@v2 --epochs 1,2,3 --lr 1e-3,3e-3 --lora-rank 4,8 --budget 10",
  ],
  async handler(ctx, input) {
    const app = ctx.app;
    if (!input.dataset.length)
      throw new TuneError(
        "invalid_options",
        "--dataset: give at least one training dataset (name or name@vN, comma-separated).",
      );
    const out = await app.sweeps.create({
      experiment: input.experiment,
      datasets: input.dataset,
      epochs: input.epochs.length ? input.epochs.map(Math.round) : [3],
      learningRates: input.lr.length ? input.lr : [3e-3],
      loraRanks: input.loraRank.length ? input.loraRank.map(Math.round) : [8],
      maxRuns: input.maxRuns,
      budgetUsd: input.budget,
      yes: input.yes,
      user: ctx.user.name,
      userId: ctx.user.id,
      channelId: ctx.surface === "cli" ? null : ctx.channelId,
    });
    const card = sweepCard(app, out.sweep, out.totalUsd);
    if (out.dropped) card.blocks.push(text(`${fmt.count(out.dropped, "more expensive cell")} left out by --max-runs.`));
    return {
      card,
      data: { id: out.sweep.id, state: out.sweep.state, totalUsd: out.totalUsd, cells: out.sweep.cells },
      onPosted: ({ messageId }) => {
        app.iterations.updateSweep(out.sweep.id, { messageId });
      },
    };
  },
});

export const sweepConfirm = defineCommand({
  path: ["sweep", "confirm"],
  summary: "Start a sweep that waits for confirmation.",
  options: z.object({ id: id.describe("sweep id") }),
  positional: ["id"],
  permission: "spend",
  examples: ["/tune sweep confirm 2"],
  async handler(ctx, input) {
    const s = await ctx.app.sweeps.confirm(input.id);
    return {
      card: sweepCard(
        ctx.app,
        s,
        s.cells.reduce((a, c) => a + c.estimateUsd, 0),
      ),
      data: { id: s.id, state: s.state, cells: s.cells },
    };
  },
});

export const sweepStatus = defineCommand({
  path: ["sweep", "status"],
  summary: "Show a sweep's cells, and its summary when finished.",
  options: z.object({ id: id.describe("sweep id") }),
  positional: ["id"],
  permission: "read",
  examples: ["/tune sweep status 2"],
  async handler(ctx, input) {
    const s = ctx.app.sweeps.get(input.id);
    const card = sweepCard(
      ctx.app,
      s,
      s.cells.reduce((a, c) => a + c.estimateUsd, 0),
    );
    const summary = ctx.app.sweeps.summary(s);
    if (s.state === "done" || s.state === "cancelled") card.thread = [await sweepSummaryCard(ctx.app, s, summary)];
    return {
      card,
      data: { id: s.id, state: s.state, cells: summary.cells, best: summary.best, spentUsd: summary.spentUsd },
    };
  },
});

export const sweepCancel = defineCommand({
  path: ["sweep", "cancel"],
  summary: "Cancel a sweep: no new cell starts, running cells are cancelled.",
  options: z.object({ id: id.describe("sweep id") }),
  positional: ["id"],
  permission: "spend",
  examples: ["/tune sweep cancel 2"],
  async handler(ctx, input) {
    const s = ctx.app.sweeps.cancel(input.id, ctx.user.name);
    return { card: sweepCard(ctx.app, s, 0), data: { id: s.id, state: s.state } };
  },
});

export const iterateCommands = [
  scheduleAdd,
  scheduleList,
  scheduleVerb("pause"),
  scheduleVerb("resume"),
  scheduleVerb("remove"),
  subscribe,
  digestNow,
  experimentRerun,
  experimentReeval,
  sweep,
  sweepConfirm,
  sweepStatus,
  sweepCancel,
];
