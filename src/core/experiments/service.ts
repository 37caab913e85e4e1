/** Experiments: a named line of work on one task, with its frozen eval set, metric, baselines, budget, hypotheses. */
import { TuneError, ErrorCode } from "../../errors.ts";
import { formatRef } from "../datasets/names.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { EvalService } from "../evals/service.ts";
import { resolveModel, type ProviderSet } from "../models.ts";
import { assertFits } from "../costs/budget.ts";
import { scoreHistory, type ScorePoint } from "../digest.ts";
import type { BudgetUse, Clock, EngineRepo, ExperimentRecord, HypothesisRecord } from "../ports.ts";

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The experiment of that name, or the coded error that names the known ones (or says how to create one). */
export function experimentNamed(repo: EngineRepo, name: string): ExperimentRecord {
  const e = repo.experimentByName(name);
  if (e) return e;
  const names = repo.listExperiments().map((x) => x.name);
  throw new TuneError(
    ErrorCode.ExperimentNotFound,
    `No experiment named "${name}". ${names.length ? `Known: ${names.slice(0, 10).join(", ")}.` : "Create one with /tune experiment new <name> --eval <dataset> --metric exact."}`,
  );
}

export class ExperimentService {
  constructor(
    private readonly repo: EngineRepo,
    private readonly datasets: DatasetService,
    private readonly evals: EvalService,
    private readonly providers: ProviderSet,
    private readonly clock: Clock,
  ) {}

  create(input: {
    name: string;
    evalDataset: string;
    metric: string;
    baselines: string[];
    budgetUsd?: number;
    alpha?: number;
    user: string;
    channelId: string | null;
  }): ExperimentRecord {
    if (!NAME_RE.test(input.name)) {
      throw new TuneError(
        ErrorCode.ExperimentInvalidName,
        `"${input.name.slice(0, 60)}" is not a valid experiment name: use 1-63 lowercase letters, digits, '.', '-' or '_'.`,
      );
    }
    if (this.repo.experimentByName(input.name)) {
      throw new TuneError(
        ErrorCode.ExperimentExists,
        `An experiment named "${input.name}" exists already. Pick another name, or see /tune experiment show ${input.name}.`,
      );
    }
    const evalSet = this.datasets.get(input.evalDataset);
    if (evalSet.format === "text") {
      throw new TuneError(
        ErrorCode.ExperimentEvalText,
        `${formatRef(evalSet.name, evalSet.version)} holds plain text rows; an eval set needs chat rows whose last assistant message is the expected answer.`,
      );
    }
    this.evals.checkMetric(input.metric);
    for (const b of input.baselines) resolveModel(b, this.providers, this.repo);
    return this.repo.createExperiment({
      name: input.name,
      evalVersionId: evalSet.id,
      evalSha256: evalSet.normSha256,
      metric: input.metric,
      baselines: input.baselines,
      budgetUsd: input.budgetUsd ?? null,
      alpha: input.alpha ?? 0.05,
      channelId: input.channelId,
      createdBy: input.user,
      createdAt: this.clock.now(),
    });
  }

  get(name: string): ExperimentRecord {
    return experimentNamed(this.repo, name);
  }

  /** The experiment of this name, or null. */
  find(name: string): ExperimentRecord | null {
    return this.repo.experimentByName(name);
  }

  /** Refuses (budget_exceeded, with the sum) work of `usd` that does not fit in what is left of the budget. */
  assertFits(exp: ExperimentRecord, usd: number, head: string): BudgetUse {
    return assertFits(this.repo, this.clock, exp, usd, head);
  }

  /** The experiment's best score after each of its runs (the history chart's points). */
  scoreHistory(exp: ExperimentRecord): ScorePoint[] {
    return scoreHistory(this.repo, exp);
  }

  /** The experiment with this id, or null. */
  byId(id: number): ExperimentRecord | null {
    return this.repo.experimentById(id);
  }

  list(): ExperimentRecord[] {
    return this.repo.listExperiments();
  }

  /** Sets (null: removes) the budget; what is reserved already stays reserved, new work is checked against it. */
  setBudget(name: string, budgetUsd: number | null): ExperimentRecord {
    const exp = this.get(name);
    return this.repo.setBudget(exp.id, budgetUsd);
  }

  addHypothesis(input: {
    experiment: string;
    text: string;
    metric?: string;
    expectPts: number;
    user: string;
  }): HypothesisRecord {
    const exp = this.get(input.experiment);
    const metric = input.metric ?? exp.metric;
    this.evals.checkMetric(metric);
    if (!input.text.trim())
      throw new TuneError(
        ErrorCode.InvalidOptions,
        'Say what you expect, e.g. /tune hypothesis support "adding 200 refund rows helps" --expect +5pts',
      );
    return this.repo.createHypothesis({
      experimentId: exp.id,
      text: input.text.trim(),
      metric,
      expectPts: input.expectPts,
      createdBy: input.user,
      createdAt: this.clock.now(),
    });
  }

  hypotheses(experimentId: number): HypothesisRecord[] {
    return this.repo.hypotheses(experimentId);
  }
}
