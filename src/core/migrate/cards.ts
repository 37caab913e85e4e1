/** The replies of `migrate openai`: the job list, the start, and the verdict (also posted in the run's thread). */
import { list, table, text, type Block, type Card, type CardFile } from "../cards.ts";
import { answerRows } from "../evals/answers.ts";
import { fmt } from "../format.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { EngineRepo } from "../ports.ts";
import type { MigrateOutcome, MigrationCost, MigrationVerdict } from "./service.ts";
import type { FineTuneJob, JobPage, ReportedValue } from "./source.ts";

const shown = (v: ReportedValue) => (v === null ? "-" : String(v));

export function hyperText(h: FineTuneJob["hyper"]): string {
  const lr =
    typeof h.learningRateMultiplier === "number"
      ? `lr x${h.learningRateMultiplier}`
      : `lr ${shown(h.learningRateMultiplier)}`;
  return `epochs ${shown(h.epochs)}, ${lr}, batch ${shown(h.batchSize)}`;
}

export function jobsCard(page: JobPage, after?: string): Card {
  const blocks: Block[] = [];
  if (!page.jobs.length) {
    blocks.push(text(after ? `No more jobs after ${after}.` : "This OpenAI organisation has no fine-tuning jobs."));
  } else {
    blocks.push(
      table(
        ["Job", "Tuned model", "Base", "Method", "Training / validation", "Hyperparameters", "Created", "Status"],
        page.jobs.map((j) => [
          j.id,
          j.tunedModel ?? "-",
          j.baseModel,
          j.method,
          `${j.trainingFile} / ${j.validationFile ?? "none"}`,
          hyperText(j.hyper),
          fmt.time(j.createdAt),
          j.status,
        ]),
      ),
    );
    blocks.push(
      text(
        `Migrate one: /tune migrate openai start <tuned model or job id> --to together:<base>${page.hasMore && page.lastId ? `\nMore jobs: /tune migrate openai list --after ${page.lastId}` : ""}`,
      ),
    );
  }
  return { title: "OpenAI fine-tuning jobs", blocks };
}

export function startBlocks(o: MigrateOutcome): Block[] {
  const m = o.migration;
  const from =
    m.evalFrom === "validation"
      ? `the job's validation file, stored as ${m.evalSet}`
      : m.evalFrom === "held-out"
        ? `${m.evalSet}, held out of the training file`
        : `${m.evalSet} (--eval)`;
  return [
    text(
      `Migrating ${m.source} (OpenAI job ${m.job}, base ${m.baseModel}) to ${o.start.run.provider}:${o.start.run.baseModel} in experiment ${o.experiment.name}.`,
    ),
    list(
      [
        `1. Training file stored as ${m.training}${m.validation ? `; validation file as ${m.validation}` : ""} (checked like an upload).`,
        `2. Eval set: ${from}.`,
        `3. ${m.source} answers every eval row (its answers and their cost are recorded) in run ${o.start.run.id}'s evals.`,
        `4. Run ${o.start.run.id} trains the same recipe: ${o.recipe.notes.join("; ")}.`,
        `5. Non-inferiority: at least as good when the 95% interval of (target - source) stays above -${m.marginPts} pts.`,
        "6. Cost per 1,000 requests of source and target on this eval's traffic shape.",
      ],
      "Steps",
    ),
    ...(o.notes.length ? [list(o.notes, "Notes")] : []),
  ];
}

export function costLines(c: MigrationCost): string[] {
  const usd = (x: number | null) => (x === null ? "unknown (no price set)" : fmt.usd(x));
  const compute =
    c.target.per1kUsd === 0 && c.target.per1kComputeMs !== null
      ? ` (no per-token price: ${fmt.duration(c.target.per1kComputeMs)} of compute per 1,000)`
      : "";
  return [
    `Traffic shape of this eval: ${fmt.count(c.shape.inputTokens, "token")} in, ${fmt.count(c.shape.outputTokens, "token")} out per request (the source's answers).`,
    `Per 1,000 requests: ${c.source.model} ${usd(c.source.per1kUsd)}; ${c.target.model} ${usd(c.target.per1kUsd)}${compute}.`,
    ...(c.target.measuredPer1kUsd !== null && usd(c.target.measuredPer1kUsd) !== usd(c.target.per1kUsd)
      ? [`(${c.target.model} measured on its own answers: ${usd(c.target.measuredPer1kUsd)} per 1,000.)`]
      : []),
  ];
}

const clip = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n)}…` : s).replace(/\s+/g, " ");

/** The verdict: outcome in words, the regressed rows (a few shown, all in a file), the cost of each. */
export async function verdictCardOf(
  deps: { repo: EngineRepo; datasets: DatasetService },
  v: MigrationVerdict,
): Promise<Card> {
  const t = v.test;
  const blocks: Block[] = [
    text(t.sentence),
    text(
      `${v.source.model} ${fmt.pct(v.source.mean ?? 0)} vs ${v.target.model} (${v.run.provider}:${v.run.baseModel}, tuned) ${fmt.pct(v.target.mean ?? 0)} on ${v.migration.evalSet}, metric ${v.source.metric}${t.mdePts !== null ? `; MDE at this eval size ${t.mdePts.toFixed(1)} pts (80% power)` : ""}.`,
    ),
  ];
  const rows = await answerRows(deps, { eval: v.target, base: v.source });
  const worse = rows.filter((r) => r.base !== null && r.score < r.base.score);
  if (worse.length) {
    blocks.push(
      list(
        worse
          .slice(0, 5)
          .map(
            (r) =>
              `line ${r.line}: ${clip([...r.messages].reverse().find((m) => m.role === "user")?.content ?? "")} | expected "${clip(r.expected, 60)}" | source "${clip(r.base?.answer ?? "", 60)}" | target "${clip(r.answer, 60)}"`,
          )
          .concat(worse.length > 5 ? [`and ${worse.length - 5} more (all in ${fileName(v)})`] : []),
        `Rows where the target regressed (${worse.length}): lines ${t.regressions.slice(0, 20).join(", ")}${t.regressions.length > 20 ? ", ..." : ""}`,
      ),
    );
  } else {
    blocks.push(text("No row where the target scored lower than the source."));
  }
  blocks.push(text(costLines(v.cost).join("\n")));
  const file: CardFile = {
    name: fileName(v),
    mime: "application/jsonl",
    title: `Golden answers of ${v.source.model} beside ${v.target.model}`,
    content: `${rows
      .map((r) =>
        JSON.stringify({
          line: r.line,
          expected: r.expected,
          source: { model: v.source.model, answer: r.base?.answer ?? null, score: r.base?.score ?? null },
          target: { model: v.target.model, answer: r.answer, score: r.score },
          regressed: r.base !== null && r.score < r.base.score,
        }),
      )
      .join("\n")}\n`,
  };
  return {
    title: `Migration verdict · ${v.migration.job}: ${t.outcome}`,
    tone: t.outcome === "non-inferior" ? "success" : t.outcome === "inferior" ? "error" : "warning",
    blocks,
    files: [file],
  };
}

const fileName = (v: MigrationVerdict) => `migration-${v.run.id}-answers.jsonl`;
