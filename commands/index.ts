import { z } from "zod";
import { list, text, type Card } from "../src/core/cards.ts";
import { chartCommands } from "./chart.ts";
import { datasetCommands } from "./dataset.ts";
import { demoCommands } from "./demo.ts";
import { evalCommands } from "./eval.ts";
import { experimentCommands } from "./experiment.ts";
import { digestCommands } from "./digest.ts";
import { migrateCommands } from "./migrate.ts";
import { packCommands } from "./pack.ts";
import { proposeCommands } from "./iterate.ts";
import { scheduleCommands } from "./schedule.ts";
import { sweepCommands } from "./sweep.ts";
import { runCommands } from "./run.ts";
import { serveCommands } from "./serve.ts";
import { usage } from "./parse.ts";
import { providersHelpCard, providersHelpData } from "../src/providers/help.ts";
import { GRADER_KINDS, GRADERS, graderHelp } from "../src/core/evals/graders.ts";
import { defineCommand, type CommandDef, type Surface } from "./types.ts";

/** The help sections; a command file is named after its first word or after its section (commands/run.ts, eval.ts). */
export const GROUP_TITLES: Record<string, string> = {
  dataset: "Datasets",
  experiment: "Experiments",
  hypothesis: "Experiments",
  run: "Runs",
  eval: "Evals",
  compare: "Evals",
  leaderboard: "Evals",
  chart: "Evals",
  pack: "Eval packs",
  iterate: "Iterations",
  schedule: "Iterations",
  subscribe: "Iterations",
  digest: "Iterations",
  sweep: "Iterations",
  demo: "Demo",
  migrate: "Migrate",
  serve: "Self-hosted",
  home: "Help",
  help: "Help",
};

/** Every chat command, declared once. Slack, Discord, the console and the CLI all render from this list. */
export const registry: CommandDef[] = [];

const groupTitle = (d: CommandDef) => GROUP_TITLES[d.path[0]] ?? d.path[0];

/** The commands of a group: its first word (`dataset`, `sweep`) or its title (`evals` also lists compare, chart). */
function inGroup(d: CommandDef, group: string | undefined): boolean {
  if (!group) return true;
  const g = group.toLowerCase();
  return d.path[0] === g || groupTitle(d).toLowerCase() === g;
}

/** For the CLI: the command as the CLI takes it, and the examples that make sense without a chat. */
function examplesFor(d: CommandDef, cli: boolean): string[] {
  if (!cli) return d.examples;
  const own = d.examples.filter((e) => e.startsWith("npx tuneloop "));
  const chat = d.examples.filter((e) => e.startsWith("/tune ") && !(d.attachment && /attach/.test(e)));
  return [...own, ...chat.map((e) => `npx tuneloop ${e.slice("/tune ".length)}`)];
}

const graderHelpOf = (kind: (typeof GRADER_KINDS)[number]) => ({
  form: GRADERS[kind].form,
  help: GRADERS[kind].help,
});

/** The graders (metrics) an experiment or an eval can use, generated from the grader registry. */
function gradersHelpCard(): Card {
  return {
    title: "Graders (--metric of experiment new, --graders of eval)",
    ephemeral: true,
    blocks: [list(graderHelp(), "Graders")],
  };
}

/** The help card; host-path options (--out...) only for a surface with host access (the CLI, the console). */
export function helpCard(group?: string, opts: { hostPaths?: boolean; surface?: Surface } = {}): Card {
  if (group?.toLowerCase() === "providers") return providersHelpCard();
  if (group?.toLowerCase() === "graders") return gradersHelpCard();
  const cli = opts.surface === "cli";
  // One section per group title, in registry order (hypothesis sits with Experiments, compare with Evals).
  const groups = new Map<string, CommandDef[]>();
  for (const d of registry) {
    if (!inGroup(d, group)) continue;
    groups.set(groupTitle(d), [...(groups.get(groupTitle(d)) ?? []), d]);
  }
  if (!groups.size) {
    return {
      title: "Help",
      ephemeral: true,
      blocks: [
        text(`No command group "${group}". Groups: ${[...new Set(registry.map((d) => d.path[0]))].join(", ")}.`),
      ],
    };
  }
  return {
    title: group ? `${cli ? "npx tuneloop" : "/tune"} ${group}` : "tuneloop commands",
    ephemeral: true,
    blocks: [
      ...(group
        ? []
        : [
            text(
              cli
                ? "Fine-tune, evaluate and compare models from the terminal. Type npx tuneloop help <group> for details; add --json to any command for its result as JSON."
                : "Fine-tune, evaluate and compare models from chat. Type /tune help <group> for details.",
            ),
          ]),
      ...[...groups.entries()].map(([title, defs]) =>
        list(
          defs.map((d) => {
            const ex = examplesFor(d, cli);
            const eg = !ex.length ? "" : group ? `\n    e.g. ${ex.join("\n    e.g. ")}` : `  e.g. ${ex[0]}`;
            return `${usage(d, { cli, hostPaths: opts.hostPaths })}\n    ${d.summary}${eg}`;
          }),
          title,
        ),
      ),
    ],
  };
}

const help = defineCommand({
  path: ["help"],
  summary: "Show the commands, grouped, with examples.",
  options: z.object({
    group: z.string().optional().describe("a command group, e.g. dataset, or providers or graders"),
  }),
  positional: ["group"],
  permission: "read",
  examples: ["/tune help", "/tune help dataset", "/tune help providers", "/tune help graders"],
  async handler(ctx, input) {
    if (input.group?.toLowerCase() === "providers") return { card: providersHelpCard(), data: providersHelpData() };
    if (input.group?.toLowerCase() === "graders")
      return { card: gradersHelpCard(), data: GRADER_KINDS.map((kind) => ({ kind, ...graderHelpOf(kind) })) };
    const cli = ctx.surface === "cli";
    const host = { hostPaths: Boolean(ctx.host) };
    const card = helpCard(input.group, { ...host, surface: ctx.surface });
    const defs = registry.filter((d) => inGroup(d, input.group));
    return {
      card,
      data: defs.map((d) => ({
        command: d.path.join(" "),
        usage: usage(d, { cli, ...host }),
        summary: d.summary,
        examples: d.examples,
        permission: d.permission,
      })),
    };
  },
});

const home = defineCommand({
  path: ["home"],
  summary: "Your overview: your recent runs, every experiment's best score against its baseline, this month's spend.",
  options: z.object({}),
  permission: "read",
  examples: ["/tune home"],
  async handler(ctx) {
    return { card: ctx.app.overview(ctx.user.id), data: null };
  },
});

registry.push(
  ...([
    ...datasetCommands,
    ...experimentCommands,
    ...runCommands,
    ...evalCommands,
    ...chartCommands,
    ...packCommands,
    ...scheduleCommands,
    ...digestCommands,
    ...sweepCommands,
    ...proposeCommands,
    ...demoCommands,
    ...migrateCommands,
    ...serveCommands,
    home,
    help,
  ] as unknown as CommandDef[]),
);
