import { z } from "zod";
import { experimentChartFiles, historyChart, runChartFiles } from "../src/charts/run-charts.ts";
import { text } from "../src/core/cards.ts";
import { parseRunRef } from "../src/core/models.ts";
import { TuneError, ErrorCode } from "../src/errors.ts";
import { runVerdict } from "./run.ts";
import { defineCommand } from "./types.ts";

export const chart = defineCommand({
  path: ["chart"],
  summary:
    "PNG charts: a run's loss curve, scores and paired differences with 95% intervals, or an experiment's leaderboard and scores over its runs.",
  options: z.object({ target: z.string().describe("run:N (or N) or an experiment name") }),
  positional: ["target"],
  complete: { target: "target" },
  permission: "read",
  examples: ["/tune chart run:3", "/tune chart support"],
  async handler(ctx, input) {
    const app = ctx.app;
    const id = parseRunRef(input.target) ?? (/^\d+$/.test(input.target) ? Number(input.target) : null);
    let files: Awaited<ReturnType<typeof runChartFiles>>;
    let title: string;
    if (id !== null) {
      const run = app.runs.get(id);
      files = await runChartFiles(app, run, app.evals.ofRun(run.id), runVerdict(app, run)?.comparisons ?? []);
      title = `Charts of run ${run.id}`;
    } else {
      const exp = app.experiments.get(input.target);
      files = await experimentChartFiles(app, exp);
      const history = await historyChart(app, exp, app.experiments.scoreHistory(exp));
      if (history) files.push(history);
      title = `Charts of ${exp.name}`;
    }
    if (!files.length) {
      throw new TuneError(
        ErrorCode.ChartEmpty,
        `Nothing to chart for ${input.target} yet: a run needs training steps or evals, an experiment needs evals.`,
      );
    }
    return {
      card: { title, blocks: [text(files.map((f) => f.title ?? f.name).join("\n"))], files },
      data: { path: files[0].path, paths: files.map((f) => f.path) },
    };
  },
});

export const chartCommands = [chart];
