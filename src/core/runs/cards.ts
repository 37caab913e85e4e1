/** Cards for runs, evals, comparisons, leaderboards and experiments (platform-neutral). */
import { fields, fmt, list, table, text, type Block, type Card, type CardAction } from "../cards.ts";
import { budgetLine } from "../costs/budget.ts";
import { costPer1k, type CostSummary } from "../costs/ledger.ts";
import { estimateError } from "../costs/throughput.ts";
import type { Comparison } from "../evals/service.ts";
import { CI_METHOD_TEXT, mdeText, pValueText } from "../evals/service.ts";
import type { BudgetUse, EvalRecord, ExperimentRecord, HypothesisRecord, RunRecord } from "../ports.ts";
import type { RunEstimate } from "./service.ts";
import { STATE_LABEL } from "./states.ts";
import type { RunVerdict } from "./events.ts";
import { packBlocks, packRegressed, packWarning } from "../packs/cards.ts";
import { clusterMeasureBlocks } from "../iterate/cards.ts";

const TONE: Record<RunRecord["state"], Card["tone"]> = {
  estimating: "info",
  awaiting_confirmation: "warning",
  queued: "info",
  running: "info",
  stalled: "warning",
  succeeded: "success",
  failed: "error",
  cancelled: "warning",
};

export const pct = (x: number | null | undefined) => (x === null || x === undefined ? "-" : fmt.pct(x));
export const interval = (lo: number | null, hi: number | null) =>
  lo === null || hi === null ? "" : ` [${pct(lo)}, ${pct(hi)}]`;

export function hyperLine(r: RunRecord): string {
  const h = r.hyper;
  return `epochs ${h.epochs} · lr ${h.learningRate} · batch ${h.batchSize} · LoRA r ${h.loraRank} α ${h.loraAlpha} · seed ${h.seed}`;
}

export function progressLine(r: RunRecord): string | null {
  const p = r.progress;
  if (!p) return null;
  if (p.phase === "training") {
    if (!p.totalSteps) return "training: loading the model";
    const bar = `${p.step}/${p.totalSteps} steps (${Math.round(((p.step ?? 0) / p.totalSteps) * 100)}%)`;
    return `training: ${bar} · loss ${p.loss?.toFixed(3)} · ${fmt.int(p.tokensPerSec ?? 0)} tokens/s · ${fmt.duration(p.elapsedMs ?? 0)}`;
  }
  if (p.phase === "evaluating" && p.waitingFor)
    return `evaluating ${p.evalModel}: waiting for eval #${p.waitingFor} of the same model (another run is doing it)`;
  if (p.phase === "evaluating") return `evaluating ${p.evalModel}: ${p.evalDone ?? 0}/${p.evalTotal ?? "?"} rows`;
  return null;
}

export function estimateLine(e: RunEstimate): string {
  const wall =
    e.wallSeconds !== null
      ? ` · about ${fmt.seconds(e.wallSeconds)} of training${e.wallSource ? ` (${e.wallSource})` : ""}`
      : "";
  return `training ${fmt.usd(e.trainingUsd)} (${e.trainingBasis ? `${e.trainingBasis}; ${fmt.int(e.trainingTokens)} tokens` : `${fmt.int(e.trainingTokens)} tokens billed`} over ${fmt.count(e.epochs, "epoch")}) + evals ${fmt.usd(e.evalUsd)} (${fmt.int(e.evalRequests)} requests) = ${fmt.usd(e.totalUsd)}${wall}`;
}

/** A tuned model that is also a model reference of its own (a self-hosted adapter, `gpu:<adapter>`). */
const directRef = (r: RunRecord) => {
  const id = r.result?.tunedModelId;
  return typeof id === "string" && id.startsWith("gpu:") ? ` (${id})` : "";
};

export function runCard(r: RunRecord, ctx: { experiment: string; dataset: string; cost?: CostSummary }): Card {
  const e = r.estimate as RunEstimate | null;
  const f: Array<[string, string]> = [
    [
      "State",
      `${STATE_LABEL[r.state]}${r.stateReason ? ` (${r.stateReason})` : ""}${r.cancelRequestedAt && r.state === "running" ? " · cancel requested" : ""}`,
    ],
    ["Experiment", ctx.experiment],
    ["Dataset", ctx.dataset],
    ["Model", `${r.provider}:${r.baseModel}${r.tunedModel ? ` -> ${r.tunedModel}${directRef(r)}` : ""}`],
    ["Hyperparameters", hyperLine(r)],
  ];
  if (e) f.push(["Estimate", estimateLine(e)]);
  const q = e?.providerQuote;
  if (q?.available && q.usd !== null)
    f.push([
      `${q.provider}'s estimate`,
      `${fmt.usd(q.usd)}${q.trainTokens !== null ? ` (${fmt.int(q.trainTokens)} training tokens)` : ""}`,
    ]);
  if (e?.budgetUsd !== null && e?.budgetUsd !== undefined)
    f.push([
      "Budget",
      `${fmt.usd(e.spentUsd)} spent${e.heldUsd ? ` + ${fmt.usd(e.heldUsd)} held by other work` : ""} of ${fmt.usd(e.budgetUsd)} before this run; this run reserves its estimate until it ends`,
    ]);
  const took = trainingTimeLine(r);
  if (took) f.push(["Training time", took]);
  const prog = progressLine(r);
  if (prog && (r.state === "running" || r.state === "queued")) f.push(["Progress", prog]);
  if (ctx.cost && (r.state === "succeeded" || r.state === "failed" || r.state === "cancelled")) {
    f.push([
      "Cost",
      `${fmt.usd(ctx.cost.totalUsd)} (training ${fmt.usd(ctx.cost.trainingUsd)}, evals ${fmt.usd(ctx.cost.evalUsd)}, judge ${fmt.usd(ctx.cost.judgeUsd)}) · ${fmt.seconds(ctx.cost.wallSeconds)} of compute`,
    ]);
  }
  f.push(["Started by", `${r.createdBy ?? "?"} · ${fmt.time(r.createdAt)}`]);
  const blocks: Block[] = [fields(f)];
  if (r.state === "awaiting_confirmation") {
    blocks.push(text(`This run needs a confirmation: /tune run confirm ${r.id} (or /tune run cancel ${r.id}).`));
  } else if (r.state === "queued" || r.state === "running") {
    blocks.push(text(`Follow it with /tune run status ${r.id}; stop it with /tune run cancel ${r.id}.`));
  }
  return {
    title: `Run ${r.id} · ${STATE_LABEL[r.state]}`,
    subject: { kind: "run", id: r.id },
    tone: TONE[r.state],
    blocks,
    actions: runActions(r),
  };
}

/** Once training has ended: "estimated 2 min 48 s, took 3 min 10 s (+13%)". */
export function trainingTimeLine(r: RunRecord): string | null {
  const took = r.result?.trainWallMs;
  if (typeof took !== "number") return null;
  const e = r.estimate as RunEstimate | null;
  if (!e || e.wallSeconds === null || e.wallSeconds === undefined)
    return `took ${fmt.duration(took)} (no estimate for ${r.provider})`;
  return `estimated ${fmt.seconds(e.wallSeconds)}, took ${fmt.duration(took)} (${estimateError(e.wallSeconds, took / 1000)})`;
}

/** The buttons a run's card offers in its current state. */
export function runActions(r: RunRecord): CardAction[] {
  switch (r.state) {
    case "awaiting_confirmation":
      return [
        { id: "confirm", label: "Confirm", command: `run confirm ${r.id}`, style: "primary" },
        { id: "cancel", label: "Cancel", command: `run cancel ${r.id}`, style: "danger" },
      ];
    case "estimating":
    case "queued":
    case "running":
    case "stalled":
      return [{ id: "cancel", label: "Cancel run", command: `run cancel ${r.id}`, style: "danger" }];
    case "succeeded":
      return [
        { id: "compare-best", label: "Compare with best", command: `compare best run:${r.id}` },
        { id: "rerun", label: "Re-run", command: `run rerun ${r.id}` },
      ];
    default:
      return [{ id: "rerun", label: "Re-run", command: `run rerun ${r.id}` }];
  }
}

export function evalRow(e: EvalRecord): string[] {
  const s = e.summary;
  return [
    e.model,
    e.role,
    e.mean === null ? "-" : `${pct(e.mean)}${interval(e.ciLow, e.ciHigh)}`,
    String(e.n),
    s ? `${fmt.int(s.latencyMs.p50)}/${fmt.ms(s.latencyMs.p95)}` : "-",
    s ? (s.usd === null ? "unknown" : fmt.usd(costPer1k(s.usd, e.n) ?? 0)) : "-",
  ];
}

/** What an eval's card says about rows that were not answered or graded normally (empty when none). */
export function evalFlagNotes(e: EvalRecord): string[] {
  const f = e.summary?.flags;
  if (!f) return [];
  const notes: string[] = [];
  if (f.gradeTimeouts)
    notes.push(
      `${e.model}: ${f.gradeTimeouts} of ${e.n} answer(s) could not be graded within the grader's time limit (its pattern backtracks too much) and count as fails; see their rows, and simplify the pattern.`,
    );
  if (f.usageEstimated)
    notes.push(
      `${e.model}: the provider reported missing or implausible token usage for ${f.usageEstimated} request(s); tuneloop booked its own token count for them instead.`,
    );
  if (f.truncated)
    notes.push(
      `${e.model}: ${f.truncated} answer(s) were longer than the size limit (TUNELOOP_MAX_ANSWER_BYTES) and were cut.`,
    );
  return notes;
}

export const EVAL_COLUMNS = ["model", "role", "score [95% CI]", "n", "latency p50/p95", "$ per 1k requests"];

export function comparisonBlocks(c: Comparison): Block[] {
  const blocks: Block[] = [text(c.verdict)];
  const f: Array<[string, string]> = [
    ["Difference", `${fmt.pts(c.diff)} (${c.b.model} ${pct(c.b.mean)} vs ${c.a.model} ${pct(c.a.mean)})`],
    ["95% CI", `${fmt.pts(c.ci[0])} to ${fmt.pts(c.ci[1])} (${CI_METHOD_TEXT[c.ciMethod]})`],
    [
      "Test",
      `${c.test}, ${pValueText(c.pValue)}${c.discordant ? ` (discordant: ${c.discordant.aOnly} only ${c.a.model}, ${c.discordant.bOnly} only ${c.b.model})` : ""}`,
    ],
    ["Paired correlation", c.correlation === null ? "-" : c.correlation.toFixed(2)],
    ["Detectable effect", mdeText(c)],
  ];
  if (c.clusteredSe !== null) f.push(["Clustered SE", fmt.pts(c.clusteredSe, { digits: 2, signed: false })]);
  blocks.push(fields(f));
  if (c.regressions.length) {
    blocks.push(
      list(
        [
          `${fmt.count(c.regressions.length, "row")}: lines ${c.regressions.slice(0, 15).join(", ")}${c.regressions.length > 15 ? ", ..." : ""}`,
        ],
        `Regressed (${c.a.model} right, ${c.b.model} wrong)`,
      ),
    );
  }
  return blocks;
}

export function compareCard(c: Comparison): Card {
  return {
    title: `${c.b.model} vs ${c.a.model} on ${c.dataset} (${c.metric})`,
    tone: c.significant ? (c.diff > 0 ? "success" : "error") : "info",
    blocks: comparisonBlocks(c),
  };
}

export function verdictCard(r: RunRecord, v: RunVerdict, cost: CostSummary): Card {
  const blocks: Block[] = [table(EVAL_COLUMNS, v.evals.map(evalRow))];
  const chance = v.evals.find((e) => e.summary?.chance)?.summary?.chance;
  if (chance) {
    blocks.push(
      text(
        `Chance baseline: always answering "${chance.label}" scores ${pct(chance.accuracy)}. Beating the base model can mean only that the answer format was learned; compare with this line too.`,
      ),
    );
  }
  const notes = v.evals.flatMap(evalFlagNotes);
  if (notes.length) blocks.push(list(notes, "Flagged"));
  for (const c of v.comparisons) blocks.push(text(c.verdict));
  const main = v.comparisons[0];
  if (main?.regressions.length) {
    blocks.push(
      list(
        [`lines ${main.regressions.slice(0, 15).join(", ")}${main.regressions.length > 15 ? ", ..." : ""}`],
        `Rows that regressed against ${main.a.model} (${main.regressions.length})`,
      ),
    );
  }
  if (v.hypotheses.length)
    blocks.push(
      list(
        v.hypotheses.map((h) => `"${h.text}": ${h.verdict.summary}`),
        "Hypotheses",
      ),
    );
  if (v.clusters) blocks.push(...clusterMeasureBlocks(v.clusters));
  if (v.packs) {
    blocks.push(...packBlocks(v.packs));
    const warning = packWarning(v.packs, main);
    if (warning) blocks.unshift(warning);
  }
  const tuned = v.evals[0];
  const costLines = [
    `This run: ${fmt.usd(cost.totalUsd)} (training ${fmt.usd(cost.trainingUsd)}, evals ${fmt.usd(cost.evalUsd)}, judge ${fmt.usd(cost.judgeUsd)}), ${fmt.seconds(cost.wallSeconds)} of compute.`,
  ];
  const per1k = (e: EvalRecord) => {
    const usd = costPer1k(e.summary?.usd ?? null, e.n);
    const wall = e.summary && e.n ? ` (${fmt.duration((e.summary.wallMs / e.n) * 1000)} of compute)` : "";
    return usd === null ? "unknown (no price set)" : `${fmt.usd(usd)}${usd === 0 ? wall : ""}`;
  };
  for (const e of v.evals.slice(1))
    costLines.push(`Per 1,000 requests: ${tuned.model} ${per1k(tuned)} vs ${e.model} ${per1k(e)}.`);
  blocks.push(text(costLines.join("\n")));
  const best = main?.significant && main.diff > 0;
  const packDrop = v.packs?.comparisons.some(packRegressed);
  return { title: `Verdict for run ${r.id}`, tone: packDrop ? "error" : best ? "success" : "info", blocks };
}

export function leaderboardCard(exp: ExperimentRecord, evalRef: string, evals: EvalRecord[], spend: CostSummary): Card {
  const sorted = [...evals].sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1));
  const blocks: Block[] = [
    text(
      `Eval set ${evalRef} (frozen, sha256 ${exp.evalSha256.slice(0, 12)}), metric ${exp.metric}; latest eval of each model.`,
    ),
    sorted.length
      ? table(EVAL_COLUMNS, sorted.map(evalRow))
      : text("No evals yet. Start a run: /tune run start <dataset> --experiment " + exp.name),
    text(`Spend: ${fmt.usd(spend.totalUsd)}${exp.budgetUsd !== null ? ` of ${fmt.usd(exp.budgetUsd)} budget` : ""}.`),
  ];
  return { title: `Leaderboard · ${exp.name}`, blocks };
}

export function experimentCard(
  exp: ExperimentRecord,
  ctx: {
    evalRef: string;
    runs: RunRecord[];
    hypotheses: HypothesisRecord[];
    spend: CostSummary;
    /** Spend and reservations against the budget (shown instead of the spend alone). */
    budget?: BudgetUse;
    best?: EvalRecord;
  },
): Card {
  const f: Array<[string, string]> = [
    ["Eval set", `${ctx.evalRef} (frozen, sha256 ${exp.evalSha256.slice(0, 12)})`],
    ["Metric", `${exp.metric} · α = ${exp.alpha}`],
    ["Baselines", exp.baselines.length ? exp.baselines.join(", ") : "none"],
    [
      "Budget",
      ctx.budget
        ? budgetLine(ctx.budget)
        : exp.budgetUsd === null
          ? `no budget · ${fmt.usd(ctx.spend.totalUsd)} spent`
          : `${fmt.usd(ctx.spend.totalUsd)} spent of ${fmt.usd(exp.budgetUsd)}`,
    ],
    [
      "Runs",
      ctx.runs.length
        ? ctx.runs
            .slice(0, 8)
            .map((r) => `#${r.id} ${STATE_LABEL[r.state]}`)
            .join(", ")
        : "none yet",
    ],
  ];
  if (ctx.best) f.push(["Best", `${ctx.best.model} ${pct(ctx.best.mean)}${interval(ctx.best.ciLow, ctx.best.ciHigh)}`]);
  const blocks: Block[] = [fields(f)];
  if (ctx.hypotheses.length) {
    blocks.push(
      list(
        ctx.hypotheses.map(
          (h) =>
            `#${h.id} "${h.text}" (${h.metric}, expect ${h.expectPts >= 0 ? "+" : ""}${h.expectPts} pts): ${h.verdict ? h.verdict.summary : "open"}`,
        ),
        "Hypotheses",
      ),
    );
  }
  return { title: `Experiment ${exp.name}`, blocks };
}
