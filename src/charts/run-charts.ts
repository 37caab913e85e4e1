/** The PNG charts of a run and of an experiment, as card files (chat adapters upload them; the console saves them). */
import fs from "node:fs";
import path from "node:path";
import type { App } from "../app.ts";
import type { CardFile } from "../core/cards.ts";
import type { ScorePoint } from "../core/digest.ts";
import { type Comparison, pValueText } from "../core/evals/service.ts";
import { latestEvalsByModel } from "../core/experiments/evals.ts";
import { packName } from "../core/packs/cards.ts";
import type { PackComparison } from "../core/packs/types.ts";
import { fmt } from "../core/format.ts";
import type { EvalRecord, ExperimentRecord, RunRecord } from "../core/ports.ts";
import type { TopLevelSpec } from "vega-lite";
import {
  type DifferenceRow,
  differenceSpec,
  historySpec,
  type LossPoint,
  lossCurveSpec,
  type ModelScore,
  scoresPng,
  type SpendPoint,
  spendPng,
} from "./index.ts";
import { renderPng } from "./render.ts";

/** Writes a chart into `<data>/charts/` (kept, so a chart can be found again) and returns it as a card file. */
function keep(app: App, name: string, png: Buffer, title: string): CardFile {
  const dir = path.join(app.config.dataDir, "charts");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, png);
  return { name, content: png, mime: "image/png", title, path: file };
}

/**
 * The run's loss points: training loss by step, and validation loss when its trainer reported any, each of the
 * run's latest training attempt. A run resumed after a restart trains (or a hosted job reports) from step 1 again: a
 * step at or below the last one recorded starts that series over from there, so every step appears once and the
 * chart of a 100-step run has 100 training points.
 */
export function lossPoints(app: App, runId: number): LossPoint[] {
  const read = (type: string, series: "train" | "validation") => {
    const pts: LossPoint[] = [];
    for (const e of app.engine.runEvents(runId, type)) {
      for (const [step, loss] of e.data as Array<[number, number]>) {
        if (!Number.isFinite(step) || !Number.isFinite(loss)) continue;
        while (pts.length && (pts.at(-1) as LossPoint).step >= step) pts.pop();
        pts.push({ step, loss, series });
      }
    }
    return pts;
  };
  return [...read("loss", "train"), ...read("valid_loss", "validation")];
}

/** The last step of each epoch but the final one: epoch k ends at step round(k · totalSteps / epochs). */
export function epochEnds(totalSteps: number, epochs: number): Array<{ step: number; epoch: number }> {
  if (!(totalSteps > 0) || !(epochs > 1)) return [];
  return Array.from({ length: epochs - 1 }, (_, i) => ({
    step: Math.round(((i + 1) * totalSteps) / epochs),
    epoch: i + 1,
  }));
}

/** The loss chart of a run (null with fewer than two points). */
export function runLossSpec(app: App, run: RunRecord): TopLevelSpec | null {
  const pts = lossPoints(app, run.id);
  const train = pts.filter((p) => p.series === "train");
  if (train.length < 2) return null;
  const valid = pts.filter((p) => p.series === "validation");
  const lastStep = train[train.length - 1].step;
  const totalSteps = Math.max(run.progress?.totalSteps ?? 0, lastStep);
  const ends = epochEnds(totalSteps, run.hyper.epochs).filter((e) => e.step < lastStep);
  const sub = [
    `${run.provider}:${run.baseModel} + LoRA r${run.hyper.loraRank}`,
    app.datasets.refOf(run.datasetVersionId),
    `${lastStep} steps, ${run.hyper.epochs} ${run.hyper.epochs === 1 ? "epoch" : "epochs"}`,
    `lr ${run.hyper.learningRate}`,
    valid.length
      ? `validation loss (red) on ${run.validVersionId !== null ? app.datasets.refOf(run.validVersionId) : "the validation set"}`
      : "no validation set",
  ].join(" · ");
  return lossCurveSpec(`Run ${run.id} · ${valid.length ? "training and validation loss" : "training loss"}`, pts, sub, {
    epochEnds: ends,
  });
}

export async function runLossChart(app: App, run: RunRecord): Promise<CardFile | null> {
  const spec = runLossSpec(app, run);
  if (!spec) return null;
  return keep(app, `run-${run.id}-loss.png`, await renderPng(spec), `Run ${run.id} loss curve`);
}

/** The latest eval of each model of the experiment (its own evals only). */
export function latestEvals(app: App, exp: ExperimentRecord): EvalRecord[] {
  return latestEvalsByModel(app.engine, exp);
}

export async function scoresChart(
  app: App,
  exp: ExperimentRecord,
  evals: EvalRecord[],
  name: string,
): Promise<CardFile | null> {
  const scores: ModelScore[] = evals
    .filter((e) => e.mean !== null)
    .map((e) => ({
      model: e.model,
      role: e.role,
      mean: e.mean ?? 0,
      lo: e.ciLow ?? e.mean ?? 0,
      hi: e.ciHigh ?? e.mean ?? 0,
      n: e.n,
    }));
  if (!scores.length) return null;
  const chance = evals.find((e) => e.summary?.chance)?.summary?.chance?.accuracy;
  const n = Math.max(...scores.map((s) => s.n));
  const png = await scoresPng(
    `${exp.name} · ${exp.metric} on ${app.datasets.refOf(exp.evalVersionId)} (n = ${n})`,
    exp.metric,
    scores,
    { chance },
  );
  return keep(app, name, png, `${exp.name} scores with 95% intervals`);
}

/** One row of a difference chart from a paired comparison (a run's, or a pack's without a detectable effect). */
const differenceRow = (
  label: string,
  c: { diff: number; ci: [number, number]; significant: boolean; pValue: number },
  mde: number,
): DifferenceRow => ({
  label,
  diff: c.diff,
  lo: c.ci[0],
  hi: c.ci[1],
  mde,
  significant: c.significant,
  pText: pValueText(c.pValue),
});

/** The paired difference of each of the verdict's comparisons, with its interval and the detectable effect. */
export async function differenceChart(app: App, run: RunRecord, comparisons: Comparison[]): Promise<CardFile | null> {
  if (!comparisons.length) return null;
  const rows = comparisons.map((c) => differenceRow(`${c.b.model} − ${c.a.model}`, c, c.mde));
  const first = comparisons[0];
  const methods = [...new Set(comparisons.map((c) => CI_METHOD_SHORT[c.ciMethod]))].join(", ");
  const png = await renderPng(
    differenceSpec(
      `Run ${run.id} · ${first.metric} on ${first.dataset}: paired difference (n = ${first.n})`,
      first.metric,
      rows,
      { method: methods },
    ),
  );
  return keep(app, `run-${run.id}-difference.png`, png, `Run ${run.id} paired differences with 95% intervals`);
}

/**
 * The eval packs' paired differences (tuned − base) with their 95% intervals, one row per pack and per bias
 * attribute: which guardrail a tune moved, and whether the move is more than noise, at a glance.
 */
export async function packsChart(app: App, run: RunRecord, comparisons: PackComparison[]): Promise<CardFile | null> {
  if (!comparisons.length) return null;
  const rows = comparisons.map((c) => differenceRow(`${packName(c)} (n = ${c.n})`, c, Number.NaN));
  const png = await renderPng(
    differenceSpec(`Run ${run.id} · eval packs: tuned − base, paired`, "pass rate", rows, {
      subtitle: `◆ observed difference · line: 95% interval (${[...new Set(comparisons.map((c) => c.test))].join(", ")}) · below 0: the tune made the pack worse · dashed: no difference`,
    }),
  );
  return keep(app, `run-${run.id}-packs.png`, png, `Run ${run.id} eval packs: tuned − base with 95% intervals`);
}

const CI_METHOD_SHORT: Record<Comparison["ciMethod"], string> = {
  newcombe: "Newcombe",
  tango: "Tango",
  bootstrap: "paired bootstrap",
  t: "paired t",
  "clustered-t": "cluster-robust t",
  "clustered-newcombe": "cluster-robust t / Newcombe",
  "no-spread": "no spread: ± 0-of-n bound",
};

/** The loss curve of the run, the comparison of its evals with intervals, the paired differences, and the packs'. */
export async function runChartFiles(
  app: App,
  run: RunRecord,
  evals: EvalRecord[],
  comparisons: Comparison[] = [],
  packs: PackComparison[] = [],
): Promise<CardFile[]> {
  const exp = app.engine.experimentById(run.experimentId);
  const files = [await runLossChart(app, run)];
  if (exp) files.push(await scoresChart(app, exp, evals, `run-${run.id}-scores.png`));
  files.push(await differenceChart(app, run, comparisons));
  if (packs?.length) files.push(await packsChart(app, run, packs));
  return files.filter((f): f is CardFile => f !== null);
}

/** The experiment's tuned scores over its runs (for digests); null before its first tuned eval. */
export async function historyChart(app: App, exp: ExperimentRecord, history: ScorePoint[]): Promise<CardFile | null> {
  if (!history.length) return null;
  const refs = latestEvals(app, exp)
    .filter((e) => (e.role === "base" || e.role === "baseline") && e.mean !== null)
    .map((e) => ({ model: e.model, mean: e.mean as number }));
  const png = await renderPng(
    historySpec(
      `${exp.name} · ${exp.metric} on ${app.datasets.refOf(exp.evalVersionId)} over its runs`,
      exp.metric,
      history,
      refs,
    ),
  );
  return keep(app, `experiment-${exp.name}-history.png`, png, `${exp.name} scores over its runs`);
}

export async function experimentChartFiles(app: App, exp: ExperimentRecord): Promise<CardFile[]> {
  const f = await scoresChart(app, exp, latestEvals(app, exp), `experiment-${exp.name}-leaderboard.png`);
  return f ? [f] : [];
}

/** Spend per day by provider over a period (actual bookings only); null when nothing was spent. */
export async function spendChart(app: App, since: Date, until: Date, experimentId?: number): Promise<CardFile | null> {
  const byKey = new Map<string, SpendPoint>();
  for (const e of app.engine.ledger({ since, experimentId })) {
    if (e.estimated || e.at > until) continue;
    const day = e.at.toISOString().slice(0, 10);
    const k = `${day}|${e.provider}`;
    const p = byKey.get(k) ?? { day, provider: e.provider, usd: 0 };
    p.usd += e.usd;
    byKey.set(k, p);
  }
  const points = [...byKey.values()].sort((a, b) => a.day.localeCompare(b.day));
  const total = points.reduce((a, p) => a + p.usd, 0);
  if (total <= 0) return null;
  const png = await spendPng(
    "Spend over time",
    points,
    `${since.toISOString().slice(0, 10)} to ${until.toISOString().slice(0, 10)} · ${fmt.usd(total)} in all`,
  );
  return keep(
    app,
    `spend-${since.toISOString().slice(0, 10)}-${until.toISOString().slice(0, 10)}.png`,
    png,
    "Spend over time",
  );
}
