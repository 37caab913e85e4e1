/**
 * The overview a person opens (Slack's App Home, Discord's and the console's `/tune home`): their recent runs, every
 * experiment's best score against its baseline, and this month's spend. Computed here, once, for every platform;
 * adapters only render the card.
 */
import { list, text, type Card } from "./cards.ts";
import type { CostService } from "./costs/service.ts";
import type { DatasetService } from "./datasets/service.ts";
import type { EvalService } from "./evals/service.ts";
import { latestEvalOf } from "./experiments/evals.ts";
import type { ExperimentService } from "./experiments/service.ts";
import { fmt } from "./format.ts";
import type { Clock, EngineRepo, EvalRecord } from "./ports.ts";
import type { RunService } from "./runs/service.ts";
import { STATE_LABEL } from "./runs/states.ts";

export interface OverviewDeps {
  repo: EngineRepo;
  clock: Clock;
  runs: RunService;
  experiments: ExperimentService;
  evals: EvalService;
  datasets: DatasetService;
  costs: CostService;
}

const pct = (x: number | null) => (x === null ? "-" : fmt.pct(x));

export function overviewCard(d: OverviewDeps, userId: string): Card {
  const now = d.clock.now();
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const mine = d.runs.list({ limit: 1000 }).filter((r) => r.createdById === userId);
  const runLines = mine.slice(0, 10).map((r) => {
    const tuned = d.repo.evals({ runId: r.id, state: "succeeded" }).find((e) => e.role === "tuned");
    const exp = d.experiments.byId(r.experimentId)?.name ?? "?";
    return `#${r.id} · ${STATE_LABEL[r.state]} · ${exp} · ${d.datasets.refOf(r.datasetVersionId)} · ${r.provider}:${r.baseModel}${tuned ? ` · ${pct(tuned.mean)}` : ""} · ${fmt.usd(d.costs.ofRun(r.id).totalUsd)} · ${fmt.day(r.createdAt)}`;
  });

  const expLines: string[] = d.experiments
    .list()
    .slice(0, 20)
    .map((e) => {
      const best = d.evals.bestTuned(e);
      const baselines: EvalRecord[] = e.baselines
        .map((b) => latestEvalOf(d.repo, e, b))
        .filter((x): x is EvalRecord => x !== null);
      if (!baselines.length && best?.runId) {
        const run = d.runs.find(best.runId);
        const base = run ? latestEvalOf(d.repo, e, `${run.provider}:${run.baseModel}`) : null;
        if (base) baselines.push(base);
      }
      const top = baselines.sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1))[0];
      const spend = d.costs.ofExperiment(e.id).totalUsd;
      const vs =
        best && top && best.mean !== null && top.mean !== null
          ? ` vs ${top.model} ${pct(top.mean)} (${fmt.pts(best.mean - top.mean)})`
          : top
            ? ` · baseline ${top.model} ${pct(top.mean)}`
            : "";
      const bestText = best ? `best ${best.model} ${pct(best.mean)}${vs}` : `no tuned model yet${vs}`;
      return `${e.name} (${d.datasets.refOf(e.evalVersionId)}, ${e.metric}): ${bestText} · spent ${fmt.usd(spend)}${e.budgetUsd !== null ? ` of ${fmt.usd(e.budgetUsd)}` : ""}`;
    });

  const month = d.costs.since(monthStart);
  const myMonth = d.costs.since(monthStart, new Set(mine.map((r) => r.id)));
  const monthName = monthStart.toLocaleString("en-US", { month: "long", year: "numeric", timeZone: "UTC" });
  return {
    title: "tuneloop",
    ephemeral: true,
    blocks: [
      runLines.length
        ? list(runLines, "Your recent runs")
        : list(["No runs yet. Start one with /tune run start <dataset> --experiment <name>."], "Your recent runs"),
      { type: "divider" },
      list(
        expLines.length ? expLines : ["No experiments yet. /tune experiment new <name> --eval <dataset>"],
        "Experiments: best score against baseline",
      ),
      { type: "divider" },
      list(
        [
          `All runs and evals: ${fmt.usd(month.totalUsd)} (training ${fmt.usd(month.trainingUsd)}, evals ${fmt.usd(month.evalUsd)}, judge ${fmt.usd(month.judgeUsd)}), ${fmt.seconds(month.wallSeconds)} of compute${month.unpriced ? "; some usage had no price, so this is a lower bound" : ""}.`,
          `Your runs: ${fmt.usd(myMonth.totalUsd)}.`,
        ],
        `Spend in ${monthName}`,
      ),
      text(`Updated ${fmt.time(now)} · type /tune help for the commands.`),
    ],
  };
}
