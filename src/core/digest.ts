/**
 * The digest: where each experiment stands, short enough to read on a phone, with the detail in its thread.
 * For the period: runs started/finished/failed, each experiment's best model against its base and baselines with
 * intervals, hypotheses decided, spend by provider against budgets, and what is scheduled next.
 */
import { fields, fmt, list, table, text, type Block, type Card } from "./cards.ts";
import { summarizeLedger } from "./costs/ledger.ts";
import type { DatasetService } from "./datasets/service.ts";
import { latestEvalsByModel } from "./experiments/evals.ts";
import type { EngineRepo, EvalRecord, ExperimentRecord, IterationRepo } from "./ports.ts";
import { EVAL_COLUMNS, evalRow, interval, pct } from "./runs/cards.ts";
import { nextRuns } from "./schedules/scheduler.ts";

export interface DigestData {
  since: string;
  until: string;
  runs: { started: number; finished: number; failed: number; cancelled: number };
  experiments: Array<{
    name: string;
    best: string | null;
    bestMean: number | null;
    ci: [number | null, number | null];
    base: number | null;
    baselines: Array<{ model: string; mean: number | null }>;
    spentUsd: number;
    budgetUsd: number | null;
    /** The tuned model of each of this experiment's runs, oldest first, with its 95% interval. */
    history: ScorePoint[];
  }>;
  hypotheses: Array<{ experiment: string; text: string; outcome: string; summary: string }>;
  spend: Array<{ provider: string; usd: number }>;
  next: Array<{ id: number; recipe: string; at: string }>;
}

export interface ScorePoint {
  run: string;
  runId: number;
  /** ISO time the eval finished. */
  at: string;
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

/**
 * The experiment's tuned scores over its runs (oldest first): for each of ITS runs, the latest succeeded eval of the
 * tuned model on the experiment's eval set and metric, with the eval's 95% interval. Runs of other experiments that
 * share the eval set are left out.
 */
export function scoreHistory(engine: EngineRepo, exp: ExperimentRecord): ScorePoint[] {
  const own = new Set(engine.listRuns({ experimentId: exp.id, limit: 100_000 }).map((r) => r.id));
  const latest = new Map<number, EvalRecord>();
  for (const e of engine.evals({ datasetVersionId: exp.evalVersionId, state: "succeeded" })) {
    if (e.role !== "tuned" || e.metric !== exp.metric || e.runId === null || !own.has(e.runId) || e.mean === null)
      continue;
    const prev = latest.get(e.runId);
    if (!prev || (e.finishedAt ?? e.createdAt) > (prev.finishedAt ?? prev.createdAt)) latest.set(e.runId, e);
  }
  return [...latest.values()]
    .map((e) => ({
      run: `run:${e.runId}`,
      runId: e.runId as number,
      at: (e.finishedAt ?? e.createdAt).toISOString(),
      mean: e.mean as number,
      lo: e.ciLow ?? (e.mean as number),
      hi: e.ciHigh ?? (e.mean as number),
      n: e.n,
    }))
    .sort((a, b) => a.at.localeCompare(b.at) || a.runId - b.runId);
}

export function buildDigest(
  deps: { engine: EngineRepo; iterations: IterationRepo; datasets: DatasetService },
  opts: { since: Date; until: Date; experiment?: ExperimentRecord },
): { card: Card; data: DigestData; experiments: ExperimentRecord[] } {
  const { engine, iterations } = deps;
  const exps = opts.experiment ? [opts.experiment] : engine.listExperiments();
  const inPeriod = (d: Date | null) => d !== null && d >= opts.since && d <= opts.until;
  const runs = engine
    .listRuns({ limit: 100_000 })
    .filter((r) => !opts.experiment || r.experimentId === opts.experiment.id);
  const runStats = {
    started: runs.filter((r) => inPeriod(r.startedAt)).length,
    finished: runs.filter((r) => r.state === "succeeded" && inPeriod(r.finishedAt)).length,
    failed: runs.filter((r) => r.state === "failed" && inPeriod(r.finishedAt)).length,
    cancelled: runs.filter((r) => r.state === "cancelled" && inPeriod(r.finishedAt)).length,
  };
  const experiments: DigestData["experiments"] = [];
  const detail: Card[] = [];
  const hyps: DigestData["hypotheses"] = [];
  for (const exp of exps) {
    const evals = latestEvalsByModel(engine, exp);
    const best = evals.find((e) => e.role === "tuned") ?? evals[0] ?? null;
    const base = evals.find((e) => e.role === "base") ?? null;
    const spend = summarizeLedger(engine.ledger({ experimentId: exp.id }));
    experiments.push({
      name: exp.name,
      best: best?.model ?? null,
      bestMean: best?.mean ?? null,
      ci: [best?.ciLow ?? null, best?.ciHigh ?? null],
      base: base?.mean ?? null,
      baselines: exp.baselines.map((m) => ({ model: m, mean: evals.find((e) => e.model === m)?.mean ?? null })),
      spentUsd: spend.totalUsd,
      budgetUsd: exp.budgetUsd,
      history: scoreHistory(engine, exp),
    });
    for (const h of engine.hypotheses(exp.id)) {
      if (h.verdict && inPeriod(h.decidedAt))
        hyps.push({ experiment: exp.name, text: h.text, outcome: h.verdict.outcome, summary: h.verdict.summary });
    }
    if (evals.length) {
      detail.push({
        title: `${exp.name} · ${exp.metric} on ${deps.datasets.refOf(exp.evalVersionId)}`,
        blocks: [table(EVAL_COLUMNS, evals.map(evalRow))],
      });
    }
  }
  const byProvider = new Map<string, number>();
  for (const e of engine.ledger({ since: opts.since })) {
    if (e.estimated || e.at > opts.until) continue;
    if (opts.experiment && e.experimentId !== opts.experiment.id) continue;
    byProvider.set(e.provider, (byProvider.get(e.provider) ?? 0) + e.usd);
  }
  const spend = [...byProvider.entries()].map(([provider, usd]) => ({ provider, usd: Math.round(usd * 100) / 100 }));
  const next = iterations
    .schedules()
    .filter((s) => s.state === "active")
    .map((s) => ({
      id: s.id,
      recipe: s.recipe,
      at: (s.nextFireAt ?? nextRuns(s.cron, s.tz, 1)[0] ?? new Date(0)).toISOString(),
    }))
    .sort((a, b) => a.at.localeCompare(b.at))
    .slice(0, 5);

  const day = fmt.day;
  const lines = experiments.map((e) => {
    if (e.bestMean === null) return `${e.name}: no evals yet`;
    const vs = [e.base !== null ? `base ${pct(e.base)}` : null, ...e.baselines.map((b) => `${b.model} ${pct(b.mean)}`)]
      .filter(Boolean)
      .join(", ");
    const budget = e.budgetUsd !== null ? ` · ${fmt.usd(e.spentUsd)} of ${fmt.usd(e.budgetUsd)}` : "";
    return `${e.name}: ${e.best} ${pct(e.bestMean)}${interval(e.ci[0], e.ci[1])}${vs ? ` vs ${vs}` : ""}${budget}`;
  });
  const blocks: Block[] = [
    fields([
      [
        "Runs",
        `${runStats.started} started · ${runStats.finished} finished · ${runStats.failed} failed${runStats.cancelled ? ` · ${runStats.cancelled} cancelled` : ""}`,
      ],
      ["Spend", spend.length ? spend.map((s) => `${s.provider} ${fmt.usd(s.usd)}`).join(" · ") : fmt.usd(0)],
    ]),
    list(lines.length ? lines : ["No experiments yet."], "Where each experiment stands"),
  ];
  if (hyps.length)
    blocks.push(
      list(
        hyps.map((h) => `${h.experiment}: "${h.text}": ${h.outcome.replace("_", " ")}`),
        "Hypotheses decided",
      ),
    );
  blocks.push(
    text(
      next.length
        ? `Next: ${next.map((n) => `#${n.id} ${n.recipe} at ${fmt.time(new Date(n.at))}`).join("; ")}`
        : 'Nothing scheduled. /tune schedule add "0 9 * * MON" digest',
    ),
  );
  const card: Card = {
    title: `Digest ${day(opts.since)} to ${day(opts.until)}${opts.experiment ? ` · ${opts.experiment.name}` : ""}`,
    blocks,
    thread: detail,
  };
  return {
    card,
    experiments: exps,
    data: {
      since: opts.since.toISOString(),
      until: opts.until.toISOString(),
      runs: runStats,
      experiments,
      hypotheses: hyps,
      spend,
      next,
    },
  };
}

/** The digest's text (what `digest now --json` returns as `text`): the card's lines without markup. */
export function digestText(card: Card): string {
  const out: string[] = [card.title ?? ""];
  for (const b of card.blocks) {
    if (b.type === "text") out.push(b.text);
    else if (b.type === "fields") out.push(...b.fields.map(([k, v]) => `${k}: ${v}`));
    else if (b.type === "list") out.push(...(b.title ? [`${b.title}:`] : []), ...b.items.map((i) => `- ${i}`));
  }
  return out.join("\n");
}

/** Subscriptions, digests and the stored schedules, for the commands (they never reach the repositories). */
export class DigestService {
  constructor(
    private readonly engine: EngineRepo,
    private readonly iterations: IterationRepo,
    private readonly datasets: DatasetService,
  ) {}

  subscribe(input: Parameters<IterationRepo["subscribe"]>[0]): ReturnType<IterationRepo["subscribe"]> {
    return this.iterations.subscribe(input);
  }

  /** The digest of a period (one experiment, or all). */
  build(opts: { since: Date; until: Date; experiment?: ExperimentRecord }) {
    return buildDigest({ engine: this.engine, iterations: this.iterations, datasets: this.datasets }, opts);
  }

  /** The schedules as stored: listing them needs no running scheduler. */
  schedules(): ReturnType<IterationRepo["schedules"]> {
    return this.iterations.schedules();
  }
}
