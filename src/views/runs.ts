/**
 * The views of a run, for every surface: its card (kept current in chat), its verdict card (answers, charts), and
 * its stable JSON (`--json`, documented in docs/cli.md). Commands, the run notifier and the chat kernel render runs
 * from here; nothing here writes.
 */
import fs from "node:fs";
import path from "node:path";
import type { App } from "../app.ts";
import { runChartFiles } from "../charts/run-charts.ts";
import type { Card, CardFile } from "../core/cards.ts";
import { answerRows, answersFile, verdictExampleBlocks } from "../core/evals/answers.ts";
import type { Comparison } from "../core/evals/service.ts";
import { latestEvalOf } from "../core/experiments/evals.ts";
import type { EvalRecord, RunRecord } from "../core/ports.ts";
import { runCard, verdictCard } from "../core/runs/cards.ts";
import type { RunVerdict } from "../core/runs/events.ts";
import type { PackVerdict } from "../core/packs/types.ts";
import type { ClusterMeasure } from "../core/iterate/types.ts";
import { clustersCard } from "../core/iterate/cards.ts";
import { withMigrationVerdict } from "./migrate.ts";

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
    flags: e.summary?.flags ?? null,
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
    ciMethod: c.ciMethod,
    pValue: c.pValue,
    test: c.test,
    discordant: c.discordant,
    mde: Number.isFinite(c.mde) ? c.mde : null,
    mdeBasis: c.mdeBasis,
    correlation: c.correlation,
    clusteredSe: c.clusteredSe,
    alpha: c.alpha,
    significant: c.significant,
    regressions: c.regressions,
    verdict: c.verdict,
  };
}

/** Keeps a card's file in `<data>/evals/` (so it can be found again) and returns it with its path. */
export function keepEvalFile(app: App, f: CardFile): CardFile {
  const dir = path.join(app.config.dataDir, "evals");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, f.name);
  fs.writeFileSync(file, f.content);
  return { ...f, path: file };
}

export function runCardFor(app: App, r: RunRecord): Card {
  const exp = app.experiments.byId(r.experimentId);
  return runCard(r, {
    experiment: exp?.name ?? "?",
    dataset: `${app.datasets.refOf(r.datasetVersionId)}`,
    cost: app.costs.ofRun(r.id),
  });
}

/**
 * The verdict card of a run: a few of the tuned model's wrong answers (those right before tuning first), every row
 * as a JSONL file, and its charts (loss curve, scores with intervals, the paired differences with their intervals)
 * as PNG files.
 */
export async function runVerdictCard(app: App, r: RunRecord, v: RunVerdict): Promise<Card> {
  const card = verdictCard(r, v, app.costs.ofRun(r.id));
  const tuned = v.evals[0];
  if (tuned) {
    const base = v.evals.find((e) => e.role === "base") ?? null;
    const rows = await answerRows({ repo: app.engine, datasets: app.datasets }, { eval: tuned, base });
    card.blocks.push(...verdictExampleBlocks(tuned.model, rows, r.id));
    card.files = [...(card.files ?? []), keepEvalFile(app, answersFile(tuned, rows))];
  }
  try {
    // the failures, grouped, with buttons that propose new rows for a cluster (docs/packs.md)
    const c = await app.iterate.clusters(r.id);
    if (c.clusters.length)
      card.thread = [...(card.thread ?? []), clustersCard(r.id, c.clusters, c.failures, c.rows, app.config.teacher)];
  } catch (err) {
    app.log.warn({ err, runId: r.id }, "clusters failed");
  }
  try {
    card.files = [
      ...(card.files ?? []),
      ...(await runChartFiles(app, r, v.evals, v.comparisons, v.packs?.comparisons)),
    ];
  } catch (err) {
    app.log.warn({ err, runId: r.id }, "charts failed"); // a chart is never worth losing the verdict for
  }
  return withMigrationVerdict(app, r, card);
}

/** The verdict of a finished run, rebuilt from the database (evals, comparisons, decided hypotheses). */
export function runVerdict(app: App, r: RunRecord): RunVerdict | null {
  const exp = app.experiments.byId(r.experimentId);
  if (!exp || r.state !== "succeeded") return null;
  const evals = app.engine.evals({ runId: r.id, state: "succeeded" });
  const tuned = evals.find((e) => e.role === "tuned");
  if (!tuned) return null;
  const others = [`${r.provider}:${r.baseModel}`, ...exp.baselines]
    .map((m) => latestEvalOf(app.engine, exp, m))
    .filter((x) => x !== null);
  return {
    evals: [tuned, ...others],
    comparisons: others.map((o) => app.evals.compareEvals(o, tuned, exp.alpha)),
    hypotheses: app.experiments
      .hypotheses(exp.id)
      .filter((h) => h.runId === r.id && h.verdict)
      .map((h) => ({ id: h.id, text: h.text, verdict: h.verdict! })),
    ...packsOf(app, r),
  };
}

/** The run's pack verdict, as the worker stored it (the last one, after a restart). */
function packsOf(app: App, r: RunRecord): { packs?: PackVerdict; clusters?: ClusterMeasure[] } {
  const p = app.engine.runEvents(r.id, "packs").at(-1)?.data as PackVerdict | undefined;
  const c = app.engine.runEvents(r.id, "clusters").at(-1)?.data as ClusterMeasure[] | undefined;
  return { ...(p ? { packs: p } : {}), ...(c ? { clusters: c } : {}) };
}

/** The cost part of the stable JSON (`--json`, docs/cli.md). */
export function costJson(cost: {
  trainingUsd: number;
  evalUsd: number;
  judgeUsd: number;
  totalUsd: number;
  wallSeconds: number;
}) {
  return {
    trainingUsd: cost.trainingUsd,
    evalUsd: cost.evalUsd,
    judgeUsd: cost.judgeUsd,
    totalUsd: cost.totalUsd,
    wallSeconds: cost.wallSeconds,
  };
}

export function runJson(app: App, r: RunRecord) {
  const v = runVerdict(app, r);
  const cost = app.costs.ofRun(r.id);
  const main: Comparison | undefined = v?.comparisons[0];
  return {
    run: {
      id: r.id,
      state: r.state,
      stateReason: r.stateReason,
      provider: r.provider,
      baseModel: r.baseModel,
      tunedModel: r.tunedModel,
      jobId: r.jobId,
      dataset: app.datasets.refOf(r.datasetVersionId),
      validation: r.validVersionId !== null ? app.datasets.refOf(r.validVersionId) : null,
      experiment: app.experiments.byId(r.experimentId)?.name ?? null,
      hyper: r.hyper,
      estimate: r.estimate,
      progress: r.progress,
      result: r.result,
      attempts: r.attempts,
      createdAt: r.createdAt.toISOString(),
      finishedAt: r.finishedAt?.toISOString() ?? null,
    },
    evals: (v?.evals ?? []).map(evalJson),
    comparison: main ? comparisonJson(main) : null,
    comparisons: (v?.comparisons ?? []).map(comparisonJson),
    hypotheses: v?.hypotheses ?? [],
    cost: costJson(cost),
  };
}
