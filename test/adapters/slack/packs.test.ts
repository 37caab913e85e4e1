/**
 * Eval packs and the iteration loop through the real Bolt receiver and the fake Slack Web API: `pack list` and a
 * paired `pack run` as the blocks Slack receives; a run in an experiment with a pack, whose thread gets the verdict
 * (the pack table, the warning at the top) and the failure clusters with their "Propose rows" buttons; a signed
 * block_actions press that asks the teacher (TUNELOOP_TEACHER) and posts the proposal with Approve / Reject; Reject
 * by a member without the right refused privately; Approve making the next dataset version and its hypothesis.
 * The fake refuses what Slack refuses (section text over 3,000 characters, a button's action_id over 255, its value
 * over 2,000, its text over 75, more than 13.2k characters in all), so every card here passed those checks.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { renderCard } from "../../../src/adapters/slack/render.ts";
import { blocksProblem, type FakeMessage, waitFor } from "../../fakes/slack.ts";
import { startFakeOpenAI, type FakeEndpoint } from "../../fakes/openai-compatible.ts";
import { tmpDir } from "../../helpers.ts";
import { writeTask } from "../../engine/engine-helpers.ts";
import { leakyTunedAnswers, modelAnswer, packEndpoint } from "../../packs/pack-models.ts";
import { blocksText, firstResponse, type Harness, startHarness } from "./harness.ts";

const ALICE = "U0ALICE01"; // may spend (TUNELOOP_SPENDERS)
const BOB = "U0BOB0001"; // may read
const CH = "C0PACKS01";

type Button = { type: string; action_id: string; value: string; text: { text: string }; style?: string };
type SlackBlock = { type: string; text?: { text: string }; elements?: Button[] };

const buttonsOf = (m: FakeMessage) =>
  (m.blocks as SlackBlock[]).flatMap((b) => (b.type === "actions" ? (b.elements ?? []) : []));
const headerOf = (m: FakeMessage) => (m.blocks as SlackBlock[]).find((b) => b.type === "header")?.text?.text ?? "";
const sections = (m: FakeMessage) =>
  (m.blocks as SlackBlock[]).filter((b) => b.type === "section").map((b) => b.text?.text ?? "");

describe("packs and iteration in Slack", () => {
  let h: Harness;
  let openai: FakeEndpoint;
  /** Channel messages (not thread replies) whose header matches. */
  const posted = (what: string, header: RegExp) =>
    waitFor(
      what,
      () => h.fake.messages.find((m) => m.channel === CH && !m.thread_ts && header.test(headerOf(m))),
      60_000,
    );
  const inThread = (what: string, ts: string, header: RegExp) =>
    waitFor(what, () => h.fake.threadOf(CH, ts).find((m) => header.test(headerOf(m))), 60_000);

  before(async () => {
    openai = await startFakeOpenAI({ answer: modelAnswer });
    h = await startHarness({
      env: {
        TUNELOOP_PACK_JUDGE: "ep:judge",
        TUNELOOP_TEACHER: "ep:teacher",
        TUNELOOP_SPENDERS: ALICE,
      },
      endpoints: [packEndpoint(openai.baseUrl)],
      answers: leakyTunedAnswers,
      fake: { users: { [ALICE]: { name: "alice" }, [BOB]: { name: "bob" } } },
    });
    h.app.worker.start();
    await h.app.datasets.upload({ filePath: writeTask(tmpDir("task"), 80), filename: "task.jsonl", name: "task" });
    await h.app.datasets.split("task", { evalShare: 0.25, seed: 1 });
  });

  after(async () => {
    await h?.close();
    await openai?.close();
  });

  test("pack list: a table of the packs, each with its size and whether it needs a judge", async () => {
    const r = await h.slash("pack list", { user: BOB, channel: CH });
    assert.equal(r.status, 200);
    const m = await posted("the pack list", /^Eval packs$/);
    const [table, checks] = sections(m);
    assert.deepEqual(table.replace(/^```|```$/g, "").split("\n"), [
      "pack                 version  units  judge  source",
      "-------------------  -------  -----  -----  --------",
      "pii-leak             v1       120    no     built-in",
      "refusal              v1       80     no     built-in",
      "over-refusal         v1       80     no     built-in",
      "bias-counterfactual  v1       80     no     built-in",
      "tone                 v1       40     yes    built-in",
    ]);
    assert.match(
      checks,
      /^\*What each checks\*\n• pii-leak: Personal data \(email, phone, card number, API key\) planted/,
    );
    assert.match(checks, /\n• tone: Customer questions; a judge compares/);
    assert.match(blocksText(m.blocks), /<@U0BOB0001> · `\/tune pack list`/);
  });

  test("pack run, paired: the warning first, then the pack table and the rows that regressed", async () => {
    const r = await h.slash("pack run pii-leak ep:leaky --base ep:neutral", { user: ALICE, channel: CH });
    assert.equal(r.status, 200);
    const m = await posted("the pack's verdict", /Pack pii-leak: ep:leaky vs ep:neutral/);
    assert.equal(headerOf(m), ":x: Pack pii-leak: ep:leaky vs ep:neutral");
    const [warning, intro, table, regressed] = sections(m);
    assert.match(
      warning,
      /^⚠ Warning: this run regresses significantly on a pack against the base: pii-leak v1 \(-\d+\.\d pts, p &lt; 0\.001\)\. Read the regressed rows before shipping it\.$/,
    );
    assert.match(intro, /^Eval packs, base vs tuned \(paired; pass rates; \$0\.0\d+ spent on them\):$/);
    const lines = table.replace(/^```|```$/g, "").split("\n");
    assert.match(lines[0], /^pack +base +tuned +difference +95% interval +p +regressed$/);
    assert.match(
      lines[2],
      /^pii-leak v1 +9\d\.\d% +\d+\.\d% +-\d+\.\d pts +-\d+\.\d pts to -\d+\.\d pts +p &lt; 0\.001 +\d+$/,
    );
    assert.match(regressed, /^\*Pack rows that regressed \(base passed, tuned failed\)\*\n• pii-leak: pii-\d+, /);
    assert.ok(m.text.startsWith("Pack pii-leak: ep:leaky vs ep:neutral: ⚠ Warning"), m.text);
  });

  let runTs = "";
  let runId = 0;
  let clusters: FakeMessage;

  test("a run with a pack: its thread gets the verdict with the pack table, then the failure clusters and their buttons", async () => {
    await h.slash("experiment new exp --eval task-eval@v1 --packs pii-leak", { user: ALICE, channel: CH });
    await posted("the experiment", /Created experiment exp/);
    await h.slash("run start task-train@v1 --experiment exp --yes", { user: ALICE, channel: CH });
    const card = await posted("the run's card", /^.*Run \d+ · /);
    runTs = card.ts;
    runId = Number(/Run (\d+)/.exec(headerOf(card))?.[1]);
    const verdict = await inThread("the verdict", runTs, new RegExp(`Verdict for run ${runId}`));
    const said = sections(verdict);
    assert.match(
      said[0],
      /^⚠ Warning: this run gains on its task \(\+\d+\.\d pts\) but regresses significantly on a pack against the base: pii-leak v1 \(-100\.0 pts, p &lt; 0\.001\)/,
    );
    const packTable = said.find((s) => s.startsWith("```pack")) ?? "";
    assert.match(
      packTable,
      /\npii-leak v1 +100\.0% +0\.0% +-100\.0 pts +-100\.0 pts to -9\d\.\d pts +p &lt; 0\.001 +120/,
    );

    clusters = await inThread("the failure clusters", runTs, new RegExp(`Failures of run ${runId}: 1 cluster`));
    const [intro, table] = sections(clusters);
    assert.equal(intro, "7 of 20 eval rows failed, grouped by what they share:");
    assert.match(table, /\n1 +answer "yellow" +7 +0 +13 same answer, 60 similar +expected "yellow", got "blue"/);
    assert.match(
      blocksText(clusters.blocks),
      new RegExp(
        `Buttons ask ep:teacher \\(TUNELOOP_TEACHER\\) for 20 rows; /tune iterate propose ${runId} --cluster 1 --teacher none gives a file to fill in instead\\.`,
      ),
    );
    const [propose] = buttonsOf(clusters);
    assert.deepEqual(
      [propose.action_id, propose.text.text, propose.value],
      ["tune:propose-1", "Propose rows for #1", `iterate propose ${runId} --cluster 1`],
    );
  });

  let proposal: FakeMessage;

  test("Propose rows: the teacher's rows come back in the thread with Approve and Reject, and as a file", async () => {
    const asked = openai.answered.filter((a) => a.model === "teacher").length;
    const r = await h.press(clusters, "tune:propose-1", { user: ALICE, channel: CH });
    assert.equal(r.status, 200);
    proposal = await inThread("the proposal", runTs, /^Proposal \d+: 2 rows for cluster 1 \(answer "yellow"\)$/);
    assert.equal(openai.answered.filter((a) => a.model === "teacher").length, asked + 1, "the teacher was asked once");
    const text = blocksText(proposal.blocks);
    assert.match(text, /ep:teacher wrote them from 5 of the cluster's failures .*; cost \$0\.0\d+/);
    assert.match(text, /2 rows refused: they overlap the eval set/);
    assert.match(text, /Which colour is the lemon-coloured gadget 9001\? → yellow/);
    const id = Number(/^Proposal (\d+)/.exec(headerOf(proposal))?.[1]);
    assert.deepEqual(
      buttonsOf(proposal).map((b) => [b.action_id, b.text.text, b.value, b.style]),
      [
        [`tune:approve-${id}`, "Approve", `iterate approve ${id}`, "primary"],
        [`tune:reject-${id}`, "Reject", `iterate reject ${id}`, "danger"],
      ],
    );
    const file = await waitFor("the proposal's file in the thread", () =>
      [...h.fake.files.values()].find((f) => f.name === `proposal-${id}.jsonl` && f.shares[CH]?.length),
    );
    assert.equal(file.content.toString("utf8").trim().split("\n").length, 2);
    assert.equal(file.shares[CH]?.[0]?.thread_ts, runTs, "in the run's thread");
  });

  test("Reject by a member without the right: refused privately, the proposal stays open", async () => {
    const id = Number(/^Proposal (\d+)/.exec(headerOf(proposal))?.[1]);
    const r = await h.press(proposal, `tune:reject-${id}`, { user: BOB, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "bob's refusal");
    assert.equal(resp.body.response_type, "ephemeral");
    assert.match(
      blocksText(resp.body.blocks),
      /Only U0ALICE01 \(TUNELOOP_SPENDERS\) or an admin may change datasets and experiments\. Ask one of them\./,
    );
    assert.equal(h.app.iterate.proposal(id).state, "proposed");
    assert.equal(h.fake.threadOf(CH, runTs).filter((m) => /Rejected proposal/.test(headerOf(m))).length, 0);
  });

  test("Approve: the next dataset version and its hypothesis, with a button that trains on it", async () => {
    const id = Number(/^Proposal (\d+)/.exec(headerOf(proposal))?.[1]);
    await h.press(proposal, `tune:approve-${id}`, { user: ALICE, channel: CH });
    const ok = await inThread("the approval", runTs, new RegExp(`Approved proposal ${id}: task-train@v2`));
    const text = blocksText(ok.blocks);
    assert.match(text, /task-train@v2 = the training set \+ 2 approved rows \(62 rows\)\./);
    assert.match(
      text,
      /Hypothesis #\d+ recorded: "adding 2 rows on cluster 1 \(answer "yellow"\) raises exact on that cluster by &gt;= 10 pts"/,
    );
    assert.deepEqual(
      buttonsOf(ok).map((b) => [b.text.text, b.value]),
      [["Train on task-train@v2", "run start task-train@v2 --experiment exp"]],
    );
    assert.equal(h.app.datasets.get("task-train@v2").rows, 62);
    // pressed again: the command's own answer, privately
    const again = await h.press(proposal, `tune:approve-${id}`, { user: ALICE, channel: CH });
    const resp = await firstResponse(h, again.responseUrl, "the second approval's answer");
    assert.equal(resp.body.response_type, "ephemeral");
    assert.match(blocksText(resp.body.blocks), new RegExp(`Proposal ${id} was already approved\\.`));
  });

  test("the renderer keeps a card's buttons within what the fake (and Slack) takes", () => {
    const button = (over: Partial<Button>) => [
      {
        type: "actions",
        elements: [
          { type: "button", action_id: "tune:x", value: "help", text: { type: "plain_text", text: "Go" }, ...over },
        ],
      },
    ];
    assert.equal(blocksProblem(button({})), null);
    assert.equal(blocksProblem(button({ action_id: `tune:${"x".repeat(251)}` })), "invalid_blocks");
    assert.equal(blocksProblem(button({ value: "v".repeat(2001) })), "invalid_blocks");
    assert.equal(blocksProblem(button({ text: { text: "t".repeat(76) } })), "invalid_blocks");
    const r = renderCard(
      {
        title: "Long buttons",
        blocks: [],
        actions: [
          {
            id: "a".repeat(300),
            label: "L".repeat(120),
            command: `iterate propose 1 ${"--x ".repeat(600)}`,
            style: "danger",
          },
        ],
      },
      { secrets: [] },
    );
    assert.equal(blocksProblem(r.blocks), null);
  });

  test("every message the bot sent passed Slack's block checks", () => {
    const sent = h.fake.calls.filter((c) => c.method === "chat.postMessage" || c.method === "chat.update");
    assert.ok(sent.length > 5);
    assert.deepEqual(
      sent.map((c) => blocksProblem(c.args.blocks)).filter((p) => p !== null),
      [],
    );
  });
});
