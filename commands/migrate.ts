import { z } from "zod";
import type { App } from "../src/app.ts";
import { text, type Card } from "../src/core/cards.ts";
import { hyperText, jobsCard, startBlocks } from "../src/core/migrate/cards.ts";
import type { MigrationVerdict } from "../src/core/migrate/service.ts";
import { migrationService } from "../src/views/migrate.ts";
import { parseMargin } from "../src/core/migrate/verdict.ts";
import type { RunRecord } from "../src/core/ports.ts";
import { isFinal, STATE_LABEL } from "../src/core/runs/states.ts";
import { ErrorCode, TuneError } from "../src/errors.ts";
import { checkPermission } from "./permissions.ts";
import { addRunnerNote, runCardFor, runJson, runVerdict, runVerdictCard, waitForRun } from "./run.ts";
import { defineCommand, type CommandContext } from "./types.ts";

function verdictJson(v: MigrationVerdict | null) {
  if (!v) return null;
  return {
    outcome: v.test.outcome,
    sentence: v.test.sentence,
    marginPts: v.test.marginPts,
    diffPts: v.test.diffPts,
    ciPts: v.test.ciPts,
    mdePts: v.test.mdePts,
    n: v.test.n,
    regressions: v.test.regressions,
    source: { model: v.source.model, evalId: v.source.id, mean: v.source.mean },
    target: { model: v.target.model, evalId: v.target.id, mean: v.target.mean },
    cost: v.cost,
  };
}

const needs = (action: string, what: string, example: string) =>
  new TuneError(ErrorCode.InvalidOptions, `migrate openai ${action} needs ${what}, e.g. ${example}`);

async function migrationReply(
  ctx: CommandContext,
  run: RunRecord,
  lead: Card["blocks"],
  wait: boolean,
  marginPts?: number,
) {
  const app = ctx.app;
  if (wait && run.state !== "awaiting_confirmation") run = await waitForRun(ctx, run.id);
  const svc = migrationService(app);
  const card = runCardFor(app, run);
  card.blocks.unshift(...lead);
  const runner = addRunnerNote(ctx, card, run, true);
  const v = svc.verdict(run, marginPts);
  const rv = isFinal(run.state) ? runVerdict(app, run) : null;
  if (rv) card.thread = [await runVerdictCard(app, run, rv)];
  if (v) card.blocks.push(text(v.test.sentence));
  else if (!isFinal(run.state))
    card.blocks.push(
      text(
        `The verdict follows when run ${run.id} has trained and evaluated both models (${STATE_LABEL[run.state]} now): /tune migrate openai show ${svc.record(run)?.job ?? run.id}.`,
      ),
    );
  return {
    card,
    data: { migration: svc.record(run), verdict: verdictJson(v), ...runJson(app, run), ...runner },
    failed: run.state === "failed" || v?.test.outcome === "inferior",
    onPosted: ({ channelId, messageId }: { channelId: string; messageId: string }) => {
      app.runs.setMessage(run.id, { channelId, messageId });
    },
  };
}

/** --margin in points (null when not given); a value that is not a margin is refused. */
function margin(app: App, given: string | undefined): number | null {
  if (given === undefined) return null;
  const pts = parseMargin(given);
  if (pts === null)
    throw new TuneError(
      ErrorCode.InvalidOptions,
      `--margin ${given.slice(0, 20)} is not a margin in points: write e.g. --margin 2pts (between 0 and 100; default ${app.config.migrateMarginPts}, TUNELOOP_MIGRATE_MARGIN_PTS).`,
    );
  return pts;
}

export const migrateOpenai = defineCommand({
  path: ["migrate", "openai"],
  summary:
    "Leave OpenAI fine-tuning: list (its tuned models), start <ft:model|job> --to provider:base (retrain, prove as good), show <job>.",
  options: z.object({
    action: z.enum(["list", "start", "show"]).describe("list the jobs, start a migration, or show its verdict"),
    ref: z.string().max(300).optional().describe("start/show: the tuned model (ft:...) or its job id (ftjob-...)"),
    to: z
      .string()
      .max(300)
      .optional()
      .describe("start: target trainer and base model, provider:base (e.g. together:...)"),
    eval: z.string().optional().describe("start: eval dataset name[@vN] (default: the job's validation file)"),
    margin: z
      .string()
      .optional()
      .describe("non-inferiority margin, e.g. 2pts (TUNELOOP_MIGRATE_MARGIN_PTS); show: judge the evals again at it"),
    metric: z.string().default("exact").describe("start: grader of the eval (as experiment new --metric)"),
    budget: z.coerce.number().min(0).optional().describe("start: the migration experiment's budget in USD"),
    dropBadRows: z.boolean().default(false).describe("start: store a file's good rows when some are bad"),
    after: z.string().max(200).optional().describe("list: the last job id of the previous page"),
    limit: z.coerce.number().int().min(1).max(100).default(20).describe("list: jobs per page"),
    yes: z.boolean().default(false).describe("start: confirm within the budget without asking"),
    wait: z.boolean().default(false).describe("CLI: run (or wait for) the migration's run until its verdict"),
  }),
  positional: ["action", "ref"],
  permission: "read",
  examples: [
    "/tune migrate openai list",
    "/tune migrate openai start ft:gpt-4o-mini-2024-07-18:acme:support:9xYz --to together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference --margin 2pts",
    "/tune migrate openai show ftjob-abc123",
  ],
  async handler(ctx, input) {
    const app = ctx.app;
    const svc = migrationService(app);
    if (input.action === "list") {
      const page = await svc.list({ after: input.after, limit: input.limit });
      return {
        card: jobsCard(page, input.after),
        data: {
          jobs: page.jobs.map((j) => ({ ...j, createdAt: j.createdAt.toISOString(), hyperText: hyperText(j.hyper) })),
          hasMore: page.hasMore,
          next: page.hasMore ? page.lastId : null,
        },
      };
    }
    if (!input.ref)
      throw needs(input.action, "the tuned model or job id", `/tune migrate openai ${input.action} ftjob-abc123`);
    if (input.action === "show") {
      // By job id it is read from this bot's data alone (OpenAI need not answer: the tuned model may be retired).
      const jobId = input.ref.startsWith("ft:") ? (await svc.findJob(input.ref)).id : input.ref.trim();
      const run = svc.runsOf(jobId)?.runs[0];
      if (!run)
        throw new TuneError(
          "migrate_not_started",
          `No migration of ${input.ref.slice(0, 120)} yet. Start one: /tune migrate openai start ${input.ref.slice(0, 120)} --to <provider>:<base>.`,
        );
      return migrationReply(ctx, run, [], input.wait, margin(app, input.margin) ?? undefined);
    }
    // start
    const refusal = checkPermission("spend", ctx);
    if (refusal) throw new TuneError(ErrorCode.PermissionDenied, refusal);
    if (!input.to)
      throw needs(
        "start",
        "--to <provider>:<base model>",
        `/tune migrate openai start ${input.ref} --to together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference`,
      );
    const marginPts = margin(app, input.margin) ?? app.config.migrateMarginPts;
    app.evals.checkMetric(input.metric);
    const out = await svc.start({
      ref: input.ref,
      to: input.to,
      eval: input.eval,
      marginPts,
      metric: input.metric,
      budgetUsd: input.budget,
      dropBadRows: input.dropBadRows,
      yes: input.yes,
      user: ctx.user.name,
      userId: ctx.user.id,
      channelId: ctx.surface === "cli" ? null : ctx.channelId,
      progress: (line) => ctx.progress(line),
    });
    const lead = [
      ...(out.start.created ? [] : [text("This migration was started before: here is its run.")]),
      ...startBlocks(out),
    ];
    return migrationReply(ctx, out.start.run, lead, input.wait);
  },
});

export const migrateCommands = [migrateOpenai];
