/**
 * Budgets are a bound: what counts against an experiment's budget is its booked spend plus the reservations of its
 * queued, awaiting-confirmation and running work, taken in one transaction; every spending path checks it; a spend
 * whose bill runs over its estimate stops at the budget. Real SQLite, real HTTP to the fake endpoint, real CLI
 * processes for the two-process race.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { runCardFor, runVerdictCard } from "../../commands/run.ts";
import { attachRunNotifier } from "../../src/core/runs/notifier.ts";
import { createScheduler } from "../../src/iterations.ts";
import { startFakeOpenAI } from "../fakes/openai-compatible.ts";
import { ctxFor, engineApp, fakeEndpoint, seedExperiment } from "./engine-helpers.ts";
import { actualUsd, billedUsd, finished, pricedExperiment, recordingChat, spawnCli, until } from "./money-helpers.ts";

const startRun = (app: Parameters<typeof ctxFor>[0], train: string, key: string, extra: string[] = []) =>
  runCommand(["run", "start", train, "--experiment", "exp", "--yes", ...extra], {
    ...ctxFor(app, "console"),
    requestId: key,
  });

describe("reservations", () => {
  test("two concurrent run starts of $0.02 on a $0.03 budget: exactly one is refused, and a cancel frees its hold", async () => {
    const x = await pricedExperiment({ runUsd: 0.02, budget: 0.03 });
    try {
      const [a, b] = await Promise.all([startRun(x.app, x.train, "req-a"), startRun(x.app, x.train, "req-b")]);
      const outcomes = [a, b].map((o) => o.exitCode).sort();
      assert.deepEqual(outcomes, [0, 1], `${a.error?.message} / ${b.error?.message}`);
      const ok = a.exitCode === 0 ? a : b;
      const refused = a.exitCode === 0 ? b : a;
      const run = (ok.data as { run: { id: number; state: string; estimate: { totalUsd: number } } }).run;
      assert.equal(run.estimate.totalUsd, 0.02);
      assert.equal(run.state, "queued");
      assert.equal(refused.error?.code, "budget_exceeded");
      assert.match(refused.error?.message ?? "", /estimated at \$0\.02, over what is left of exp's budget/);
      assert.match(refused.error?.message ?? "", new RegExp(`\\$0\\.02 held by run ${run.id} \\(queued\\)`));
      assert.match(refused.error?.message ?? "", /\$0\.01 left/);
      assert.equal(x.app.engine.listRuns().length, 1, "the refused start left nothing behind");

      // What the experiment shows: nothing spent yet, $0.02 held.
      const show = await runCommand(["experiment", "show", "exp"], ctxFor(x.app));
      assert.match(JSON.stringify(show.card), /\$0 spent \+ \$0\.02 held \(run \d+\) of \$0\.03 \(\$0\.01 left\)/);
      assert.deepEqual((show.data as { heldUsd: number; spentUsd: number }).heldUsd, 0.02);

      // The same request retried is the same run (no second hold); cancelling the run releases its hold.
      const again = await startRun(x.app, x.train, a.exitCode === 0 ? "req-a" : "req-b");
      assert.equal(again.exitCode, 0);
      assert.equal((again.data as { run: { id: number } }).run.id, run.id);
      await runCommand(["run", "cancel", String(run.id)], ctxFor(x.app));
      const third = await startRun(x.app, x.train, "req-c");
      assert.equal(third.exitCode, 0, third.error?.message);
      assert.equal(x.fake.requests.length, 0, "nothing was spent: starts only reserve");
    } finally {
      await x.close();
    }
  });

  test("two CLI processes start a $0.02 run each on one SQLite file with a $0.03 budget: exactly one is refused", async () => {
    const x = await pricedExperiment({ runUsd: 0.02, budget: 0.03 });
    await x.app.close();
    try {
      const args = ["run", "start", x.train, "--experiment", "exp", "--yes", "--json"];
      const [a, b] = await Promise.all([
        finished(spawnCli(args, x.dataDir, x.endpointsJson)),
        finished(spawnCli(args, x.dataDir, x.endpointsJson)),
      ]);
      assert.deepEqual([a.code, b.code].sort(), [0, 1], `${a.stderr}\n${b.stderr}`);
      const refused = a.code === 1 ? a : b;
      const ok = a.code === 0 ? a : b;
      const started = JSON.parse(ok.stdout) as { run: { id: number; state: string } };
      assert.equal(started.run.state, "queued");
      const err = JSON.parse(refused.stdout || refused.stderr) as { error: { code: string; message: string } };
      assert.equal(err.error.code, "budget_exceeded");
      assert.match(err.error.message, new RegExp(`held by run ${started.run.id}`));
      const { app } = await engineApp({ dataDir: x.dataDir });
      try {
        assert.equal(app.engine.listRuns().length, 1);
      } finally {
        await app.close();
      }
    } finally {
      await x.fake.close();
    }
  });
});

test("a run queued before reservations existed gets its estimate reserved when tuneloop next opens the database", async (t) => {
  const x = await pricedExperiment({ runUsd: 0.02, budget: 0.03 });
  try {
    if (!x.app.db) return t.skip("a SQLite upgrade: Postgres installs start with reservations");
    assert.equal((await startRun(x.app, x.train, "legacy")).exitCode, 0);
    x.app.db.$client.prepare("DELETE FROM budget_holds").run(); // as before the migration
    const expId = x.app.experiments.get("exp").id;
    assert.equal(x.app.engine.budgetUse(expId, new Date()).heldUsd, 0);
    const again = await engineApp({
      dataDir: x.dataDir,
      endpoints: [fakeEndpoint("big", x.fake.baseUrl, { inputPer1M: x.price, outputPer1M: x.price })],
    });
    try {
      assert.equal(again.app.engine.budgetUse(expId, new Date()).heldUsd, 0.02);
      const refused = await startRun(again.app, x.train, "new");
      assert.equal(refused.error?.code, "budget_exceeded");
    } finally {
      await again.app.close();
    }
  } finally {
    await x.close();
  }
});

describe("every spending path checks the budget", () => {
  test("eval --experiment and experiment reeval are refused before asking anything when their estimate does not fit", async () => {
    const x = await pricedExperiment({ runUsd: 0.02, budget: 0.03 });
    try {
      assert.equal((await startRun(x.app, x.train, "hold")).exitCode, 0); // $0.02 held
      const ev = await runCommand(["eval", "big:m", x.evalRef, "--experiment", "exp"], ctxFor(x.app));
      assert.equal(ev.exitCode, 1);
      assert.equal(ev.error?.code, "budget_exceeded");
      assert.match(
        ev.error?.message ?? "",
        /This eval of big:m is estimated at \$0\.02, over what is left of exp's budget/,
      );
      const re = await runCommand(["experiment", "reeval", "exp"], ctxFor(x.app));
      assert.equal(re.error?.code, "budget_exceeded");
      assert.equal(x.fake.requests.length, 0);
      // Without --experiment nothing is booked to a budget: it runs.
      const free = await runCommand(["eval", "big:m", x.evalRef], ctxFor(x.app));
      assert.equal(free.exitCode, 0, free.error?.message);
      assert.equal(x.fake.requests.length, 20);
    } finally {
      await x.close();
    }
  });

  test("a sweep cell that does not fit is skipped with the reason; a sweep whose cheapest cell does not fit is refused", async () => {
    const x = await pricedExperiment({ runUsd: 0.02, budget: 0.05 });
    try {
      assert.equal((await startRun(x.app, x.train, "hold")).exitCode, 0); // $0.02 held, never run
      const out = await runCommand(
        ["sweep", "exp", "--dataset", x.train, "--epochs", "1,2", "--yes"],
        ctxFor(x.app, "console"),
      );
      assert.equal(out.exitCode, 0, out.error?.message);
      const id = (out.data as { id: number }).id;
      let s = x.app.sweeps.get(id);
      assert.deepEqual(
        s.cells.map((c) => c.status),
        ["started", "pending"],
      );
      await x.app.worker.runNext(s.cells[0].runId ?? -1);
      await until("the sweep to go on after its first cell", () => x.app.sweeps.get(id).state !== "running");
      s = x.app.sweeps.get(id);
      assert.equal(s.cells[1].status, "skipped");
      assert.match(s.cells[1].note ?? "", /over what is left of exp's budget/);
      assert.equal(s.state, "done");
      const spent = actualUsd(x.app.engine.ledger({ experimentId: x.app.experiments.get("exp").id }));
      assert.ok(Math.abs(spent - billedUsd(x.fake, x.price)) < 1e-12, "the first cell's baseline eval is booked");

      const refused = await runCommand(["sweep", "exp", "--dataset", x.train, "--epochs", "3", "--yes"], ctxFor(x.app));
      assert.equal(refused.error?.code, "budget_exceeded");
      assert.match(
        refused.error?.message ?? "",
        /Not even the cheapest cell of this sweep fits: it is estimated at \$0\.02/,
      );
    } finally {
      await x.close();
    }
  });

  test("a scheduled fire that would exceed the budget is skipped, announced, and pauses the schedule", async () => {
    const x = await pricedExperiment({ runUsd: 0.02, budget: 0.03 });
    try {
      assert.equal((await startRun(x.app, x.train, "hold")).exitCode, 0);
      const { chat, posted } = recordingChat();
      x.app.chat = chat;
      x.app.scheduler = createScheduler(x.app);
      const s = x.app.scheduler.add({ cron: "0 2 * * *", tz: "UTC", recipe: "reeval exp", channelId: "c1", user: "t" });
      const out = await x.app.scheduler.fire(s.id, "scheduled");
      assert.equal(out.outcome, "skipped");
      assert.equal(x.app.iterations.schedule(s.id)?.state, "paused");
      assert.deepEqual(
        x.app.iterations.fires(s.id).map((f) => f.outcome),
        ["skipped"],
      );
      const note = posted.find((p) => /skipped/.test(p.card.title ?? ""));
      assert.ok(note, JSON.stringify(posted.map((p) => p.card.title)));
      assert.equal(note.channel, "c1");
      assert.match(note.card.title ?? "", new RegExp(`Schedule #?${s.id} skipped and paused`));
      const body = JSON.stringify(note.card.blocks);
      assert.match(body, /over what is left of exp's budget/);
      assert.match(body, /experiment budget exp/);
      assert.match(body, new RegExp(`/tune schedule resume ${s.id}`));
      assert.equal(x.fake.requests.length, 0);
    } finally {
      await x.close();
    }
  });
});

describe("a bill over the estimate stops at the budget", () => {
  test("a run whose baseline bills 5x its estimate stops its eval at the budget and says so in the run's thread", async () => {
    const x = await pricedExperiment({ runUsd: 0.02, budget: 0.03, fake: { usageScale: 5 } });
    try {
      const { chat, posted } = recordingChat();
      x.app.chat = chat;
      attachRunNotifier(x.app.runs.events, {
        chat: () => x.app.chat,
        card: (r) => runCardFor(x.app, r),
        verdictCard: (r, v) => runVerdictCard(x.app, r, v),
        onError: (e) => {
          throw e;
        },
      });
      const start = await startRun(x.app, x.train, "over");
      assert.equal(start.exitCode, 0, start.error?.message);
      start.onPosted?.({ channelId: "c1", messageId: "card-1" });
      const id = (start.data as { run: { id: number } }).run.id;
      const done = await x.app.worker.runNext(id);
      assert.equal(done?.state, "failed");
      assert.match(done?.stateReason ?? "", /stopped at the budget/);

      const expId = x.app.experiments.get("exp").id;
      const booked = actualUsd(x.app.engine.ledger({ experimentId: expId }));
      const billed = billedUsd(x.fake, x.price);
      assert.ok(Math.abs(booked - billed) < 1e-12, `every billed request is booked: ${booked} vs ${billed}`);
      assert.ok(booked <= 0.03 + 1e-12, `never past the budget: ${booked}`);
      const perRequest = Math.max(
        ...x.fake.answered.map((r) => ((r.promptTokens + r.completionTokens) * x.price) / 1e6),
      );
      assert.ok(booked > 0.03 - 2 * perRequest, `it went as far as the budget allows: ${booked}`);
      assert.ok(x.fake.answered.length < 20, "the eval was stopped");

      // The run's thread says why; run show's cost is the ledger's.
      const thread = posted.filter((p) => p.threadId === "card-1").map((p) => JSON.stringify(p.card.blocks));
      assert.ok(
        thread.some((t) => /failed: stopped at the budget/.test(t) && /\$0\.03 budget/.test(t)),
        thread.join("\n"),
      );
      const show = await runCommand(["run", "show", String(id)], ctxFor(x.app));
      const cost = (show.data as { run: { id: number }; cost: { totalUsd: number; evalUsd: number } }).cost;
      assert.ok(Math.abs(cost.totalUsd - Math.round(billed * 1e6) / 1e6) < 1e-9);
      // The answered rows are kept: a later eval of the baseline (after raising the budget) asks only the rest.
      const raise = await runCommand(["experiment", "budget", "exp", "1"], ctxFor(x.app));
      assert.equal(raise.exitCode, 0, raise.error?.message);
      const answeredBefore = x.fake.answered.length;
      const ev = await runCommand(["eval", "big:m", x.evalRef, "--experiment", "exp"], ctxFor(x.app));
      assert.equal(ev.exitCode, 0, ev.error?.message);
      assert.equal(x.fake.answered.length, 20, `only the ${20 - answeredBefore} unanswered rows were asked`);
    } finally {
      await x.close();
    }
  });

  test("an LLM judge that bills more than estimated stops the eval at the budget", async () => {
    const big = await startFakeOpenAI({ answer: () => "red" });
    const judge = await startFakeOpenAI({ answer: () => '{"score": 9}', usageScale: 20 });
    const { app } = await engineApp({
      endpoints: [
        fakeEndpoint("big", big.baseUrl, { inputPer1M: 1, outputPer1M: 1 }),
        fakeEndpoint("judge", judge.baseUrl, { inputPer1M: 5, outputPer1M: 5 }),
      ],
    });
    try {
      const { eval: evalRef } = await seedExperiment(app, { budget: 0.1 });
      const out = await runCommand(
        ["eval", "big:m", evalRef, "--graders", "judge:judge:gm", "--experiment", "exp"],
        ctxFor(app),
      );
      assert.equal(out.exitCode, 1);
      assert.equal(out.error?.code, "budget_stopped");
      assert.match(out.error?.message ?? "", /stopped at the budget/);
      const booked = actualUsd(app.engine.ledger({ experimentId: app.experiments.get("exp").id }));
      const billed =
        big.answered.reduce((a, r) => a + (r.promptTokens + r.completionTokens) / 1e6, 0) +
        judge.answered.reduce((a, r) => a + ((r.promptTokens + r.completionTokens) * 5) / 1e6, 0);
      assert.ok(Math.abs(booked - billed) < 1e-12, `${booked} vs ${billed}`);
      assert.ok(booked <= 0.1 + 1e-12, `never past the budget: ${booked}`);
      assert.ok(judge.answered.length < 20);
    } finally {
      await app.close();
      await big.close();
      await judge.close();
    }
  });
});

describe("schedules cannot fire too often", () => {
  test("a seconds field is refused; an expression firing more often than TUNELOOP_SCHEDULE_MIN_INTERVAL is refused", async () => {
    const { app } = await engineApp();
    try {
      await seedExperiment(app);
      app.scheduler = createScheduler(app);
      const six = await runCommand(["schedule", "add", "*/5 * * * * *", "digest"], ctxFor(app));
      assert.equal(six.error?.code, "schedule_invalid_cron");
      assert.match(six.error?.message ?? "", /6 fields.*five fields/);
      const often = await runCommand(["schedule", "add", "*/5 * * * *", "digest"], ctxFor(app));
      assert.equal(often.error?.code, "schedule_too_often");
      assert.match(often.error?.message ?? "", /every 5 min.*at most once every 1 h.*TUNELOOP_SCHEDULE_MIN_INTERVAL/);
      const sneaky = await runCommand(["schedule", "add", "0,1 9 * * MON", "digest"], ctxFor(app));
      assert.equal(sneaky.error?.code, "schedule_too_often", "two fires a minute apart once a week");
      const hourly = await runCommand(["schedule", "add", "0 * * * *", "digest"], ctxFor(app));
      assert.equal(hourly.exitCode, 0, hourly.error?.message);
    } finally {
      await app.close();
    }
    const quick = await engineApp({ env: { TUNELOOP_SCHEDULE_MIN_INTERVAL: "5m" } });
    try {
      quick.app.scheduler = createScheduler(quick.app);
      const ok = await runCommand(["schedule", "add", "*/5 * * * *", "digest"], ctxFor(quick.app));
      assert.equal(ok.exitCode, 0, ok.error?.message);
    } finally {
      await quick.app.close();
    }
    await assert.rejects(
      engineApp({ env: { TUNELOOP_SCHEDULE_MIN_INTERVAL: "soon" } }),
      /TUNELOOP_SCHEDULE_MIN_INTERVAL/,
    );
  });

  test("a stored schedule that breaks the rules (added before them) is paused at start, and says so", async () => {
    const { app } = await engineApp();
    try {
      const { chat, posted } = recordingChat();
      app.chat = chat;
      const s = app.iterations.createSchedule({
        cron: "*/10 * * * * *",
        tz: "UTC",
        recipe: "digest",
        state: "active",
        channelId: "c1",
        createdBy: "t",
        createdAt: new Date(),
        nextFireAt: null,
        lastFireAt: null,
        lastOutcome: null,
        failures: 0,
      });
      app.scheduler = createScheduler(app);
      await app.scheduler.start();
      assert.equal(app.iterations.schedule(s.id)?.state, "paused");
      assert.deepEqual(
        app.iterations.fires(s.id).map((f) => f.outcome),
        ["skipped"],
      );
      assert.match(JSON.stringify(posted.map((p) => p.card)), /cannot fire: .*6 fields.*five fields/);
      await app.scheduler.stop();
    } finally {
      await app.close();
    }
  });
});
