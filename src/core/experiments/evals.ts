/**
 * The evals an experiment may show: its own. Two experiments can share an eval set and metric; one experiment's
 * leaderboard, digest, "best tuned", rerun and reeval must never pick up the other's runs or evals.
 *
 * An experiment's own evals are those booked to it (its runs' evals, and `/tune eval ... --experiment`) on its
 * frozen eval set and metric; an eval of another experiment's run (`run:N`) is left out even when booked here.
 */
import { parseRunRef } from "../models.ts";
import type { EngineRepo, EvalRecord, ExperimentRecord } from "../ports.ts";

/** Every succeeded eval of the experiment, newest first. */
export function experimentEvals(repo: EngineRepo, exp: ExperimentRecord): EvalRecord[] {
  const foreignRun = new Map<number, boolean>();
  const isForeign = (model: string) => {
    const id = parseRunRef(model);
    if (id === null) return false;
    if (!foreignRun.has(id)) foreignRun.set(id, repo.runById(id)?.experimentId !== exp.id);
    return foreignRun.get(id) === true;
  };
  return repo
    .evals({ experimentId: exp.id, datasetVersionId: exp.evalVersionId, state: "succeeded" })
    .filter((e) => e.metric === exp.metric && !isForeign(e.model));
}

/** The latest eval of each model in the experiment, best score first. */
export function latestEvalsByModel(repo: EngineRepo, exp: ExperimentRecord): EvalRecord[] {
  const latest = new Map<string, EvalRecord>();
  for (const e of experimentEvals(repo, exp)) if (!latest.has(e.model)) latest.set(e.model, e);
  return [...latest.values()].sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1));
}

/** The experiment's latest eval of one model, or null. */
export function latestEvalOf(repo: EngineRepo, exp: ExperimentRecord, model: string): EvalRecord | null {
  return experimentEvals(repo, exp).find((e) => e.model === model) ?? null;
}

/** The experiment's best tuned model so far: its highest-scoring eval of one of its own runs. */
export function bestTunedEval(repo: EngineRepo, exp: ExperimentRecord): EvalRecord | null {
  return (
    experimentEvals(repo, exp)
      .filter((e) => e.role === "tuned" && e.runId !== null)
      .sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1) || b.id - a.id)[0] ?? null
  );
}
