/** Sweeps: a grid of runs over datasets and hyperparameters, estimated first, cheapest cells first. */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { App } from "../src/app.ts";
import { heatmapPng } from "../src/charts/sweep.ts";
import { fields, fmt, table, text, type Card, type CardFile } from "../src/core/cards.ts";
import type { SweepRecord } from "../src/core/ports.ts";
import { pct } from "../src/core/runs/cards.ts";
import type { SweepSummary } from "../src/core/sweeps.ts";
import { TuneError, ErrorCode } from "../src/errors.ts";
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
        ErrorCode.InvalidOptions,
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
      channelId: ctx.surface === "cli" || ctx.surface === "schedule" ? null : ctx.channelId,
    });
    const card = sweepCard(app, out.sweep, out.totalUsd);
    if (out.dropped) card.blocks.push(text(`${fmt.count(out.dropped, "more expensive cell")} left out by --max-runs.`));
    return {
      card,
      data: { id: out.sweep.id, state: out.sweep.state, totalUsd: out.totalUsd, cells: out.sweep.cells },
      onPosted: ({ messageId }) => {
        app.sweeps.setMessage(out.sweep.id, messageId);
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

export const sweepCommands = [sweep, sweepConfirm, sweepStatus, sweepCancel];
