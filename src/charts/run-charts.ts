/** The PNG charts of a run and of an experiment, as card files (chat adapters upload them; the console saves them). */
import fs from "node:fs";
import path from "node:path";
import type { App } from "../app.ts";
import type { CardFile } from "../core/cards.ts";
import { fmt } from "../core/format.ts";
import type { EvalRecord, ExperimentRecord, RunRecord } from "../core/ports.ts";
import { lossCurvePng, scoresPng, spendPng, type LossPoint, type ModelScore, type SpendPoint } from "./index.ts";

/** Writes a chart into `<data>/charts/` (kept, so a chart can be found again) and returns it as a card file. */
function keep(app: App, name: string, png: Buffer, title: string): CardFile {
  const dir = path.join(app.config.dataDir, "charts");
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, png);
  return { name, content: png, mime: "image/png", title, path: file };
}

export function lossPoints(app: App, runId: number): LossPoint[] {
  const pts: LossPoint[] = [];
  for (const e of app.engine.runEvents(runId, "loss")) {
    for (const [step, loss] of e.data as Array<[number, number]>) pts.push({ step, loss });
  }
  return pts;
}

export async function runLossChart(app: App, run: RunRecord): Promise<CardFile | null> {
  const pts = lossPoints(app, run.id);
  if (pts.length < 2) return null;
  const sub = `${run.provider}:${run.baseModel} + LoRA r${run.hyper.loraRank} · ${app.datasets.refOf(run.datasetVersionId)} · ${pts.length} steps · lr ${run.hyper.learningRate}`;
  return keep(
    app,
    `run-${run.id}-loss.png`,
    await lossCurvePng(`Run ${run.id} · training loss`, pts, sub),
    `Run ${run.id} loss curve`,
  );
}

export function latestEvals(app: App, exp: ExperimentRecord): EvalRecord[] {
  const latest = new Map<string, EvalRecord>();
  for (const e of app.engine.evals({ datasetVersionId: exp.evalVersionId, state: "succeeded" })) {
    if (e.metric === exp.metric && !latest.has(e.model)) latest.set(e.model, e);
  }
  return [...latest.values()];
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

/** The loss curve of the run and the comparison of its evals with intervals. */
export async function runChartFiles(app: App, run: RunRecord, evals: EvalRecord[]): Promise<CardFile[]> {
  const exp = app.engine.experimentById(run.experimentId);
  const files = [await runLossChart(app, run)];
  if (exp) files.push(await scoresChart(app, exp, evals, `run-${run.id}-scores.png`));
  return files.filter((f): f is CardFile => f !== null);
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
