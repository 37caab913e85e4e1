import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { App } from "../src/app.ts";
import { fields, fmt, text, type Card } from "../src/core/cards.ts";
import { formatRef } from "../src/core/datasets/names.ts";
import type { ExperimentRecord } from "../src/core/ports.ts";
import { compareCard, pct } from "../src/core/runs/cards.ts";
import { isFinal, STATE_LABEL } from "../src/core/runs/states.ts";
import { comparisonJson } from "./eval.ts";
import { shareOption } from "./parse.ts";
import { runCardFor, runVerdict, runVerdictCard, waitForRun } from "./run.ts";
import { defineCommand } from "./types.ts";

/**
 * The whole loop on the embedded local trainer, as a person would run it command by command: generate a small
 * short-answer task, upload it, split it (no prompt shared between train and eval), create an experiment, run a
 * LoRA fine-tune, evaluate base and tuned on the held-out rows, compare.
 */
export const demo = defineCommand({
  path: ["demo"],
  summary:
    "Run the whole loop on the local trainer: a generated task, upload, split, experiment, fine-tune, evals, comparison.",
  options: z.object({
    seed: z.coerce.number().int().min(0).default(1).describe("seed of the generated task and the run"),
    rows: z.coerce.number().int().min(50).max(5000).default(600).describe("rows to generate (train + eval)"),
    eval: shareOption("25%").describe("share of rows held out for eval: 25% or 25 (percent), or 0.25 (a fraction)"),
  }),
  permission: "spend",
  examples: ["/tune demo", "npx tuneloop demo --json"],
  async handler(ctx, input) {
    const app = ctx.app;
    const evalRows = Math.round(input.rows * input.eval);
    const { makeDemoTask } = await import("../src/core/demo/task.ts");
    const task = makeDemoTask({ seed: input.seed, trainRows: input.rows - evalRows, evalRows });
    const dir = path.join(app.config.dataDir, "demo");
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `demo-task-seed${input.seed}.jsonl`);
    fs.writeFileSync(file, `${[...task.train, ...task.eval].map((r) => JSON.stringify(r)).join("\n")}\n`);

    ctx.progress(`1/6 upload ${path.basename(file)} (${fmt.count(input.rows, "row")})`);
    const up = await app.datasets.upload({
      filePath: file,
      filename: path.basename(file),
      name: "demo",
      user: ctx.user.name,
    });
    if (!up.dataset) throw new Error(`demo dataset refused: ${JSON.stringify(up.report.issueCounts)}`);
    const source = formatRef(up.dataset.name, up.dataset.version);

    ctx.progress(`2/6 split ${source} (eval ${Math.round(input.eval * 100)}%, seed ${input.seed})`);
    const split = await app.datasets.split(source, { evalShare: input.eval, seed: input.seed, user: ctx.user.name });
    const trainRef = formatRef(split.train.name, split.train.version);
    const evalRef = formatRef(split.eval.name, split.eval.version);

    // A demo started again (after a kill, or to see it once more) finds the same upload and split (identical
    // content), so it reuses the experiment made on that eval set and that experiment's run of this recipe: a run
    // cut off resumes, a finished one is shown. Only another task (seed, rows) gets a new experiment (demo-2...).
    let exp = demoExperiment(app, split.eval.id);
    let name = exp?.name ?? "demo";
    if (exp) ctx.progress(`3/6 reusing experiment ${name}: eval set ${evalRef}, metric exact`);
    else {
      for (let i = 2; app.experiments.find(name); i++) name = `demo-${i}`;
      ctx.progress(`3/6 experiment ${name}: eval set ${evalRef}, metric exact`);
      exp = app.experiments.create({
        name,
        evalDataset: evalRef,
        metric: "exact",
        baselines: [],
        user: ctx.user.name,
        channelId: ctx.channelId,
      });
      app.experiments.addHypothesis({
        experiment: name,
        text: "a LoRA fine-tune learns the task from a few hundred rows",
        expectPts: 50,
        user: ctx.user.name,
      });
    }

    const prior = app.runs
      .list({ experimentId: exp.id, limit: 100_000 })
      .find(
        (r) =>
          r.datasetVersionId === split.train.id &&
          r.provider === "local" &&
          r.hyper.seed === input.seed &&
          r.state !== "failed" &&
          r.state !== "cancelled",
      );
    let runId: number;
    if (prior) {
      runId = prior.id;
      ctx.progress(
        `4/6 ${isFinal(prior.state) ? "showing" : "resuming"} run ${prior.id} (${STATE_LABEL[prior.state]}) of local:stories260K on ${trainRef}`,
      );
    } else {
      ctx.progress(`4/6 run: LoRA fine-tune of local:stories260K on ${trainRef}`);
      const started = await app.runs.start({
        dataset: trainRef,
        experiment: name,
        seed: input.seed,
        yes: true,
        user: ctx.user.name,
        channelId: ctx.surface === "cli" ? null : ctx.channelId,
      });
      runId = started.run.id;
    }
    ctx.progress("5/6 training, then evals of the base and the tuned model on the held-out rows");
    const run = await waitForRun(ctx, runId);
    if (run.state !== "succeeded") {
      return {
        card: runCardFor(app, run),
        data: { experiment: name, runId: run.id, state: run.state, error: run.stateReason },
        failed: true,
      };
    }
    ctx.progress("6/6 compare");
    const c = app.evals.compare(`local:stories260K`, `run:${run.id}`, { experiment: exp });
    const cost = app.costs.ofRun(run.id);
    const v = runVerdict(app, run);
    const card: Card = {
      title: `Demo: ${name} · base ${pct(c.a.mean)} -> tuned ${pct(c.b.mean)} on ${fmt.count(c.n, "held-out row")}`,
      tone: c.significant && c.diff > 0 ? "success" : "warning",
      blocks: [
        fields([
          [
            "Dataset",
            `${source} -> train ${trainRef} (${fmt.count(split.train.rows, "row")}), eval ${evalRef} (${fmt.count(split.eval.rows, "row")}, no shared prompt)`,
          ],
          ["Experiment", `${name} (metric exact)`],
          [
            "Run",
            `#${run.id}: ${fmt.count(run.hyper.epochs, "epoch")}, lr ${run.hyper.learningRate}, batch ${run.hyper.batchSize}, LoRA r ${run.hyper.loraRank}`,
          ],
          ["Cost", `${fmt.usd(cost.totalUsd)} · ${fmt.seconds(cost.wallSeconds)} of compute (training and evals)`],
        ]),
        ...compareCard(c).blocks,
        text(
          `Try it yourself: /tune run status ${run.id}, /tune leaderboard ${name}, /tune compare local:stories260K run:${run.id}`,
        ),
      ],
      thread: v ? [await runVerdictCard(app, run, v)] : undefined,
    };
    return {
      card,
      data: {
        experiment: name,
        runId: run.id,
        dataset: { source, train: trainRef, eval: evalRef },
        base: { accuracy: c.a.mean, n: c.n },
        tuned: { accuracy: c.b.mean, n: c.n },
        chance: v?.evals[0]?.summary?.chance ?? null,
        comparison: comparisonJson(c),
        cost: {
          trainingUsd: cost.trainingUsd,
          evalUsd: cost.evalUsd,
          judgeUsd: cost.judgeUsd,
          totalUsd: cost.totalUsd,
          wallSeconds: cost.wallSeconds,
        },
      },
    };
  },
});

/** The demo experiment (demo, demo-2, ...) made on this eval set version, if an earlier demo made one. */
function demoExperiment(app: App, evalVersionId: number): ExperimentRecord | null {
  return (
    app.experiments
      .list()
      .find((e) => /^demo(-\d+)?$/.test(e.name) && e.evalVersionId === evalVersionId && e.metric === "exact") ?? null
  );
}

export const demoCommands = [demo];
