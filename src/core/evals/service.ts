/** Evals of models on eval sets, paired comparisons, and leaderboards. */
import { TuneError } from "../../errors.ts";
import { formatRef } from "../datasets/names.ts";
import { fmt } from "../format.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { DatasetVersionRecord, EngineRepo, EvalRecord, ExperimentRecord, Clock } from "../ports.ts";
import { resolveModel, type ProviderSet } from "../models.ts";
import { pairedComparison } from "../stats.ts";
import { makeGrader, parseGraderSpec, type GraderSpec, type JudgeClient } from "./graders.ts";
import { evalTasks, runEval, type EvalTask } from "./runner.ts";

export interface Comparison {
  metric: string;
  dataset: string;
  n: number;
  a: { model: string; evalId: number; mean: number };
  b: { model: string; evalId: number; mean: number };
  /** mean(b) - mean(a): positive means b is better. */
  diff: number;
  ci: [number, number];
  pValue: number;
  test: string;
  discordant: { aOnly: number; bOnly: number } | null;
  mde: number;
  correlation: number | null;
  clusteredSe: number | null;
  alpha: number;
  significant: boolean;
  /** Lines of the eval set where a passed and b failed (or b scored lower). */
  regressions: number[];
  improvements: number[];
  verdict: string;
}

export interface EvalRequest {
  modelRef: string;
  dataset: DatasetVersionRecord;
  metric: string;
  role: EvalRecord["role"];
  experimentId?: number | null;
  runId?: number | null;
  maxTokens?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export function isLabelTask(spec: GraderSpec, tasks: EvalTask[]): boolean {
  if (spec.kind === "label") return true;
  const distinct = new Set(tasks.map((t) => t.expected.trim().toLowerCase()));
  return tasks.length >= 20 && distinct.size <= Math.min(10, tasks.length / 5);
}

export class EvalService {
  constructor(
    private readonly repo: EngineRepo,
    private readonly datasets: DatasetService,
    private readonly providers: ProviderSet,
    private readonly clock: Clock,
  ) {}

  /** Parses a metric (grader spec) now, so a bad one is refused before anything runs. */
  checkMetric(metric: string): GraderSpec {
    try {
      return parseGraderSpec(metric);
    } catch (err) {
      throw new TuneError("invalid_grader", (err as Error).message);
    }
  }

  private judgeClient(): JudgeClient {
    return async (req) => {
      const { model } = resolveModel(req.model, this.providers, this.repo);
      const [r] = await model.completeAll([{ messages: req.messages, maxTokens: 300, temperature: 0 }], {});
      return { text: r.text, usage: { inputTokens: r.inputTokens, outputTokens: r.outputTokens } };
    };
  }

  async evaluate(req: EvalRequest): Promise<EvalRecord> {
    const spec = this.checkMetric(req.metric);
    const resolved = resolveModel(req.modelRef, this.providers, this.repo);
    const dsRef = formatRef(req.dataset.name, req.dataset.version);
    const tasks = evalTasks(await this.datasets.allRows(req.dataset), dsRef);
    const judgeModel = spec.kind === "judge" ? resolveModel(spec.model, this.providers, this.repo).model : null;
    const grade = makeGrader(spec, { judge: this.judgeClient() });
    const ev = this.repo.createEval({
      experimentId: req.experimentId ?? null,
      runId: req.runId ?? null,
      model: resolved.ref,
      role: req.role,
      datasetVersionId: req.dataset.id,
      metric: req.metric,
      state: "running",
      error: null,
      n: tasks.length,
      mean: null,
      ciLow: null,
      ciHigh: null,
      summary: null,
      createdAt: this.clock.now(),
      finishedAt: null,
    });
    try {
      const out = await runEval({
        model: resolved.model,
        tasks,
        grade,
        maxTokens: req.maxTokens,
        labelTask: isLabelTask(spec, tasks),
        signal: req.signal,
        onProgress: req.onProgress,
        judgeUsd: (u) => {
          const p = judgeModel?.pricing;
          return p ? (u.inputTokens * p.inputPer1M + u.outputTokens * p.outputPer1M) / 1e6 : 0;
        },
      });
      this.repo.addEvalRows(out.rows.map((r) => ({ ...r, evalId: ev.id })));
      const now = this.clock.now();
      const base = {
        at: now,
        estimated: false,
        experimentId: req.experimentId ?? null,
        runId: req.runId ?? null,
        evalId: ev.id,
        trainingTokens: 0,
      };
      this.repo.addLedger({
        ...base,
        kind: "eval",
        provider: resolved.model.provider,
        model: resolved.ref,
        inputTokens: out.summary.inputTokens,
        outputTokens: out.summary.outputTokens,
        usd: out.summary.usd ?? 0,
        wallMs: out.summary.wallMs,
      });
      if (judgeModel) {
        this.repo.addLedger({
          ...base,
          kind: "judge",
          provider: judgeModel.provider,
          model: judgeModel.ref,
          inputTokens: 0,
          outputTokens: 0,
          usd: out.summary.judgeUsd,
          wallMs: 0,
        });
      }
      return this.repo.updateEval(ev.id, {
        state: "succeeded",
        n: out.rows.length,
        mean: out.mean,
        ciLow: out.ci[0],
        ciHigh: out.ci[1],
        summary: out.summary,
        finishedAt: now,
      });
    } catch (err) {
      this.repo.updateEval(ev.id, {
        state: "failed",
        error: err instanceof Error ? err.message : String(err),
        finishedAt: this.clock.now(),
      });
      throw err;
    }
  }

  /** The experiment's best tuned model so far: its highest-scoring run eval on the experiment's metric. */
  bestTuned(exp: ExperimentRecord): EvalRecord | null {
    return (
      this.repo
        .evals({ experimentId: exp.id, state: "succeeded" })
        .filter((e) => e.role === "tuned" && e.runId !== null && e.metric === exp.metric)
        .sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1))[0] ?? null
    );
  }

  /** The latest succeeded eval of a model on a dataset version with a metric. */
  latestEval(modelRef: string, datasetVersionId: number, metric?: string): EvalRecord | null {
    return (
      this.repo
        .evals({ model: modelRef, datasetVersionId, state: "succeeded" })
        .find((e) => metric === undefined || e.metric === metric) ?? null
    );
  }

  /**
   * Paired comparison of two models on the same eval rows. With an experiment, its eval set and metric;
   * otherwise the most recent eval set and metric both models were evaluated on.
   */
  compare(aRef: string, bRef: string, opts: { experiment?: ExperimentRecord; seed?: number } = {}): Comparison {
    const a = resolveModel(aRef, this.providers, this.repo).ref;
    const b = resolveModel(bRef, this.providers, this.repo).ref;
    let ea: EvalRecord | null = null;
    let eb: EvalRecord | null = null;
    if (opts.experiment) {
      ea = this.latestEval(a, opts.experiment.evalVersionId, opts.experiment.metric);
      eb = this.latestEval(b, opts.experiment.evalVersionId, opts.experiment.metric);
    } else {
      for (const x of this.repo.evals({ model: a, state: "succeeded" })) {
        const y = this.latestEval(b, x.datasetVersionId, x.metric);
        if (y) {
          ea = x;
          eb = y;
          break;
        }
      }
    }
    if (!ea || !eb) {
      const missing = !ea ? a : b;
      throw new TuneError(
        "eval_not_found",
        `No eval of ${missing} on the same eval set and metric as ${missing === a ? b : a}. Run /tune eval ${missing} <dataset> first${opts.experiment ? ` (the experiment's eval set)` : ""}.`,
      );
    }
    return this.compareEvals(ea, eb, opts.experiment?.alpha ?? 0.05, opts.seed ?? 1);
  }

  compareEvals(ea: EvalRecord, eb: EvalRecord, alpha: number, seed = 1): Comparison {
    const ra = this.repo.evalRows(ea.id);
    const rb = new Map(this.repo.evalRows(eb.id).map((r) => [r.rowIndex, r]));
    const pairs = ra.filter((r) => rb.has(r.rowIndex)).map((r) => [r, rb.get(r.rowIndex)!] as const);
    if (!pairs.length) throw new TuneError("eval_not_paired", `Evals ${ea.id} and ${eb.id} share no rows.`);
    const sa = pairs.map(([x]) => x.score);
    const sb = pairs.map(([, y]) => y.score);
    const clusters = pairs.map(([x]) => x.cluster);
    const hasClusters = clusters.some((c) => c !== null);
    const pc = pairedComparison(sa, sb, {
      alpha,
      seed,
      clusterIds: hasClusters ? clusters.map((c, i) => c ?? `row-${i}`) : undefined,
    });
    const regressions = pairs.filter(([x, y]) => y.score < x.score).map(([x]) => x.line);
    const improvements = pairs.filter(([x, y]) => y.score > x.score).map(([x]) => x.line);
    const cmp: Comparison = {
      metric: ea.metric,
      dataset: this.datasets.refOf(ea.datasetVersionId),
      n: pc.n,
      a: { model: ea.model, evalId: ea.id, mean: pc.meanA },
      b: { model: eb.model, evalId: eb.id, mean: pc.meanB },
      diff: pc.diff,
      ci: pc.ci,
      pValue: pc.pValue,
      test: pc.test,
      discordant: pc.discordant ?? null,
      mde: pc.mde,
      correlation: pc.correlation,
      clusteredSe: pc.clusteredSe ?? null,
      alpha,
      significant: pc.significant,
      regressions,
      improvements,
      verdict: "",
    };
    cmp.verdict = verdictText(cmp);
    return cmp;
  }
}

const pts = (x: number) => fmt.pts(x);
export const pValueText = fmt.p;

export function verdictText(c: Comparison): string {
  const dir = c.diff > 0 ? "better than" : c.diff < 0 ? "worse than" : "level with";
  const head = `${c.b.model} is ${dir} ${c.a.model} by ${pts(c.diff)} (95% CI ${pts(c.ci[0])} to ${pts(c.ci[1])}, ${c.test} ${pValueText(c.pValue)}, n = ${c.n})`;
  if (c.significant) return `${head}: significant at α = ${c.alpha}.`;
  if (c.discordant && c.discordant.aOnly + c.discordant.bOnly === 0) {
    return `${head}: the two models pass and fail the same rows; this eval cannot tell them apart.`;
  }
  return `${head}: not significant at α = ${c.alpha}; this eval can detect differences of about ${pts(c.mde).replace("+", "")} (80% power).`;
}
