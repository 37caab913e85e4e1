/**
 * Seeing what the model answered: `/tune eval show` (prompt, expected, answer, grader's reason; --failed,
 * --regressed, --limit; every row as a JSONL file), wrong answers in the verdict's thread, and hostile answers
 * shown inert on the console, Slack and Discord.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { renderCard } from "../../src/adapters/console/render.ts";
import { ButtonCommands, renderMessage } from "../../src/adapters/discord/render.ts";
import { renderCard as renderSlack } from "../../src/adapters/slack/render.ts";
import { createApp, type App } from "../../src/app.ts";
import type { Card } from "../../src/core/cards.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { answerFor, ctxFor, seedExperiment } from "../engine/engine-helpers.ts";
import { fakeLocalModel, fakeProviders, FakeTrainer } from "../fakes/providers.ts";
import { tmpDir } from "../helpers.ts";

const HOSTILE = "<!channel> @everyone ```\n*bold* <https://evil.example|click here> <@U0123> [x](https://evil.example)";
const LONG = `${"word ".repeat(200)}END`;

const item = (prompt: string) => Number(/item (\d+)/.exec(prompt)?.[1] ?? -1);
/** The tuned model: wrong on every third item: a hostile answer on multiples of 9, a long one on 15, else "purple". */
function tunedAnswer(prompt: string): string {
  const i = item(prompt);
  if (i % 9 === 0) return HOSTILE;
  if (i % 15 === 0) return LONG;
  if (i % 3 === 0) return "purple";
  return answerFor(prompt);
}
/** The base model: right on even items only. */
const baseAnswer = (prompt: string) => (item(prompt) % 2 === 0 ? answerFor(prompt) : "I don't know");

describe("eval show", () => {
  let app: App;
  let runId: number;
  let startCard: Card;
  let evalItems: number[];

  before(async () => {
    const dataDir = tmpDir("eval-show");
    const config = loadConfig({ TUNELOOP_DATA: dataDir, LOG_LEVEL: "silent" });
    const providers = fakeProviders({ trainer: new FakeTrainer({ steps: 3, stepMs: 1 }), answers: tunedAnswer });
    const inference = providers.inference;
    providers.inference = (provider, modelId, ref) =>
      provider === "local" && modelId === "stories260K"
        ? fakeLocalModel("tuned-like", ref, baseAnswer)
        : inference(provider, modelId, ref);
    app = createApp(config, createLogger(config), { providers });
    const { train } = await seedExperiment(app);
    const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--wait"], ctxFor(app));
    runId = (out.data as { run: { id: number } }).run.id;
    startCard = out.card;
    const rows = await app.datasets.allRows(app.datasets.get("task-eval"));
    evalItems = rows.map((r) => item(String(r.messages?.[0]?.content ?? "")));
  });
  after(async () => {
    await app.close();
  });

  const wrong = () => evalItems.filter((i) => i % 3 === 0 || i % 9 === 0 || i % 15 === 0);
  const regressedItems = () => wrong().filter((i) => i % 2 === 0);

  test("--failed: prompt, expected, answer and the grader's reason of each wrong row, and the count", async () => {
    const out = await runCommand(["eval", "show", `run:${runId}`, "--failed", "--limit", "50"], ctxFor(app));
    assert.equal(out.exitCode, 0, JSON.stringify(out.data));
    const shown = renderCard(out.card);
    const n = evalItems.length;
    assert.match(shown, new RegExp(`run:${runId} on task-eval@v1 \\(exact\\): ${n - wrong().length} of ${n} right`));
    assert.match(shown, new RegExp(`Showing ${wrong().length} of ${wrong().length} rows it got wrong`));
    const purple = wrong().find((i) => i % 9 !== 0 && i % 15 !== 0);
    assert.ok(purple !== undefined, "the eval set has a plain wrong answer");
    assert.match(
      shown,
      new RegExp(
        `prompt: {3}What colour is item ${purple}\\?\\n {2}expected: ${answerFor(`item ${purple}`)}\\n {2}answer: {3}purple\\n {2}grader: {3}failed exact`,
      ),
    );
    const data = out.data as { rows: Array<{ pass: boolean }>; matching: number };
    assert.equal(data.matching, wrong().length);
    assert.ok(data.rows.every((r) => !r.pass));
  });

  test("--regressed: only rows the base model got right and the tuned model got wrong", async () => {
    const out = await runCommand(["eval", "show", `run:${runId}`, "--regressed"], ctxFor(app));
    const data = out.data as { matching: number; rows: Array<{ messages: Array<{ content: string }> }> };
    assert.equal(data.matching, regressedItems().length);
    assert.ok(regressedItems().length > 0);
    for (const r of data.rows) assert.equal(item(r.messages[0].content) % 2, 0, "the base got it right");
    assert.match(renderCard(out.card), /rows the base model \(local:stories260K\) got right and run:\d+ got wrong/);
  });

  test("a sensible default limit, long texts cut in chat and whole in the JSONL file", async () => {
    const out = await runCommand(["eval", "show", `run:${runId}`], ctxFor(app));
    const shown = renderCard(out.card);
    assert.match(
      shown,
      new RegExp(`Showing 10 of ${evalItems.length} rows \\(--limit ${evalItems.length} shows more\\)`),
    );
    assert.equal((out.data as { rows: unknown[] }).rows.length, 10);
    const file = out.card.files?.[0];
    assert.match(file?.name ?? "", /^eval-\d+-rows\.jsonl$/);
    const lines = String(file?.content)
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, evalItems.length);
    for (const l of lines)
      for (const k of ["line", "messages", "expected", "answer", "pass", "reason"]) assert.ok(k in l);
    const long = lines.find((l) => l.answer === LONG);
    const hostile = lines.find((l) => l.answer === HOSTILE);
    assert.ok(long && hostile, "the file keeps answers whole");
    assert.equal(long.regressed, item(long.messages[0].content) % 2 === 0);

    const longShown = await runCommand(["eval", "show", `run:${runId}`, "--failed", "--limit", "50"], ctxFor(app));
    const text = renderCard(longShown.card);
    assert.ok(!text.includes(LONG), "a long answer is cut in chat");
    assert.match(text, /word word… \(\+\d{3} chars\)/);
    assert.equal(String(file?.content).includes(LONG), true);
  });

  test("hostile answers stay inert on Slack and Discord", async () => {
    const out = await runCommand(["eval", "show", `run:${runId}`, "--failed", "--limit", "50"], ctxFor(app, "slack"));
    assert.ok(renderCard(out.card).includes("<!channel> @everyone"), "shown as written on the console");
    const slack = JSON.stringify(renderSlack(out.card, { secrets: [] }).blocks);
    assert.ok(!slack.includes("<!channel>") && !slack.includes("<@U0123>") && !slack.includes("<https://evil"));
    assert.ok(slack.includes("&lt;!channel&gt; @everyone"));
    for (const b of renderSlack(out.card, { secrets: [] }).blocks) {
      const t = b.type === "section" ? (b.text?.text ?? "") : "";
      if (t.startsWith("```")) assert.ok(!t.slice(3, -3).includes("```"), `no fence break-out: ${t}`);
    }
    const discord = renderMessage(out.card, { secrets: [], buttons: new ButtonCommands() });
    const body = [discord.content, ...discord.embeds.map((e) => e.description ?? "")].join("\n");
    const fences = body.split("```");
    const outside = fences.filter((_, i) => i % 2 === 0).join("");
    assert.ok(!outside.includes("@everyone") && !outside.includes("](https://evil"), "answers only inside code blocks");
    assert.ok(discord.files.some((f) => /^eval-\d+-rows\.jsonl$/.test(f.name)));
  });

  test("the verdict's thread shows a few wrong answers, regressions first, with the JSONL file", async () => {
    const verdict = startCard.thread?.[0];
    assert.ok(verdict, "the verdict is in the run's thread");
    const shown = renderCard(verdict);
    assert.match(
      shown,
      new RegExp(
        `3 of the ${wrong().length} rows run:${runId} got wrong \\(${regressedItems().length} of them right before tuning\\)\\. More: /tune eval show run:${runId} --failed or --regressed`,
      ),
    );
    const blocks = verdict.blocks.filter((b) => b.type === "code");
    assert.equal(blocks.length, 3);
    for (const b of blocks) assert.match(b.type === "code" ? b.text : "", /· wrong · base right/);
    assert.ok(verdict.files?.some((f) => /^eval-\d+-rows\.jsonl$/.test(f.name)));
  });

  test("refusals name the problem", async () => {
    const none = await runCommand(["eval", "show", "999"], ctxFor(app));
    assert.equal(none.error?.code, "eval_not_found");
    const bad = await runCommand(["eval", "show", "local:stories260K"], ctxFor(app));
    assert.match(bad.error?.message ?? "", /give an eval id \(e\.g\. 12\) or run:N/);
    const base = app.engine.evals({ state: "succeeded" }).find((e) => e.role === "base");
    const reg = await runCommand(["eval", "show", String(base?.id), "--regressed"], ctxFor(app));
    assert.match(reg.error?.message ?? "", /--regressed compares a tuned model with its base model: give run:N/);
  });
});
