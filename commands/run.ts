import { z } from "zod";
import type { App } from "../src/app.ts";
import { fmt, list, table, text, type Card } from "../src/core/cards.ts";
import type { RunRecord } from "../src/core/ports.ts";
import { progressLine } from "../src/core/runs/cards.ts";
import { isFinal, STATE_LABEL } from "../src/core/runs/states.ts";
import { runCardFor, runJson, runVerdict, runVerdictCard } from "../src/views/runs.ts";
import { TuneError, ErrorCode } from "../src/errors.ts";
import { isAdmin } from "./permissions.ts";
import { defineCommand, type CommandContext, type CommandResult } from "./types.ts";

// The run views live in src/views/runs.ts (re-exported for the commands that show runs).
export { runCardFor, runJson, runVerdict, runVerdictCard };

const runId = z.coerce.number().int().positive();

/** Runs (or waits for) a run until it ends, reporting progress. Used by --wait and the demo. */
export async function waitForRun(ctx: CommandContext, id: number): Promise<RunRecord> {
  let last = "";
  const stop = ctx.app.worker.listen({
    onRun: (r) => {
      if (r.id !== id) return;
      const line = r.state === "running" ? (progressLine(r) ?? "running") : STATE_LABEL[r.state];
      if (line !== last) ctx.progress(`run ${id}: ${line}`);
      last = line;
    },
  });
  try {
    for (;;) {
      const r = ctx.app.runs.find(id);
      if (!r) throw new Error(`run ${id} vanished`);
      if (isFinal(r.state) || r.state === "awaiting_confirmation") return r;
      const done = await ctx.app.worker.runNext(id);
      if (!done) await new Promise((res) => setTimeout(res, 500)); // another process holds it: poll
    }
  } finally {
    stop();
  }
}

/** In chat, only whoever started a run (or an admin) may confirm or cancel it. */
function assertStarterOrAdmin(ctx: CommandContext, id: number, what: string) {
  if (ctx.surface === "console" || ctx.surface === "cli") return;
  const r = ctx.app.runs.get(id);
  if (!r.createdById || r.createdById === ctx.user.id || isAdmin(ctx)) return;
  throw new TuneError(
    ErrorCode.PermissionDenied,
    `Only ${r.createdBy ?? "whoever started run " + id} or an admin (${ctx.app.config.permissions.admins.join(", ") || "none set: TUNELOOP_ADMINS"}) may ${what} run ${id}.`,
  );
}

export const runStart = defineCommand({
  path: ["run", "start"],
  summary:
    "Start a fine-tune of a dataset in an experiment: shows the cost estimate first; evals follow automatically.",
  options: z.object({
    dataset: z.string().describe("training dataset, name[@vN]"),
    experiment: z.string().describe("experiment name"),
    valid: z
      .string()
      .optional()
      .describe("validation dataset, name[@vN]: its loss is drawn beside the training loss (local trainer)"),
    provider: z.string().optional().describe("trainer: local (default)"),
    model: z.string().optional().describe("base model (default: the provider's)"),
    epochs: z.coerce.number().int().min(1).max(100).optional().describe("epochs (default: the cookbook rule)"),
    lr: z.coerce.number().positive().optional().describe("learning rate"),
    batchSize: z.coerce.number().int().min(1).max(512).optional().describe("batch size"),
    loraRank: z.coerce.number().int().min(1).max(256).optional().describe("LoRA rank"),
    loraAlpha: z.coerce.number().positive().optional().describe("LoRA alpha (default 2 x rank)"),
    seed: z.coerce.number().int().min(0).optional().describe("seed"),
    yes: z.boolean().default(false).describe("confirm within the budget without asking"),
    wait: z.boolean().default(false).describe("CLI: block until the run and its evals end"),
  }),
  positional: ["dataset"],
  complete: { dataset: "dataset", experiment: "experiment", valid: "dataset" },
  permission: "spend",
  examples: [
    "/tune run start support-train --experiment support --epochs 3",
    "/tune run start support-train --experiment support --valid support-valid",
    "npx tuneloop run start demo-train --experiment demo --yes --wait --json",
  ],
  async handler(ctx, input) {
    const out = await ctx.app.runs.start({
      dataset: input.dataset,
      experiment: input.experiment,
      valid: input.valid,
      provider: input.provider,
      model: input.model,
      epochs: input.epochs,
      learningRate: input.lr,
      batchSize: input.batchSize,
      loraRank: input.loraRank,
      loraAlpha: input.loraAlpha,
      seed: input.seed,
      yes: input.yes,
      user: ctx.user.name,
      userId: ctx.user.id,
      channelId: ctx.surface === "cli" || ctx.surface === "schedule" ? null : ctx.channelId,
      idempotencyKey: ctx.requestId,
    });
    return runReply(ctx, out.run, {
      wait: input.wait,
      warnings: out.warnings,
      lead: out.created ? undefined : "This request was already received: here is the run it started.",
    });
  },
});

/**
 * Who will run a queued run, as the reply says it: the live workers (bots whose heartbeat row is fresh), or nobody,
 * and then what to do. Null for a run that is not queued.
 */
export function runnerNote(
  app: App,
  run: RunRecord,
  waitHint: boolean,
): { text: string; runners: Array<{ label: string; host: string; pid: number; seenAt: string }> } | null {
  if (run.state !== "queued") return null;
  const live = app.runs.runners();
  const runners = live.map((w) => ({ label: w.label, host: w.host, pid: w.pid, seenAt: w.seenAt.toISOString() }));
  if (!live.length) {
    return {
      text: `Nobody is running runs right now, so run ${run.id} waits in the queue: start the bot (\`npm start\`) and it runs it${waitHint ? ", or pass --wait to run it in this process" : ""}.`,
      runners,
    };
  }
  const now = app.clock.now().getTime();
  const who = live.map(
    (w) =>
      `${w.label} (${w.host}, pid ${w.pid}, seen ${Math.max(0, Math.round((now - w.seenAt.getTime()) / 1000))} s ago)`,
  );
  return {
    text: `Run ${run.id} is queued: ${who.join(" or ")} will run it${live.length > 1 ? ", whichever is free first" : ""}.`,
    runners,
  };
}

/**
 * Adds who will run a queued run to its reply (always in the CLI; in chat, where the bot itself runs it, only when
 * nobody would) and returns the `runner` field of its JSON.
 */
export function addRunnerNote(ctx: CommandContext, card: Card, run: RunRecord, waitHint: boolean) {
  const note = runnerNote(ctx.app, run, waitHint);
  if (!note) return {};
  if (ctx.surface === "cli" || !note.runners.length) card.blocks.push(text(note.text));
  return { runner: { live: note.runners.length > 0, runners: note.runners, note: note.text } };
}

/** The reply to a command that queued (or, with --wait, ran) a run: its card, who runs it, its verdict when done. */
async function runReply(
  ctx: CommandContext,
  queued: RunRecord,
  opts: { wait: boolean; warnings?: string[]; lead?: string; keepMessage?: boolean },
): Promise<CommandResult> {
  let run = queued;
  if (opts.wait && run.state !== "awaiting_confirmation") run = await waitForRun(ctx, run.id);
  const card = runCardFor(ctx.app, run);
  if (opts.lead) card.blocks.unshift(text(opts.lead));
  if (opts.warnings?.length) card.blocks.push(list(opts.warnings, "Warnings"));
  const runner = addRunnerNote(ctx, card, run, true);
  const v = isFinal(run.state) ? runVerdict(ctx.app, run) : null;
  if (v) card.thread = [await runVerdictCard(ctx.app, run, v)];
  return {
    card,
    data: {
      ...runJson(ctx.app, run),
      warnings: opts.warnings ?? [],
      needsConfirmation: run.state === "awaiting_confirmation",
      ...runner,
    },
    failed: run.state === "failed",
    // The run's card (kept current in chat) is the message that started it; a confirmation leaves it there.
    onPosted: opts.keepMessage
      ? undefined
      : ({ channelId, messageId }) => {
          ctx.app.runs.setMessage(run.id, { channelId, messageId });
        },
  };
}

export const runRerun = defineCommand({
  path: ["run", "rerun"],
  summary: "Start a run again with the same dataset, model and hyperparameters (optionally another seed).",
  options: z.object({
    id: runId.describe("run id"),
    seed: z.coerce.number().int().min(0).optional().describe("a new seed"),
    yes: z.boolean().default(false).describe("confirm within the budget without asking"),
    wait: z.boolean().default(false).describe("CLI: block until the run and its evals end"),
  }),
  positional: ["id"],
  complete: { id: "run" },
  permission: "spend",
  examples: ["/tune run rerun 7", "/tune run rerun 7 --seed 2"],
  async handler(ctx, input) {
    const out = await ctx.app.runs.rerun(input.id, {
      user: ctx.user.name,
      userId: ctx.user.id,
      channelId: ctx.surface === "cli" || ctx.surface === "schedule" ? null : ctx.channelId,
      seed: input.seed,
      yes: input.yes,
      idempotencyKey: ctx.requestId,
    });
    return runReply(ctx, out.run, { wait: input.wait, warnings: out.warnings, lead: `Re-run of run ${input.id}.` });
  },
});

export const runConfirm = defineCommand({
  path: ["run", "confirm"],
  summary: "Confirm a run that waits for confirmation of its cost.",
  options: z.object({
    id: runId.describe("run id"),
    wait: z.boolean().default(false).describe("CLI: block until the run and its evals end"),
  }),
  positional: ["id"],
  complete: { id: "run" },
  permission: "spend",
  examples: ["/tune run confirm 7"],
  async handler(ctx, input) {
    assertStarterOrAdmin(ctx, input.id, "confirm");
    const r = ctx.app.runs.confirm(input.id, ctx.user.name);
    return runReply(ctx, r, { wait: input.wait, keepMessage: true });
  },
});

export const runCancel = defineCommand({
  path: ["run", "cancel"],
  summary: "Cancel a run (a running one stops within a training step).",
  options: z.object({ id: runId.describe("run id") }),
  positional: ["id"],
  complete: { id: "run" },
  permission: "spend",
  examples: ["/tune run cancel 7"],
  async handler(ctx, input) {
    assertStarterOrAdmin(ctx, input.id, "cancel");
    const r = ctx.app.runs.cancel(input.id, ctx.user.name);
    const card = runCardFor(ctx.app, r);
    if (r.state === "running") card.blocks.unshift(text(`Asked run ${r.id} to stop; it stops within a training step.`));
    return { card, data: runJson(ctx.app, r) };
  },
});

export const runStatus = defineCommand({
  path: ["run", "status"],
  summary: "Show a run (default: the latest), with its progress, verdict and cost.",
  options: z.object({ id: runId.optional().describe("run id (default: the latest)") }),
  positional: ["id"],
  complete: { id: "run" },
  permission: "read",
  examples: ["/tune run status", "/tune run status 7"],
  async handler(ctx, input) {
    const r = input.id ? ctx.app.runs.get(input.id) : ctx.app.runs.list({ limit: 1 })[0];
    if (!r)
      return {
        card: { title: "Runs", blocks: [text("No runs yet. /tune run start <dataset> --experiment <name>")] },
        data: null,
      };
    const card = runCardFor(ctx.app, r);
    const v = runVerdict(ctx.app, r);
    if (v) card.thread = [await runVerdictCard(ctx.app, r, v)];
    return { card, data: runJson(ctx.app, r) };
  },
});

export const runShow = defineCommand({
  path: ["run", "show"],
  summary: "Show a run with its events and the discussion people had in its thread.",
  options: z.object({ id: runId.describe("run id") }),
  positional: ["id"],
  complete: { id: "run" },
  permission: "read",
  examples: ["/tune run show 7"],
  async handler(ctx, input) {
    const r = ctx.app.runs.get(input.id);
    const card = runCardFor(ctx.app, r);
    const talk = ctx.app.runs.discussion(r.id).map((d) => ({
      at: d.at.toISOString(),
      user: d.user ?? "?",
      text: d.text ?? "",
      files: d.files?.length ?? 0,
    }));
    const states = ctx.app.runs.history(r.id).map((e) => ({ ...e, at: e.at.toISOString() }));
    card.blocks.push(
      list(
        states.map(
          (s) => `${fmt.time(new Date(s.at))} ${s.from} -> ${s.to} (${s.by})${s.reason ? `: ${s.reason}` : ""}`,
        ),
        "History",
      ),
    );
    card.blocks.push(
      talk.length
        ? list(
            talk.map(
              (t) =>
                `${fmt.time(new Date(t.at))} ${t.user}: ${t.text}${t.files ? ` (${fmt.count(t.files, "file")})` : ""}`,
            ),
            `Discussion (${talk.length})`,
          )
        : text("No discussion yet: replies in the run's thread are kept here."),
    );
    return { card, data: { ...runJson(ctx.app, r), history: states, discussion: talk } };
  },
});

export const runList = defineCommand({
  path: ["run", "list"],
  summary: "List recent runs.",
  options: z.object({
    experiment: z.string().optional().describe("only this experiment"),
    limit: z.coerce.number().int().min(1).max(200).default(20),
  }),
  complete: { experiment: "experiment" },
  permission: "read",
  examples: ["/tune run list", "/tune run list --experiment support"],
  async handler(ctx, input) {
    const exp = input.experiment ? ctx.app.experiments.get(input.experiment) : null;
    const runs = ctx.app.runs.list({ experimentId: exp?.id, limit: input.limit });
    const rows = runs.map((r) => {
      const tuned = ctx.app.evals.ofRun(r.id).find((e) => e.role === "tuned");
      return { r, tuned, cost: ctx.app.costs.ofRun(r.id).totalUsd };
    });
    return {
      card: runs.length
        ? {
            title: `Runs (${runs.length})`,
            blocks: [
              table(
                ["run", "state", "experiment", "dataset", "model", "score", "cost"],
                rows.map(({ r, tuned, cost }) => [
                  `#${r.id}`,
                  STATE_LABEL[r.state],
                  ctx.app.experiments.byId(r.experimentId)?.name ?? "?",
                  ctx.app.datasets.refOf(r.datasetVersionId),
                  `${r.provider}:${r.baseModel}`,
                  tuned?.mean != null ? fmt.pct(tuned.mean) : "-",
                  fmt.usd(cost),
                ]),
              ),
            ],
          }
        : { title: "Runs", blocks: [text("No runs yet. /tune run start <dataset> --experiment <name>")] },
      data: rows.map(({ r, tuned, cost }) => ({
        id: r.id,
        state: r.state,
        experiment: ctx.app.experiments.byId(r.experimentId)?.name ?? null,
        dataset: ctx.app.datasets.refOf(r.datasetVersionId),
        provider: r.provider,
        baseModel: r.baseModel,
        score: tuned?.mean ?? null,
        costUsd: cost,
        createdAt: r.createdAt.toISOString(),
      })),
    };
  },
});

export const runCommands = [runStart, runRerun, runConfirm, runCancel, runStatus, runShow, runList];
