import assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import type { Card } from "../../src/core/cards.ts";
import { startFakeOpenAI } from "../fakes/openai-compatible.ts";
import { FakeTrainer } from "../fakes/providers.ts";
import { ctxFor, engineApp, fakeEndpoint, seedExperiment } from "../engine/engine-helpers.ts";

test("sweep: grid and estimate first, cheapest cells first, stops at the budget, summary with heat map in its thread", async () => {
  const fake = await startFakeOpenAI({ answer: () => "red" });
  const { app } = await engineApp({
    trainer: new FakeTrainer({ steps: 3, stepMs: 1 }),
    endpoints: [fakeEndpoint("big", fake.baseUrl, { inputPer1M: 2000, outputPer1M: 2000 })],
  });
  try {
    const { train } = await seedExperiment(app, { baselines: ["big:model"] });
    const posted: Array<{ card: Card; threadId?: string }> = [];
    app.chat = {
      async post(_c, card, o) {
        posted.push({ card, threadId: o?.threadId });
        return { messageId: `m${posted.length}` };
      },
      async update() {},
    };
    const { attachIterationNotices } = await import("../../src/iterations.ts");
    attachIterationNotices(app);
    const ctx = ctxFor(app, "console");
    const out = await runCommand(
      ["sweep", "exp", "--dataset", train, "--epochs", "2,1", "--lr", "1e-3,3e-3", "--budget", "1.2"],
      ctx,
    );
    assert.equal(out.exitCode, 0, JSON.stringify(out.data));
    const d = out.data as {
      id: number;
      state: string;
      totalUsd: number;
      cells: Array<{ epochs: number; estimateUsd: number }>;
    };
    assert.equal(d.state, "awaiting_confirmation");
    assert.equal(d.cells.length, 4);
    assert.deepEqual(
      d.cells.map((c) => c.epochs),
      [1, 1, 2, 2],
      "cheapest (fewest epochs) first",
    );
    const per = d.cells[0].estimateUsd;
    assert.ok(per > 0.5 && per < 1, `estimate per cell ${per}`);
    assert.match(JSON.stringify(out.card.actions), /sweep confirm/);
    out.onPosted?.({ channelId: "c1", messageId: "sweep-msg" });

    await runCommand(["sweep", "confirm", String(d.id)], ctx);
    // the worker runs the cells one by one (until the sweep ends; a deadline, not a count of tries, bounds the wait)
    for (const until = Date.now() + 120_000; app.sweeps.get(d.id).state === "running" && Date.now() < until; ) {
      await app.worker.runNext();
      await new Promise((r) => setTimeout(r, 20));
    }
    const s = app.sweeps.get(d.id);
    assert.equal(s.state, "done");
    assert.deepEqual(
      s.cells.map((c) => c.status),
      ["done", "skipped", "skipped", "skipped"],
    );
    assert.match(s.cells[1].note ?? "", /budget/);
    // the summary (with its heat map, rendered on the first chart) is posted once the last cell has ended
    for (
      const until = Date.now() + 120_000;
      Date.now() < until && !posted.some((p) => p.card.title?.startsWith(`Sweep ${d.id} finished`));
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const summary = posted.find((p) => p.card.title?.startsWith(`Sweep ${d.id} finished`));
    assert.ok(summary, JSON.stringify(posted.map((p) => p.card.title)));
    assert.equal(summary.threadId, "sweep-msg");
    assert.ok(summary.card.files?.some((f) => f.name.endsWith("heatmap.png") && (f.content as Buffer).length > 5000));
    assert.match(JSON.stringify(summary.card.blocks), /Best cell: task-train@v1, 1 epoch, lr 0.001/);
  } finally {
    await app.close();
    await fake.close();
  }
});

test("digest now: runs, standings with intervals, hypotheses, spend, what is next; charts as PNG paths", async () => {
  const { app } = await engineApp();
  try {
    const { train } = await seedExperiment(app);
    app.experiments.addHypothesis({ experiment: "exp", text: "tuning helps", expectPts: 30, user: "t" });
    await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--wait"], ctxFor(app));
    const { createScheduler } = await import("../../src/iterations.ts");
    app.scheduler = createScheduler(app);
    await runCommand(["schedule", "add", "0 9 * * MON", "digest"], ctxFor(app));
    const r = await runCommand(["digest", "now"], ctxFor(app));
    assert.equal(r.exitCode, 0);
    const d = r.data as { text: string; charts: string[]; runs: { started: number; finished: number } };
    assert.equal(d.runs.finished, 1);
    assert.match(d.text, /exp: run:1 100\.0% \[\d+\.\d%, 100\.0%\] vs base 0\.0%/);
    assert.match(d.text, /"tuning helps": supported/);
    assert.match(d.text, /Next: #1 digest at /);
    assert.equal(d.charts.length, 2);
    assert.match(d.charts[0], /experiment-exp-leaderboard\.png$/);
    assert.match(d.charts[1], /experiment-exp-history\.png$/, "the experiment's scores over its runs");
    assert.ok(d.text.split("\n").length <= 12, "short enough for a phone");
  } finally {
    await app.close();
  }
});
