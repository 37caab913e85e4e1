/** The run engine with a fake trainer behind the real provider port, real SQLite, real datasets and evals. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { FakeTrainer } from "../fakes/providers.ts";
import { startFakeOpenAI } from "../fakes/openai-compatible.ts";
import { repoRoot } from "../helpers.ts";
import { ctxFor, engineApp, fakeEndpoint, seedExperiment } from "./engine-helpers.ts";
import { until } from "./money-helpers.ts";

describe("runs", () => {
  test("a run's state changes with its event or not at all (one transaction: a kill between them left a run ended with no event)", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      const { run } = await app.runs.start({ dataset: train, experiment: "exp", user: "tester", channelId: null });
      // No await from here on: the run's worker, in this process, cannot move it between these lines.
      const cur = app.engine.runById(run.id)?.state ?? "queued";
      const events = () => app.engine.runEvents(run.id, "state").length;
      const before = events();
      // An event the database refuses (no type): the state stays as it was.
      assert.throws(() =>
        app.engine.transitionRun(
          run.id,
          [cur],
          "cancelled",
          {},
          { at: new Date(), type: null as unknown as string, data: {} },
        ),
      );
      assert.equal(app.engine.runById(run.id)?.state, cur);
      assert.equal(events(), before);
      const data = { from: cur, to: "cancelled", by: "tester", reason: null };
      const done = app.engine.transitionRun(run.id, [cur], "cancelled", {}, { at: new Date(), type: "state", data });
      assert.equal(done?.state, "cancelled");
      assert.equal(events(), before + 1);
      assert.deepEqual(app.engine.runEvents(run.id, "state").at(-1)?.data, data);
    } finally {
      await app.close();
    }
  });

  test("start -> queued -> running -> succeeded, with evals of tuned and base, a verdict and a ledger", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      app.experiments.addHypothesis({ experiment: "exp", text: "tuning helps a lot", expectPts: 50, user: "tester" });
      const states: string[] = [];
      app.worker.listen({ onRun: (r, e) => void (e === "state" && states.push(r.state)) });
      const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--wait"], ctxFor(app));
      assert.equal(out.exitCode, 0, JSON.stringify(out.data));
      const data = out.data as {
        run: { id: number; state: string; tunedModel: string };
        evals: Array<{ model: string; mean: number; n: number; ci: number[] }>;
        comparison: { pValue: number; significant: boolean; diff: number; test: string };
        hypotheses: Array<{ verdict: { outcome: string } }>;
        cost: { trainingUsd: number };
      };
      assert.equal(data.run.state, "succeeded");
      assert.deepEqual(states, ["queued", "running", "succeeded"]);
      assert.equal(data.run.tunedModel, `run:${data.run.id}`);
      const tuned = data.evals.find((e) => e.model === `run:${data.run.id}`);
      const base = data.evals.find((e) => e.model === "local:stories260K");
      assert.equal(tuned?.mean, 1);
      assert.equal(base?.mean, 0);
      assert.equal(tuned?.n, 20);
      assert.ok(tuned && tuned.ci[0] > 0.8 && tuned.ci[1] === 1, "Wilson interval");
      assert.equal(data.comparison.test, "mcnemar-exact");
      assert.ok(data.comparison.pValue < 1e-5 && data.comparison.significant);
      assert.equal(data.hypotheses[0].verdict.outcome, "supported");
      assert.equal(data.cost.trainingUsd, 0);
      const ledger = app.engine.ledger({ runId: data.run.id });
      assert.deepEqual(ledger.map((l) => `${l.kind}${l.estimated ? "~" : ""}`).sort(), [
        "eval",
        "eval",
        "training",
        "training~",
      ]);
      // progress events became loss points
      assert.ok(app.engine.runEvents(data.run.id, "loss").length >= 1);
    } finally {
      await app.close();
    }
  });

  test("refusals: unknown dataset, overlap with the eval set (rows named), over budget", async () => {
    const fake = await startFakeOpenAI({ latencyMs: 0 });
    const { app } = await engineApp({
      endpoints: [fakeEndpoint("big", fake.baseUrl, { inputPer1M: 100, outputPer1M: 100 })],
    });
    try {
      const { eval: evalRef } = await seedExperiment(app, { baselines: ["big:model"], budget: 0.0001 });
      const unknown = await runCommand(["run", "start", "nope", "--experiment", "exp"], ctxFor(app));
      assert.equal(unknown.exitCode, 1);
      assert.match(unknown.error?.message ?? "", /No dataset named "nope"/);
      const overlap = await runCommand(["run", "start", evalRef, "--experiment", "exp"], ctxFor(app));
      assert.equal(overlap.exitCode, 1);
      assert.equal(overlap.error?.code, "run_overlap");
      assert.match(
        overlap.error?.message ?? "",
        /20 eval rows identical to a training row \(eval line 1 = line 1, eval line 2 = line 2/,
      );
      const budget = await runCommand(["run", "start", "task-train", "--experiment", "exp"], ctxFor(app));
      assert.equal(budget.error?.code, "budget_exceeded");
      assert.match(budget.error?.message ?? "", /over what is left of exp's budget/);
      assert.equal(app.engine.listRuns().length, 0, "nothing was queued");
    } finally {
      await app.close();
      await fake.close();
    }
  });

  test("a run above the confirmation threshold waits; confirm queues it; the same request twice is one run", async () => {
    const fake = await startFakeOpenAI();
    const { app } = await engineApp({
      env: { TUNELOOP_CONFIRM_ABOVE_USD: "0" },
      endpoints: [fakeEndpoint("big", fake.baseUrl, { inputPer1M: 1, outputPer1M: 1 })],
    });
    try {
      const { train } = await seedExperiment(app, { baselines: ["big:model"] });
      const ctx = { ...ctxFor(app, "console"), requestId: "req-1" };
      const a = await runCommand(["run", "start", train, "--experiment", "exp"], ctx);
      const b = await runCommand(["run", "start", train, "--experiment", "exp"], ctx);
      const ra = (a.data as { run: { id: number; state: string } }).run;
      assert.equal(ra.state, "awaiting_confirmation");
      assert.equal((b.data as { run: { id: number } }).run.id, ra.id);
      assert.equal(app.engine.listRuns().length, 1);
      assert.match(JSON.stringify(a.card), /run confirm/);
      const c = await runCommand(["run", "confirm", String(ra.id)], ctx);
      assert.equal((c.data as { run: { state: string } }).run.state, "queued");
      const again = await runCommand(["run", "confirm", String(ra.id)], ctx);
      assert.equal(again.error?.code, "run_state");
    } finally {
      await app.close();
      await fake.close();
    }
  });

  test("cancel: a queued run at once; a running run within a step", async () => {
    const trainer = new FakeTrainer({ steps: 200, stepMs: 20 });
    const { app } = await engineApp({ trainer });
    try {
      const { train } = await seedExperiment(app);
      const q = await app.runs.start({ dataset: train, experiment: "exp", yes: true, user: "tester", channelId: null });
      assert.equal(app.runs.cancel(q.run.id, "tester").state, "cancelled");
      const r = await app.runs.start({
        dataset: train,
        experiment: "exp",
        yes: true,
        user: "tester",
        channelId: null,
        seed: 2,
      });
      const running = app.worker.runNext(r.run.id);
      // Cancelled once it is training (however long the machine takes to get there), it stops before its end.
      await until("the run training", () => (app.engine.runById(r.run.id)?.progress?.step ?? 0) >= 1);
      app.runs.cancel(r.run.id, "tester");
      const done = await running;
      assert.equal(done?.state, "cancelled");
      assert.ok((done?.progress?.step ?? 0) < 200, `stopped at step ${done?.progress?.step} of 200`);
    } finally {
      await app.close();
    }
  });

  test("a training failure fails the run with the reason", async () => {
    const { app } = await engineApp({
      trainer: new FakeTrainer({ steps: 5, failAt: { step: 3, message: "loss became NaN" } }),
    });
    try {
      const { train } = await seedExperiment(app);
      const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--wait"], ctxFor(app));
      const run = (out.data as { run: { state: string; stateReason: string } }).run;
      assert.equal(run.state, "failed");
      assert.match(run.stateReason, /loss became NaN/);
      assert.equal(out.exitCode, 1);
    } finally {
      await app.close();
    }
  });

  test("two workers never take the same run", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      const r = await app.runs.start({ dataset: train, experiment: "exp", yes: true, user: "tester", channelId: null });
      const now = new Date();
      const until = new Date(now.getTime() + 60_000);
      const a = app.engine.claimRun("w1", now, until);
      const b = app.engine.claimRun("w2", now, until);
      assert.equal(a?.id, r.run.id);
      assert.equal(b, null);
    } finally {
      await app.close();
    }
  });
});

describe("resume after a restart", () => {
  test("a lease held by a process of this machine that is gone is taken over at once; a live or remote one stands", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      const r = await app.runs.start({ dataset: train, experiment: "exp", yes: true, user: "tester", channelId: null });
      const hold = (owner: string) =>
        app.engine.updateRun(r.run.id, {
          state: "running",
          leaseOwner: owner,
          leaseUntil: new Date(Date.now() + 3_600_000),
        });
      hold(`${os.hostname()}:${process.pid}:alive`);
      assert.equal(await app.worker.runNext(), null, "a live process keeps its lease");
      hold(`another-host:1:remote`);
      assert.equal(await app.worker.runNext(), null, "a process of another machine keeps its lease");
      hold(`${os.hostname()}:2147483647:gone`);
      const done = await app.worker.runNext();
      assert.equal(done?.id, r.run.id, "a gone process's lease is taken over");
      assert.equal(done?.state, "succeeded");
    } finally {
      await app.close();
    }
  });

  const children: Array<ReturnType<typeof spawn>> = [];
  after(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  test("kill the process mid-run: the run resumes in the next process, once, and finishes", async () => {
    const { app, dataDir } = await engineApp();
    const { train } = await seedExperiment(app);
    const r = await app.runs.start({ dataset: train, experiment: "exp", yes: true, user: "tester", channelId: null });
    await app.close();

    // A worker process with a slow trainer and a short lease; killed while training.
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(repoRoot, "test", "engine", "worker-child.ts"), dataDir],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (d) => {
        out += d;
        if (out.includes("step 3")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`child exited early (${code}): ${out}`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    const trainer = new FakeTrainer({ steps: 5, stepMs: 5 });
    const second = await engineApp({ dataDir, trainer });
    try {
      const mid = second.app.engine.runById(r.run.id);
      assert.equal(mid?.state, "running", "left running by the killed process");
      assert.ok(mid?.leaseUntil && mid.leaseUntil > new Date(), "its lease has not run out");
      // the lease's owner is a process of this machine that is gone: the run is taken up at once
      const done = await second.app.worker.runNext();
      assert.equal(done?.id, r.run.id);
      assert.equal(done?.state, "succeeded");
      assert.equal(done?.attempts, 2);
      assert.match(
        String(
          second.app.engine
            .runEvents(r.run.id, "state")
            .map((e) => JSON.stringify(e.data))
            .join(" "),
        ),
        /resumed after a restart/,
      );
      assert.equal(trainer.started, 1);
      assert.equal(second.app.engine.listRuns().length, 1, "never duplicated");
      assert.equal(
        second.app.engine.evals({ runId: r.run.id, state: "succeeded" }).filter((e) => e.role === "tuned").length,
        1,
      );
    } finally {
      await second.app.close();
    }
  });
});
