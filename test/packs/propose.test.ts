/**
 * Proposals against the engine with a fake trainer: a teacher's rows are validated, deduplicated against the
 * training set, refused when they overlap the eval set; the teacher's cost is booked and its most possible cost is
 * checked against the budget before it is asked; a proposal is decided once.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import type { App } from "../../src/app.ts";
import { startFakeOpenAI, type FakeEndpoint } from "../fakes/openai-compatible.ts";
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
  let app: App;
  let runId: number;
  before(async () => {
    fake = await startFakeOpenAI({ answer: modelAnswer });
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
