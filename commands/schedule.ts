import { z } from "zod";
import type { App } from "../src/app.ts";
import { fields, fmt, table, text } from "../src/core/cards.ts";
import type { ScheduleRecord } from "../src/core/ports.ts";
import { nextRuns } from "../src/core/schedules/scheduler.ts";
import { TuneError, ErrorCode } from "../src/errors.ts";
import { defineCommand } from "./types.ts";

const id = z.coerce.number().int().positive();

function scheduler(app: App) {
  if (!app.scheduler)
    throw new TuneError(
      ErrorCode.SchedulerUnavailable,
      "Schedules need the bot running (npm start); this process has no scheduler.",
    );
  return app.scheduler;
}

function scheduleJson(s: ScheduleRecord) {
  return {
    id: s.id,
    cron: s.cron,
    tz: s.tz,
    recipe: s.recipe,
    state: s.state,
    lastRun: s.lastFireAt?.toISOString() ?? null,
    lastOutcome: s.lastOutcome,
    nextRun: s.state === "active" ? (nextRuns(s.cron, s.tz, 1)[0]?.toISOString() ?? null) : null,
    failures: s.failures,
  };
}

export const scheduleAdd = defineCommand({
  path: ["schedule", "add"],
  summary:
    "Schedule a recipe with a cron expression: rerun <experiment>, reeval <experiment>, sweep <experiment> ..., digest.",
  options: z.object({
    cron: z.string().describe('cron expression in quotes, e.g. "0 9 * * MON"'),
    recipe: z.string().describe("rerun <experiment> | reeval <experiment> | sweep <experiment> <options> | digest"),
    tz: z.string().optional().describe("time zone, e.g. Europe/Berlin (default TUNELOOP_TZ)"),
  }),
  positional: ["cron"],
  rest: "recipe",
  permission: "spend",
  examples: [
    '/tune schedule add "0 2 * * *" rerun support --tz Europe/Berlin',
    '/tune schedule add "0 9 * * MON" digest',
  ],
  async handler(ctx, input) {
    const tz = input.tz ?? ctx.app.config.schedules.defaultTz;
    const s = scheduler(ctx.app).add({
      cron: input.cron,
      tz,
      recipe: input.recipe,
      channelId: ctx.surface === "cli" || ctx.surface === "schedule" ? null : ctx.channelId,
      user: ctx.user.name,
    });
    const next = nextRuns(s.cron, s.tz, 3);
    return {
      card: {
        title: `Schedule #${s.id} added`,
        tone: "success",
        blocks: [
          fields([
            ["Recipe", s.recipe],
            ["When", `${s.cron} (${s.tz})`],
            ["Next", next.map((d) => fmt.zoned(d, s.tz)).join(" · ")],
          ]),
          text(`Pause it with /tune schedule pause ${s.id}.`),
        ],
      },
      data: { id: s.id, cron: s.cron, tz: s.tz, recipe: s.recipe, nextRuns: next.map((d) => d.toISOString()) },
    };
  },
});

export const scheduleList = defineCommand({
  path: ["schedule", "list"],
  summary: "List schedules with their last and next fire.",
  options: z.object({}),
  permission: "read",
  examples: ["/tune schedule list"],
  async handler(ctx) {
    const all = ctx.app.digests.schedules();
    const rows = all.map(scheduleJson);
    // Times in each schedule's own zone, the zone written out (a bare "02:00" is read as local time).
    const at = (iso: string | null | undefined, tz: string) => (iso ? fmt.zoned(new Date(iso), tz) : "-");
    return {
      card: all.length
        ? {
            title: `Schedules (${all.length})`,
            blocks: [
              table(
                ["id", "recipe", "cron", "state", "last", "next"],
                rows.map((r) => [
                  `#${r.id}`,
                  r.recipe,
                  `${r.cron} (${r.tz})`,
                  r.state,
                  r.lastOutcome ? `${at(r.lastRun, r.tz)} ${r.lastOutcome.split(":")[0]}` : "-",
                  at(r.nextRun, r.tz),
                ]),
              ),
            ],
          }
        : { title: "Schedules", blocks: [text('None yet. /tune schedule add "0 9 * * MON" digest')] },
      data: rows,
    };
  },
});

const scheduleVerb = (verb: "pause" | "resume" | "remove") =>
  defineCommand({
    path: ["schedule", verb],
    summary: `${verb[0].toUpperCase()}${verb.slice(1)} a schedule.`,
    options: z.object({ id: id.describe("schedule id") }),
    positional: ["id"],
    permission: "spend",
    examples: [`/tune schedule ${verb} 2`],
    async handler(ctx, input) {
      const sch = scheduler(ctx.app);
      if (verb === "remove") {
        sch.remove(input.id);
        return { card: { title: `Schedule #${input.id} removed`, blocks: [] }, data: { id: input.id, removed: true } };
      }
      const s = verb === "pause" ? sch.pause(input.id) : sch.resume(input.id);
      return {
        card: { title: `Schedule #${s.id} ${s.state}`, blocks: [text(`${s.recipe} (${s.cron}, ${s.tz})`)] },
        data: scheduleJson(s),
      };
    },
  });

export const scheduleCommands = [
  scheduleAdd,
  scheduleList,
  scheduleVerb("pause"),
  scheduleVerb("resume"),
  scheduleVerb("remove"),
];
