/**
 * App Home: when someone opens the bot's Home tab, it shows their recent runs, every experiment's best score
 * against its baseline, and this month's spend (views.publish).
 */
import type { App as BoltApp } from "@slack/bolt";
import type { App } from "../../../app.ts";
import { fmt } from "../../../core/cards.ts";
import { summarizeLedger } from "../../../core/costs/ledger.ts";
import { latestEvalOf } from "../../../core/experiments/evals.ts";
import type { EvalRecord } from "../../../core/ports.ts";
import { STATE_LABEL } from "../../../core/runs/states.ts";
import { scrubSecrets } from "../../../log.ts";
import type { SlackContext } from "../context.ts";
import { chunkText, escapeMrkdwn, type SlackBlock } from "../render.ts";

export function registerAppHome(bolt: BoltApp, s: SlackContext): void {
  bolt.event("app_home_opened", async ({ event }) => {
    if (event.tab && event.tab !== "home") return;
    s.track(() => s.api.publishHome(event.user, homeBlocks(s.app, event.user, s.secrets)));
  });
}

const pct = (x: number | null) => (x === null ? "-" : fmt.pct(x));

export function homeBlocks(app: App, userId: string, secrets: readonly string[] = []): SlackBlock[] {
  const clean = (t: string) => escapeMrkdwn(scrubSecrets(t, secrets));
  const sections = (title: string, lines: string[], empty: string): SlackBlock[] =>
    chunkText(`*${title}*\n${lines.length ? lines.map(clean).join("\n") : clean(empty)}`, 2900).map((t) => ({
      type: "section",
      text: { type: "mrkdwn", text: t },
    }));

  const now = app.clock.now();
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const allRuns = app.engine.listRuns({ limit: 1000 });
  const mine = allRuns.filter((r) => r.createdById === userId);
  const runLines = mine.slice(0, 10).map((r) => {
    const tuned = app.engine.evals({ runId: r.id, state: "succeeded" }).find((e) => e.role === "tuned");
    const cost = summarizeLedger(app.engine.ledger({ runId: r.id })).totalUsd;
    const exp = app.engine.experimentById(r.experimentId)?.name ?? "?";
    return `#${r.id} · ${STATE_LABEL[r.state]} · ${exp} · ${app.datasets.refOf(r.datasetVersionId)} · ${r.provider}:${r.baseModel}${tuned ? ` · ${pct(tuned.mean)}` : ""} · ${fmt.usd(cost)} · ${fmt.day(r.createdAt)}`;
  });

  const expLines = app.experiments
    .list()
    .slice(0, 20)
    .map((e) => {
      const best = app.evals.bestTuned(e);
      const baselines: EvalRecord[] = e.baselines
        .map((b) => latestEvalOf(app.engine, e, b))
        .filter((x): x is EvalRecord => x !== null);
      if (!baselines.length && best?.runId) {
        const run = app.engine.runById(best.runId);
        const base = run ? latestEvalOf(app.engine, e, `${run.provider}:${run.baseModel}`) : null;
        if (base) baselines.push(base);
      }
      const top = baselines.sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1))[0];
      const spend = summarizeLedger(app.engine.ledger({ experimentId: e.id })).totalUsd;
      const vs =
        best && top && best.mean !== null && top.mean !== null
          ? ` vs ${top.model} ${pct(top.mean)} (${fmt.pts(best.mean - top.mean)})`
          : top
            ? ` · baseline ${top.model} ${pct(top.mean)}`
            : "";
      const bestText = best ? `best ${best.model} ${pct(best.mean)}${vs}` : `no tuned model yet${vs}`;
      return `*${e.name}* (${app.datasets.refOf(e.evalVersionId)}, ${e.metric}): ${bestText} · spent ${fmt.usd(spend)}${e.budgetUsd !== null ? ` of ${fmt.usd(e.budgetUsd)}` : ""}`;
    });

  const month = summarizeLedger(app.engine.ledger({ since: monthStart }));
  const mineIds = new Set(mine.map((r) => r.id));
  const myMonth = summarizeLedger(
    app.engine.ledger({ since: monthStart }).filter((l) => l.runId !== null && mineIds.has(l.runId)),
  );
  const monthName = monthStart.toLocaleString("en-US", { month: "long", year: "numeric", timeZone: "UTC" });

  return [
    { type: "header", text: { type: "plain_text", text: "tuneloop", emoji: true } },
    ...sections(
      "Your recent runs",
      runLines,
      "No runs yet. Start one with /tune run start <dataset> --experiment <name>.",
    ),
    { type: "divider" },
    ...sections(
      "Experiments: best score against baseline",
      expLines,
      "No experiments yet. /tune experiment new <name> --eval <dataset>",
    ),
    { type: "divider" },
    ...sections(
      `Spend in ${monthName}`,
      [
        `All runs and evals: ${fmt.usd(month.totalUsd)} (training ${fmt.usd(month.trainingUsd)}, evals ${fmt.usd(month.evalUsd)}, judge ${fmt.usd(month.judgeUsd)}), ${fmt.seconds(month.wallSeconds)} of compute${month.unpriced ? "; some usage had no price, so this is a lower bound" : ""}.`,
        `Your runs: ${fmt.usd(myMonth.totalUsd)}.`,
      ],
      "",
    ),
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: `Updated ${fmt.time(now)} · type \`/tune help\` for the commands.`,
        },
      ],
    },
  ];
}
