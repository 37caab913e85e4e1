import { z } from "zod";
import { list, text, type Card } from "../src/core/cards.ts";
import { chartCommands } from "./chart.ts";
import { datasetCommands } from "./dataset.ts";
import { demoCommands } from "./demo.ts";
import { evalCommands } from "./eval.ts";
import { experimentCommands } from "./experiment.ts";
import { iterateCommands } from "./iterate.ts";
import { runCommands } from "./run.ts";
import { usage } from "./parse.ts";
import { providersHelpCard, providersHelpData } from "../src/providers/help.ts";
import { defineCommand, type CommandDef } from "./types.ts";

const GROUP_TITLES: Record<string, string> = {
  dataset: "Datasets",
  experiment: "Experiments",
  hypothesis: "Experiments",
  run: "Runs",
  eval: "Evals",
  compare: "Evals",
  leaderboard: "Evals",
  chart: "Evals",
  schedule: "Iterations",
  subscribe: "Iterations",
  digest: "Iterations",
  sweep: "Iterations",
  demo: "Demo",
  help: "Help",
};

/** Every chat command, declared once. Slack, Discord, the console and the CLI all render from this list. */
export const registry: CommandDef[] = [];

/** The help card; host-path options (--out...) only for a surface with host access (the CLI, the console). */
export function helpCard(group?: string, opts: { hostPaths?: boolean } = {}): Card {
  if (group?.toLowerCase() === "providers") return providersHelpCard();
  const groups = new Map<string, CommandDef[]>();
  for (const d of registry) {
    if (group && d.path[0] !== group) continue;
    groups.set(d.path[0], [...(groups.get(d.path[0]) ?? []), d]);
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
    title: group ? `/tune ${group}` : "tuneloop commands",
    ephemeral: true,
    blocks: [
      ...(group
        ? []
        : [text("Fine-tune, evaluate and compare models from chat. Type /tune help <group> for details.")]),
      ...[...groups.entries()].map(([g, defs]) =>
        list(
          defs.map(
            (d) =>
              `${usage(d, opts)}\n    ${d.summary}${group ? `\n    e.g. ${d.examples.join("\n    e.g. ")}` : `  e.g. ${d.examples[0]}`}`,
          ),
          GROUP_TITLES[g] ?? g,
        ),
      ),
    ],
  };
}

const help = defineCommand({
  path: ["help"],
  summary: "Show the commands, grouped, with examples.",
  options: z.object({ group: z.string().optional().describe("a command group, e.g. dataset, or providers") }),
  positional: ["group"],
  permission: "read",
  examples: ["/tune help", "/tune help dataset", "/tune help providers"],
  async handler(ctx, input) {
    if (input.group?.toLowerCase() === "providers") return { card: providersHelpCard(), data: providersHelpData() };
    const host = { hostPaths: Boolean(ctx.host) };
    const card = helpCard(input.group, host);
    const defs = registry.filter((d) => !input.group || d.path[0] === input.group);
    return {
      card,
      data: defs.map((d) => ({
        command: d.path.join(" "),
        usage: usage(d, host),
        summary: d.summary,
        examples: d.examples,
        permission: d.permission,
      })),
    };
  },
});

registry.push(
  ...([
    ...datasetCommands,
    ...experimentCommands,
    ...runCommands,
    ...evalCommands,
    ...chartCommands,
    ...iterateCommands,
    ...demoCommands,
    help,
  ] as unknown as CommandDef[]),
);
