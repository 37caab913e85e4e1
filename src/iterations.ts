/**
 * Wires the iteration machinery of a running bot: the scheduler (recipes run as registry commands), sweep
 * summaries into their threads, digests and run news to subscribed channels.
 */
import { runCommand } from "../commands/dispatch.ts";
import { splitWords } from "../commands/parse.ts";
import type { App } from "./app.ts";
import { fmt, table, text } from "./core/cards.ts";
import type { ScheduleRecord } from "./core/ports.ts";
import { STATE_LABEL, isFinal } from "./core/runs/states.ts";
import { Scheduler, type ScheduleTimer } from "./core/schedules/scheduler.ts";
import { TuneError, ErrorCode } from "./errors.ts";
import { sweepSummaryCard } from "../commands/sweep.ts";
import { type CommandContext, SCHEDULE_ACTOR_ID } from "../commands/types.ts";

/** A recipe is the words of a command: rerun <experiment>, reeval <experiment>, sweep <experiment> ..., digest. */
export const RECIPES: Record<string, string[]> = {
  rerun: ["experiment", "rerun"],
  reeval: ["experiment", "reeval"],
  sweep: ["sweep"],
  digest: ["digest", "now"],
};

export function recipeWords(recipe: string): string[] {
  const [kind, ...rest] = splitWords(recipe);
  const head = RECIPES[kind ?? ""];
  if (!head) {
    throw new TuneError(
      ErrorCode.ScheduleInvalidRecipe,
      `"${recipe}" is not a recipe. Use one of: rerun <experiment>, reeval <experiment>, sweep <experiment> --epochs 1,2 ..., digest [--experiment e].`,
    );
  }
  return [...head, ...rest, ...(kind === "sweep" ? ["--yes"] : [])];
}

/**
 * The context a fire runs in: the system actor, shown as the schedule in what it starts ("Started by: schedule #3
 * (rerun exp)"), with a schedule's rights (commands/permissions.ts) and no host access (its type cannot hold one).
 */
export function scheduleContext(app: App, s: ScheduleRecord): CommandContext {
  return {
    app,
    user: { id: SCHEDULE_ACTOR_ID, name: `schedule #${s.id} (${s.recipe})` },
    channelId: s.channelId ?? "schedule",
    surface: "schedule",
    requestId: `schedule-${s.id}-${app.clock.now().toISOString()}`,
    progress: () => {},
  };
}

/** `timer`: a queue shared by replicas (src/scale/), so each fire runs once; unset: node-cron in this process. */
export function createScheduler(app: App, timer?: ScheduleTimer): Scheduler {
  return new Scheduler({
    timer,
    repo: app.iterations,
    clock: app.clock,
    maxFailures: app.config.schedules.maxFailures,
    minIntervalMs: app.config.schedules.minIntervalMs,
    checkRecipe: (recipe) => {
      const words = recipeWords(recipe);
      const exp = words[2];
      if ((words[0] === "experiment" || words[0] === "sweep") && exp)
        app.experiments.get(words[0] === "sweep" ? words[1] : exp);
    },
    run: async (s: ScheduleRecord) => {
      const words = recipeWords(s.recipe);
      const out = await runCommand(words, scheduleContext(app, s));
      const data = out.data as { skipped?: string } | null;
      // A fire that would spend past its experiment's budget is not a failure to retry: it is skipped, and the
      // schedule waits (paused) until someone raises the budget or the held work ends.
      if (out.error?.code === ErrorCode.BudgetExceeded)
        return {
          outcome: "skipped",
          message: out.error.message,
          pause: "The schedule is paused so that it does not try again at every fire.",
        };
      if (out.exitCode !== 0) return { outcome: "failed", message: out.error?.message ?? "failed", card: undefined };
      if (data?.skipped) return { outcome: "skipped", message: data.skipped };
      const card = { ...out.card, title: `${out.card.title ?? ""} (schedule #${s.id}: ${s.recipe})` };
      return { outcome: "ok", message: out.card.title ?? "ok", card, onPosted: out.onPosted };
    },
    notify: async (s, card) => {
      if (!app.chat || !s.channelId) return;
      const targets = new Set([s.channelId]);
      if (s.recipe.startsWith("digest")) {
        for (const sub of app.iterations.subscriptions()) if (sub.kinds.includes("digest")) targets.add(sub.channelId);
      }
      let first: { channelId: string; messageId: string } | undefined;
      for (const t of targets) {
        const { messageId } = await app.chat.post(t, card);
        first ??= { channelId: t, messageId };
        for (const th of card.thread ?? []) await app.chat.post(t, th, { threadId: messageId });
      }
      return first;
    },
    onError: (err) => app.log.warn({ err }, "schedule notification failed"),
  });
}

/** Posts sweep summaries in the sweep's thread, and run news and verdict lines to subscribed channels. */
export function attachIterationNotices(app: App): void {
  app.sweeps.onDone(async (sweep, summary) => {
    if (!app.chat || !sweep.channelId) return;
    const card = await sweepSummaryCard(app, sweep, summary);
    await app.chat.post(sweep.channelId, card, sweep.messageId ? { threadId: sweep.messageId } : undefined);
  });
  app.runs.events.listen({
    onRun: async (run, event) => {
      if (event !== "state" || !app.chat) return;
      const subs = app.iterations
        .subscriptions()
        .filter(
          (s) =>
            s.kinds.includes("runs") &&
            (s.experimentId === null || s.experimentId === run.experimentId) &&
            s.channelId !== run.channelId,
        );
      if (!subs.length || !(run.state === "running" || isFinal(run.state))) return;
      const exp = app.engine.experimentById(run.experimentId);
      const line = `Run ${run.id} (${exp?.name}, ${app.datasets.refOf(run.datasetVersionId)}) is ${STATE_LABEL[run.state]}${run.stateReason ? `: ${run.stateReason}` : ""}.`;
      for (const s of subs) await app.chat.post(s.channelId, { blocks: [text(line)] });
    },
    onVerdict: async (run, verdict) => {
      if (!app.chat) return;
      const subs = app.iterations
        .subscriptions()
        .filter(
          (s) =>
            (s.kinds.includes("evals") || s.kinds.includes("costs")) &&
            (s.experimentId === null || s.experimentId === run.experimentId),
        );
      for (const s of subs) {
        const blocks = [];
        if (s.kinds.includes("evals")) {
          blocks.push(
            table(
              ["model", "score", "n"],
              verdict.evals.map((e) => [e.model, e.mean === null ? "-" : fmt.pct(e.mean), String(e.n)]),
            ),
          );
          if (verdict.comparisons[0]) blocks.push(text(verdict.comparisons[0].verdict));
        }
        if (s.kinds.includes("costs")) {
          const exp = app.engine.experimentById(run.experimentId);
          const spent = app.engine
            .ledger({ experimentId: run.experimentId })
            .filter((l) => !l.estimated)
            .reduce((a, l) => a + l.usd, 0);
          blocks.push(
            text(
              `Spend of ${exp?.name}: ${fmt.usd(spent)}${exp?.budgetUsd != null ? ` of ${fmt.usd(exp.budgetUsd)} (${Math.round((spent / exp.budgetUsd) * 100)}%)` : ""}.`,
            ),
          );
        }
        await app.chat.post(s.channelId, { title: `Run ${run.id} evaluated`, blocks });
      }
    },
  });
}
