/**
 * Proposals against the engine with a fake trainer: a teacher's rows are validated, deduplicated against the
 * training set, refused when they overlap the eval set; the teacher's cost is booked and its most possible cost is
 * checked against the budget before it is asked; a proposal is decided once.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import type { App } from "../../src/app.ts";
import { renderCard } from "../../src/chat/text.ts";
import { startFakeOpenAI, type FakeEndpoint, type FakeOptions } from "../fakes/openai-compatible.ts";
import { tmpDir } from "../helpers.ts";
import { COLOURS, ctxFor, writeTask } from "../engine/engine-helpers.ts";
import { modelAnswer, packApp } from "./pack-models.ts";

/** The tuned model gets every "yellow" item wrong. */
const answers = (prompt: string) => {
  const m = /item (\d+)/.exec(prompt);
  if (!m) return "?";
  const c = COLOURS[Number(m[1]) % 4];
  return c === "yellow" ? "blue" : c;
};

describe("iterate propose with a teacher", () => {
  let fake: FakeEndpoint;
  const fakeOpts: FakeOptions = { answer: modelAnswer };
  let app: App;
  let runId: number;
  before(async () => {
    fake = await startFakeOpenAI(fakeOpts);
    app = await packApp(fake, {}, { answers });
    await app.datasets.upload({ filePath: writeTask(tmpDir("task"), 80), filename: "task.jsonl", name: "task" });
    const split = await app.datasets.split("task", { evalShare: 0.25, seed: 1 });
    const cli = ctxFor(app);
    await runCommand(["experiment", "new", "exp", "--eval", `${split.eval.name}@v1`, "--budget", "1"], cli);
    const out = await runCommand(
      ["run", "start", `${split.train.name}@v1`, "--experiment", "exp", "--yes", "--wait"],
      cli,
    );
    assert.equal(out.exitCode, 0, out.error?.message);
    runId = (out.data as { run: { id: number } }).run.id;
  });
  after(async () => {
    await app.close();
    await fake.close();
  });

  test("the failures cluster on the answer the model gets wrong", async () => {
    const c = await runCommand(["iterate", "clusters", String(runId)], ctxFor(app, "slack"));
    const cl = (c.data as { clusters: Array<{ label: string; size: number; trainSameAnswer: number }> }).clusters;
    assert.equal(cl.length, 1);
    assert.equal(cl[0].label, 'answer "yellow"');
    assert.ok(cl[0].trainSameAnswer > 0, "training rows with that answer exist");
    assert.deepEqual(c.card.actions?.[0].command, `iterate propose ${runId} --cluster 1`);
  });

  test("rows copying the eval set are refused, duplicates and bad lines dropped, the cost booked", async () => {
    const before = app.engine.ledger({ experimentId: 1 }).length;
    const o = await runCommand(
      ["iterate", "propose", String(runId), "--teacher", "ep:teacher", "--rows", "6"],
      ctxFor(app, "slack"),
    );
    assert.equal(o.exitCode, 0, o.error?.message);
    const d = o.data as {
      proposal: { id: number; rows: number };
      dropped: { invalid: number; duplicates: number; evalOverlap: number };
      usd: number;
    };
    assert.deepEqual(d.dropped, { invalid: 1, duplicates: 1, evalOverlap: 2 });
    assert.equal(d.proposal.rows, 2);
    const booked = app.engine.ledger({ experimentId: 1 }).slice(before);
    assert.equal(booked.length, 1);
    assert.equal(booked[0].model, "ep:teacher");
    assert.ok(booked[0].usd > 0 && Math.abs(booked[0].usd - d.usd) < 1e-6);
    const card = o.card;
    assert.ok(
      card.blocks.some(
        (b) => b.type === "list" && b.items.some((i) => /2 rows refused: they overlap the eval set/.test(i)),
      ),
    );
    assert.equal(card.files?.[0].name, `proposal-${d.proposal.id}.jsonl`);

    const rej = await runCommand(["iterate", "reject", String(d.proposal.id)], ctxFor(app, "slack"));
    assert.equal(rej.exitCode, 0);
    const again = await runCommand(["iterate", "approve", String(d.proposal.id)], ctxFor(app, "slack"));
    assert.equal(again.error?.code, "proposal_decided");
  });

  test("two Approve presses at once make one dataset version, and the second is told it was approved", async () => {
    const o = await runCommand(
      ["iterate", "propose", String(runId), "--teacher", "ep:teacher", "--rows", "6"],
      ctxFor(app, "slack"),
    );
    assert.equal(o.exitCode, 0, o.error?.message);
    const id = (o.data as { proposal: { id: number } }).proposal.id;
    const train = app.runs.get(runId).datasetVersionId;
    const name = app.datasets.byId(train).name;
    const versions = () => app.datasets.versions(name).length;
    const before = versions();
    const hyps = app.engine.hypotheses(1).length;
    // a double click, or the same button pressed by two people: both commands run concurrently
    const [a, b] = await Promise.all([
      runCommand(["iterate", "approve", String(id)], { ...ctxFor(app, "slack"), user: { id: "U1", name: "ann" } }),
      runCommand(["iterate", "approve", String(id)], { ...ctxFor(app, "discord"), user: { id: "U2", name: "bob" } }),
    ]);
    const ok = [a, b].filter((x) => x.exitCode === 0);
    const refused = [a, b].filter((x) => x.error);
    assert.equal(ok.length, 1, "exactly one approve goes through");
    assert.equal(refused[0]?.error?.code, "proposal_decided");
    assert.match(
      refused[0]?.error?.message ?? "",
      new RegExp(`^Proposal ${id} (is being approved by (ann|bob) now|was already approved\\.)`),
    );
    assert.equal(versions(), before + 1, "one new dataset version");
    assert.equal(app.engine.hypotheses(1).length, hyps + 1, "one hypothesis");
    const again = await runCommand(["iterate", "approve", String(id)], ctxFor(app, "slack"));
    assert.equal(again.error?.code, "proposal_decided");
    assert.equal(versions(), before + 1);
  });

  test("a teacher that writes 1,500 rows when asked for 5 adds 5", async () => {
    const o = await runCommand(
      ["iterate", "propose", String(runId), "--teacher", "ep:flood", "--rows", "5"],
      ctxFor(app, "slack"),
    );
    assert.equal(o.exitCode, 0, o.error?.message);
    const d = o.data as { proposal: { rows: number }; dropped: { invalid: number } };
    assert.equal(d.proposal.rows, 5);
    assert.ok(d.dropped.invalid >= 1400, `${d.dropped.invalid} dropped`);
    assert.match(renderCard(o.card), /invalid \(beyond the 5 rows asked for\)/);
  });

  test("two proposes at once cannot both take the budget's last room for a teacher", async () => {
    const ask = (user: string) =>
      runCommand(["iterate", "propose", String(runId), "--teacher", "ep:teacher", "--rows", "6"], {
        ...ctxFor(app, "slack"),
        user: { id: user, name: user },
      });
    await runCommand(["experiment", "budget", "exp", "0.0000001"], ctxFor(app));
    const probe = await ask("U0");
    assert.equal(probe.error?.code, "budget_exceeded");
    const estimate = (probe.data as { error: { details: { estimateUsd: number } } }).error.details.estimateUsd;
    const use = () => app.engine.budgetUse(1, new Date());
    const committed = use().spentUsd + use().heldUsd;
    // room for one teacher request at its most, not for two
    const budget = committed + 1.5 * estimate;
    await runCommand(["experiment", "budget", "exp", String(budget)], ctxFor(app));
    const asked = fake.requests.length;
    // The teacher holds its answer until the other propose has been decided (refused, or a second request came):
    // else, on a busy machine, the first could be answered and settled at its (smaller) actual cost before the
    // second is checked, and both would rightly fit.
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    fakeOpts.before = async () => {
      if (fake.requests.length >= asked + 2) release();
      await gate;
      return undefined;
    };
    const [a, b] = await Promise.all([ask("U1").finally(release), ask("U2").finally(release)]).finally(() => {
      fakeOpts.before = undefined;
    });
    const refused = [a, b].filter((x) => x.error);
    assert.equal(refused.length, 1, `one is refused: ${a.error?.message ?? "ok"} / ${b.error?.message ?? "ok"}`);
    assert.equal(refused[0].error?.code, "budget_exceeded");
    assert.equal(fake.requests.length, asked + 1, "the teacher was asked once");
    assert.ok(use().spentUsd <= budget + 1e-12, `spent ${use().spentUsd} within ${budget}`);
    // what the teacher billed is booked at its actual cost, not at the reserved estimate
    const last = app.engine.ledger({ experimentId: 1 }).at(-1);
    assert.equal(last?.model, "ep:teacher");
    assert.ok((last?.usd ?? 0) > 0 && (last?.usd ?? 0) < estimate, `booked ${last?.usd} < estimate ${estimate}`);
    await runCommand(["experiment", "budget", "exp", "1"], ctxFor(app));
  });

  test("a teacher whose most possible cost passes the budget is not asked", async () => {
    await runCommand(["experiment", "budget", "exp", "0.0001"], ctxFor(app));
    const asked = fake.requests.length;
    const o = await runCommand(
      ["iterate", "propose", String(runId), "--teacher", "ep:teacher", "--rows", "200"],
      ctxFor(app),
    );
    assert.equal(o.error?.code, "budget_exceeded");
    assert.match(o.error?.message ?? "", /^Asking ep:teacher for 200 rows is estimated at \$/);
    assert.equal(fake.requests.length, asked, "nothing sent");
  });
});

describe("TUNELOOP_TEACHER: the default teacher", () => {
  test("propose without --teacher asks it, --teacher none gives the file, and the clusters card says which", async () => {
    const fake = await startFakeOpenAI({ answer: modelAnswer });
    const app = await packApp(fake, { TUNELOOP_TEACHER: "ep:teacher" }, { answers });
    try {
      await app.datasets.upload({ filePath: writeTask(tmpDir("task"), 80), filename: "task.jsonl", name: "task" });
      const split = await app.datasets.split("task", { evalShare: 0.25, seed: 1 });
      const cli = ctxFor(app);
      await runCommand(["experiment", "new", "exp", "--eval", `${split.eval.name}@v1`], cli);
      const out = await runCommand(
        ["run", "start", `${split.train.name}@v1`, "--experiment", "exp", "--yes", "--wait"],
        cli,
      );
      const run = (out.data as { run: { id: number } }).run.id;
      const c = await runCommand(["iterate", "clusters", String(run)], ctxFor(app, "slack"));
      assert.match(
        renderCard(c.card),
        new RegExp(
          `Buttons ask ep:teacher \\(TUNELOOP_TEACHER\\) for 20 rows; /tune iterate propose ${run} --cluster 1 --teacher none gives a file to fill in instead\\.`,
        ),
      );
      assert.equal(c.card.actions?.[0].command, `iterate propose ${run} --cluster 1`, "the button names no teacher");
      const asked = await runCommand(["iterate", "propose", String(run)], ctxFor(app, "slack"));
      assert.equal(asked.exitCode, 0, asked.error?.message);
      const d = asked.data as { proposal: { teacher: string; rows: number } | null; files: string[] };
      assert.equal(d.proposal?.teacher, "ep:teacher");
      const none = await runCommand(["iterate", "propose", String(run), "--teacher", "none"], ctxFor(app, "slack"));
      const n = none.data as { proposal: unknown; files: string[] };
      assert.equal(n.proposal, null);
      assert.deepEqual(n.files, [`run-${run}-cluster-1-new-rows.jsonl`, `run-${run}-cluster-1-failures.jsonl`]);
    } finally {
      await app.close();
      await fake.close();
    }
  });
});
