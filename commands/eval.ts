import { z } from "zod";
import { graderExamples } from "../src/core/evals/graders.ts";
import { type Block, text } from "../src/core/cards.ts";
import { answerBlock, answerJson, answersFile, DEFAULT_SHOWN_ROWS, regressed } from "../src/core/evals/answers.ts";
import type { EvalRequest } from "../src/core/evals/service.ts";
import type { EvalRecord } from "../src/core/ports.ts";
import { compareCard, leaderboardCard, pct } from "../src/core/runs/cards.ts";
import { experimentChartFiles } from "../src/charts/run-charts.ts";
import { parseRunRef } from "../src/core/models.ts";
import { TuneError, ErrorCode } from "../src/errors.ts";
import { evalCard } from "../src/views/evals.ts";
import { comparisonJson, evalJson, keepEvalFile } from "../src/views/runs.ts";
import { type CommandContext, defineCommand } from "./types.ts";

export { comparisonJson, evalJson, keepEvalFile };

export const evalCommand = defineCommand({
  path: ["eval"],
  summary: "Evaluate a model (local:stories260K, run:N, endpoint:model) on a dataset's chat rows.",
  options: z.object({
    model: z.string().describe("model: provider:model, run:N or endpoint:model"),
    dataset: z.string().describe("eval dataset, name[@vN]"),
    graders: z.string().default("exact").describe(`metric/grader: ${graderExamples()}`),
    experiment: z.string().optional().describe("book the eval (and its cost) to this experiment"),
    maxTokens: z.coerce.number().int().min(1).max(8192).optional().describe("longest answer to generate"),
  }),
  positional: ["model", "dataset"],
  complete: { model: "model", dataset: "dataset", experiment: "experiment" },
  permission: "spend",
  examples: ["/tune eval local:stories260K demo-eval", "/tune eval run:3 support-eval --graders normalized"],
  async handler(ctx, input) {
    const dataset = ctx.app.datasets.get(input.dataset);
    const exp = input.experiment ? ctx.app.experiments.get(input.experiment) : null;
    let lastPct = -1;
    const onProgress = (d: number, t: number) => {
      const p = Math.floor((d / t) * 4) * 25;
      if (p > lastPct) {
        lastPct = p;
        ctx.progress(`eval ${input.model}: ${d}/${t} rows`);
      }
    };
    const req = {
      modelRef: input.model,
      dataset,
      metric: input.graders,
      role: "adhoc" as const,
      experimentId: exp?.id ?? null,
      maxTokens: input.maxTokens,
    };
    const { eval: e, posted } = await evaluateOrQueue(ctx, req, onProgress);
    const ref = ctx.app.datasets.refOf(dataset.id);
    const card = evalCard(ctx.app, e);
    if (posted) {
      card.blocks.unshift(
        text(`Eval #${e.id} ended while this replica was away; this card was also posted in the channel.`),
      );
      card.ephemeral = true;
    }
    return { card, data: { ...evalJson(e), dataset: ref } };
  },
});

/**
 * Runs a stand-alone eval the way this process does: with a queue (Postgres), as a job that a worker serving the
 * model answers, this command waiting for it (its progress and card come back here); else here, as before.
 */
export async function evaluateOrQueue(
  ctx: CommandContext,
  req: EvalRequest,
  onProgress?: (done: number, total: number) => void,
): Promise<{ eval: EvalRecord; posted: boolean }> {
  const evals = ctx.app.evals;
  if (!evals.jobs) return { eval: await evals.evaluate({ ...req, onProgress }), posted: false };
  const queued = await evals.enqueue(req, { replyChannelId: replyChannel(ctx) });
  return awaitEval(ctx, queued, onProgress);
}

/** Where a queued eval's card goes if this replica is gone when it ends: the chat channel it was typed in. */
export function replyChannel(ctx: CommandContext): string | null {
  return ctx.surface === "slack" || ctx.surface === "discord" || ctx.surface === "console" ? ctx.channelId : null;
}

/** Waits for a queued eval; a failed one is its coded error, as when answered here. */
export async function awaitEval(
  ctx: CommandContext,
  queued: EvalRecord,
  onProgress?: (done: number, total: number) => void,
): Promise<{ eval: EvalRecord; posted: boolean }> {
  const evals = ctx.app.evals;
  if (queued.state === "running")
    ctx.progress(`eval #${queued.id} of ${queued.model} queued: a worker that serves it answers it`);
  const out =
    queued.state === "running" ? await evals.awaitQueued(queued.id, { onProgress }) : { eval: queued, posted: false };
  if (out.eval.state === "failed") throw evals.failure(out.eval);
  return out;
}

export const compareCommand = defineCommand({
  path: ["compare"],
  summary: "Paired comparison of two models on the same eval rows: difference, interval, test, rows that regressed.",
  options: z.object({
    a: z.string().describe("the reference model (e.g. local:stories260K, or best: the experiment's best)"),
    b: z.string().describe("the candidate (e.g. run:3)"),
    experiment: z.string().optional().describe("use this experiment's eval set, metric and alpha"),
  }),
  positional: ["a", "b"],
  complete: { a: "model", b: "model", experiment: "experiment" },
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
        const run = runId !== null ? ctx.app.runs.find(runId) : null;
        exp = run ? (ctx.app.experiments.byId(run.experimentId) ?? undefined) : undefined;
      }
      if (!exp)
        throw new TuneError(
          ErrorCode.InvalidOptions,
          "best needs an experiment: add --experiment <name>, or compare against a run (run:N).",
        );
      const otherRef = ctx.app.evals.modelRef(other);
      const best = ctx.app.evals
        .ofExperiment(exp)
        .filter((e) => e.model !== otherRef)
        .sort((x, y) => (y.mean ?? -1) - (x.mean ?? -1) || y.id - x.id)[0];
      if (!best)
        throw new TuneError(
          ErrorCode.EvalNotFound,
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
  complete: { experiment: "experiment" },
  permission: "read",
  examples: ["/tune leaderboard support"],
  async handler(ctx, input) {
    const exp = ctx.app.experiments.get(input.experiment);
    const evals = ctx.app.evals.leaderboard(exp);
    const spend = ctx.app.costs.ofExperiment(exp.id);
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

export const evalShow = defineCommand({
  path: ["eval", "show"],
  summary: "Show what a model answered: prompt, expected, answer and the grader's reason per row, all rows as JSONL.",
  options: z.object({
    eval: z.string().describe("eval id (see /tune leaderboard --json) or run:N for that run's tuned model"),
    failed: z.boolean().default(false).describe("only the rows it got wrong"),
    regressed: z.boolean().default(false).describe("only the rows the base model got right and it got wrong"),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(50)
      .default(DEFAULT_SHOWN_ROWS)
      .describe("rows to show (every row is in the attached file)"),
  }),
  positional: ["eval"],
  complete: { eval: "model" },
  permission: "read",
  examples: ["/tune eval show run:3 --failed", "/tune eval show run:3 --regressed", "/tune eval show 12 --limit 20"],
  async handler(ctx, input) {
    const app = ctx.app;
    const resolved = app.evals.resolve(input.eval);
    const ev = resolved.eval;
    if (input.regressed && !resolved.base)
      throw new TuneError(
        ErrorCode.InvalidOptions,
        ev.role === "tuned"
          ? `Eval ${ev.id} has no eval of its base model on the same rows to compare with.`
          : `--regressed compares a tuned model with its base model: give run:N (eval ${ev.id} is of ${ev.model}, a ${ev.role} model).`,
      );
    const rows = await app.evals.answers(resolved);
    const picked = rows.filter((r) => (!input.failed || !r.pass) && (!input.regressed || regressed(r)));
    const shown = picked.slice(0, input.limit);
    const passed = rows.filter((r) => r.pass).length;
    const which = input.regressed
      ? `rows the base model (${resolved.base?.model}) got right and ${ev.model} got wrong`
      : input.failed
        ? "rows it got wrong"
        : "rows";
    const blocks: Block[] = [
      text(
        `${ev.model} on ${app.datasets.refOf(ev.datasetVersionId)} (${ev.metric}): ${passed} of ${rows.length} right (${pct(rows.length ? passed / rows.length : 0)}).`,
      ),
      text(
        picked.length
          ? `Showing ${shown.length} of ${picked.length} ${which}${picked.length > shown.length ? ` (--limit ${Math.min(50, picked.length)} shows more)` : ""}. Long texts are cut here; every row is whole in the attached file.`
          : `No ${which}.`,
      ),
      ...shown.map(answerBlock),
    ];
    return {
      card: {
        title: `Eval ${ev.id} · ${ev.model}${input.regressed ? " · regressed" : input.failed ? " · wrong answers" : ""}`,
        blocks,
        files: [keepEvalFile(app, answersFile(ev, rows))],
      },
      data: {
        eval: evalJson(ev),
        dataset: app.datasets.refOf(ev.datasetVersionId),
        base: resolved.base ? { id: resolved.base.id, model: resolved.base.model } : null,
        total: rows.length,
        passed,
        matching: picked.length,
        rows: shown.map(answerJson),
      },
    };
  },
});

export const evalCommands = [evalCommand, evalShow, compareCommand, leaderboardCommand];
