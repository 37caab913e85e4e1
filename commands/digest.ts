import { z } from "zod";
import { experimentChartFiles, historyChart, spendChart } from "../src/charts/run-charts.ts";
import { fmt, text, type CardFile } from "../src/core/cards.ts";
import { digestText } from "../src/core/digest.ts";
import { TuneError, ErrorCode } from "../src/errors.ts";
import { defineCommand } from "./types.ts";

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
        ErrorCode.InvalidOptions,
        `Unknown subscription ${fmt.noun(bad.length, "kind")}: ${bad.join(", ")}. Use runs, evals, costs or digest.`,
      );
    const exp = input.experiment === "all" ? null : ctx.app.experiments.get(input.experiment);
    const s = ctx.app.digests.subscribe({
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
    const d = app.digests.build({ since, until, experiment: exp });
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

export const digestCommands = [subscribe, digestNow];
