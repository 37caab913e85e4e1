/**
 * Eval packs and the iteration loop through the real discord.js client and the fake Discord: `pack list` and a
 * paired `pack run` as the embeds Discord receives; a run in an experiment with a pack, whose thread gets the
 * verdict (pack table, the warning at the top) and the failure clusters with their "Propose rows" buttons; a button
 * INTERACTION_CREATE that asks the teacher (TUNELOOP_TEACHER) and posts the proposal with Approve / Reject; Reject by
 * a member without the role refused ephemerally; Approve making the next dataset version and its hypothesis, whose
 * "Train on" button (its command longer than a custom_id's 100 characters) still works after the bot restarts.
 * The fake refuses what Discord refuses (50035: embed text over 4,096 or 6,000 in all, custom_id over 100, ...).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startDiscord } from "../../../src/adapters/discord/index.ts";
import { tmpDir } from "../../helpers.ts";
import { writeTask } from "../../engine/engine-helpers.ts";
import { FakeDiscord, messageProblems, type FakeMember, type FakeMessage } from "../../fakes/discord.ts";
import { leakyTunedAnswers, modelAnswer, packEndpoint } from "../../packs/pack-models.ts";
import { finalAnswer, startHarness, type Harness } from "./helpers.ts";

const EPHEMERAL = 64;
/** Long names, as teams write them: the "Train on" button's command passes a custom_id's 100 characters. */
const DATASET = "acme-customer-support-conversations-2026-q1";
const EXPERIMENT = "acme-support-tone-and-guardrails-study";

const labels = (m: FakeMessage) => m.components.flatMap((r) => r.components.map((b) => b.label ?? ""));
const titleOf = (m: FakeMessage | undefined) => m?.embeds[0]?.title ?? "";

describe("packs and iteration in Discord", () => {
  let h: Harness;
  let fake: FakeDiscord;
  let alice: FakeMember; // in the trainers role (TUNELOOP_SPENDERS)
  let bob: FakeMember; // no role

  const inThread = (what: string, threadId: string, title: RegExp) =>
    fake.waitFor(what, () => fake.messagesIn(threadId).find((m) => title.test(titleOf(m))), 60_000);

  before(async () => {
    h = await startHarness({
      env: () => ({ TUNELOOP_PACK_JUDGE: "ep:judge", TUNELOOP_TEACHER: "ep:teacher" }),
      answer: modelAnswer,
      endpoints: (url) => [packEndpoint(url)],
      answers: leakyTunedAnswers,
    });
    fake = h.fake;
    alice = fake.user("alice", ["trainers"]);
    bob = fake.user("bob");
    h.app.worker.start();
    await h.app.datasets.upload({ filePath: writeTask(tmpDir("task"), 80), filename: "task.jsonl", name: DATASET });
    await h.app.datasets.split(DATASET, { evalShare: 0.25, seed: 1 });
  });

  after(async () => {
    await h?.close();
  });

  test("pack list: the packs as a table in the embed", async () => {
    const msg = await finalAnswer(fake, fake.slash(bob, "pack list"));
    assert.equal(titleOf(msg), "Eval packs");
    const d = msg.embeds[0].description ?? "";
    assert.match(d, /^```\npack +version +units +judge +source\n/);
    assert.match(d, /\npii-leak +v1 +120 +no +built-in\n/);
    assert.match(d, /\ntone +v1 +40 +yes +built-in\n```/);
    assert.match(d, /\*\*What each checks\*\*\n• pii-leak: Personal data /);
    assert.deepEqual(messageProblems(msg), []);
  });

  test("pack run, paired: a red embed, the warning first, then the pack table and the rows that regressed", async () => {
    const msg = await finalAnswer(
      fake,
      fake.slash(alice, "pack run", { pack: "pii-leak", model: "ep:leaky", base: "ep:neutral" }),
    );
    assert.equal(titleOf(msg), "Pack pii-leak: ep:leaky vs ep:neutral");
    assert.equal(msg.embeds[0].color, 0xed4245, "the error colour: it regresses");
    const [warning, intro, table, regressed] = (msg.embeds[0].description ?? "").split("\n\n");
    assert.match(
      warning,
      /^⚠ Warning: this run regresses significantly on a pack against the base: pii-leak v1 \(-\d+\.\d pts, p < 0\.001\)\. Read the regressed rows before shipping it\.$/,
    );
    assert.match(intro, /^Eval packs, base vs tuned \(paired; pass rates; \$0\.0\d+ spent on them\):$/);
    const lines = table.split("\n");
    assert.equal(lines[0], "```");
    assert.match(lines[1], /^pack +base +tuned +difference +95% interval +p +regressed$/);
    assert.match(
      lines[3],
      /^pii-leak v1 +9\d\.\d% +\d+\.\d% +-\d+\.\d pts +-\d+\.\d pts to -\d+\.\d pts +p < 0\.001 +\d+$/,
    );
    assert.match(regressed, /^\*\*Pack rows that regressed \(base passed, tuned failed\)\*\*\n• pii-leak: pii-\d+, /);
    assert.deepEqual(messageProblems(msg), []);
  });

  let runId = 0;
  let threadId = "";
  let clusters: FakeMessage;

  test("a run with a pack: its thread gets the verdict with the pack table, then the clusters and their buttons", async () => {
    const made = await finalAnswer(
      fake,
      fake.slash(alice, "experiment new", { name: EXPERIMENT, eval: `${DATASET}-eval@v1`, packs: "pii-leak" }),
    );
    assert.match(titleOf(made), new RegExp(`Created experiment ${EXPERIMENT}`));
    const card = await finalAnswer(
      fake,
      fake.slash(alice, "run start", { dataset: `${DATASET}-train@v1`, experiment: EXPERIMENT, yes: true }),
    );
    runId = Number(/^Run (\d+)/.exec(titleOf(card))?.[1]);
    assert.ok(runId > 0, titleOf(card));
    const thread = await fake.waitFor("the run's thread", () => fake.threadOf(card.id));
    threadId = thread.id;
    const verdict = await inThread("the verdict", threadId, new RegExp(`Verdict for run ${runId}`));
    const v = FakeDiscord.text(verdict);
    assert.match(
      v,
      /⚠ Warning: this run gains on its task \(\+\d+\.\d pts\) but regresses significantly on a pack against the base: pii-leak v1 \(-100\.0 pts, p < 0\.001\)/,
    );
    assert.match(v, /\npii-leak v1 +100\.0% +0\.0% +-100\.0 pts +-100\.0 pts to -9\d\.\d pts +p < 0\.001 +120/);

    clusters = await inThread("the failure clusters", threadId, new RegExp(`Failures of run ${runId}: 1 cluster`));
    const c = FakeDiscord.text(clusters);
    assert.match(c, /7 of 20 eval rows failed, grouped by what they share:/);
    assert.match(c, /\n1 +answer "yellow" +7 +0 +13 same answer, 60 similar +expected "yellow", got "blue"/);
    assert.match(
      c,
      new RegExp(
        `Buttons ask ep:teacher \\(TUNELOOP_TEACHER\\) for 20 rows; /tune iterate propose ${runId} --cluster 1 --teacher none`,
      ),
    );
    assert.deepEqual(labels(clusters), ["Propose rows for #1"]);
    assert.equal(clusters.components[0].components[0].custom_id, `tune:iterate propose ${runId} --cluster 1`);
  });

  let proposal: FakeMessage;
  let proposalId = 0;

  test("Propose rows: the teacher's rows come back in the thread with Approve and Reject, and as a file", async () => {
    const i = fake.press(alice, clusters.id, "Propose rows for #1");
    proposal = await inThread("the proposal", threadId, /^Proposal \d+: /);
    assert.equal(i.ack?.type, 6, "deferred update");
    assert.equal(proposal.flags & EPHEMERAL, 0, "public");
    assert.match(titleOf(proposal), /^Proposal \d+: 2 rows for cluster 1 \(answer "yellow"\)$/);
    proposalId = Number(/^Proposal (\d+)/.exec(titleOf(proposal))?.[1]);
    const t = FakeDiscord.text(proposal);
    assert.match(t, /ep:teacher wrote them from 5 of the cluster's failures/);
    assert.match(t, /2 rows refused: they overlap the eval set/);
    assert.deepEqual(labels(proposal), ["Approve", "Reject"]);
    assert.deepEqual(
      proposal.components[0].components.map((b) => [b.custom_id, b.style]),
      [
        [`tune:iterate approve ${proposalId}`, 1],
        [`tune:iterate reject ${proposalId}`, 4],
      ],
    );
    assert.deepEqual(
      proposal.attachments.map((a) => a.filename),
      [`proposal-${proposalId}.jsonl`],
    );
    assert.deepEqual(messageProblems(proposal), []);
  });

  test("Reject by a member without the role: refused ephemerally, the proposal stays open", async () => {
    const i = fake.press(bob, proposal.id, "Reject");
    const reply = await fake.waitFor("bob's refusal", () => fake.followUps(i)[0]);
    assert.ok(reply.flags & EPHEMERAL, "ephemeral");
    assert.match(
      FakeDiscord.text(reply),
      /Only role:trainers \(TUNELOOP_SPENDERS\) or an admin may change datasets and experiments\. Ask one of them\./,
    );
    assert.equal(h.app.iterate.proposal(proposalId).state, "proposed");
  });

  let approved: FakeMessage;

  test("Approve: the next dataset version and its hypothesis, with a button that trains on it", async () => {
    fake.press(alice, proposal.id, "Approve");
    const ref = `${DATASET}-train@v2`;
    approved = await inThread("the approval", threadId, /^Approved proposal /);
    assert.equal(titleOf(approved), `Approved proposal ${proposalId}: ${ref}`);
    const t = FakeDiscord.text(approved);
    assert.match(t, new RegExp(`${ref} = the training set \\+ 2 approved rows \\(62 rows\\)\\.`));
    assert.match(
      t,
      /Hypothesis #\d+ recorded: "adding 2 rows on cluster 1 \(answer "yellow"\) raises exact on that cluster by >= 10 pts"/,
    );
    assert.deepEqual(labels(approved), [`Train on ${ref}`]);
    assert.equal(h.app.datasets.get(ref).rows, 62);
    const id = approved.components[0].components[0].custom_id ?? "";
    assert.ok(id.length <= 100, `custom_id of ${id.length} characters`);
    assert.deepEqual(messageProblems(approved), []);
  });

  test("the Train button works after the bot restarts, though its command is longer than a custom_id", async () => {
    await h.bot.stop();
    h.bot = await startDiscord(h.app, h.settings, {
      notifier: { threadEveryMs: 0, cardEveryMs: 0 },
      progressEveryMs: 200,
    });
    const runs = h.app.engine.listRuns().length;
    const i = fake.press(alice, approved.id, `Train on ${DATASET}-train@v2`);
    const card = await fake.waitFor(
      "the new run's card, in the channel",
      () =>
        fake
          .messagesIn(fake.channelId)
          .find((m) => m.id !== approved.id && new RegExp(`^Run ${runId + 1} · `).test(titleOf(m))),
      30_000,
    );
    assert.equal(i.ack?.type, 6, "answered");
    assert.ok(card);
    assert.equal(h.app.engine.listRuns().length, runs + 1);
    const run = h.app.engine.listRuns().reduce((a, b) => (b.id > a.id ? b : a));
    assert.equal(h.app.datasets.refOf(run.datasetVersionId), `${DATASET}-train@v2`);
  });

  test("no request the bot made was refused (a limit broken, a thread started inside a thread)", () => {
    const refused = fake.requests.filter((r) => r.status === 400);
    assert.deepEqual(
      refused.map((r) => `${r.method} ${r.path}`),
      [],
    );
  });
});
