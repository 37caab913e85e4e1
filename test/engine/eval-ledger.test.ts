/**
 * The ledger books what was billed: eval cost is booked as requests are answered, so an eval that fails halfway, is
 * cancelled or whose process is killed keeps the cost of every answered request; a resumed eval reuses the rows
 * answered before; two runs of one experiment evaluate a paid baseline once. Hand computation: what the fake
 * endpoint billed (the usage of every answer it delivered) at the baseline's price.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { RunWorker } from "../../src/core/runs/worker.ts";
import type { FakeReply } from "../fakes/openai-compatible.ts";
import { ctxFor, engineApp, seedExperiment } from "./engine-helpers.ts";
import { actualUsd, billedUsd, finished, pricedExperiment, spawnCli, until } from "./money-helpers.ts";

const near = (a: number, b: number) => Math.abs(a - b) < 1e-12;

describe("eval cost is booked as requests are answered", () => {
  test("a provider that fails halfway: the answered requests stay booked, and the next eval asks only the rest", async () => {
    let failing = true;
    const x = await pricedExperiment({
      fake: { before: (n): FakeReply | undefined => (failing && n > 8 ? { status: 500 } : undefined) },
    });
    try {
      const expId = x.app.experiments.get("exp").id;
      const first = await runCommand(["eval", "big:m", x.evalRef, "--experiment", "exp"], ctxFor(x.app));
      assert.equal(first.exitCode, 1);
      assert.equal(first.error?.code, "endpoint_unavailable");
      assert.equal(x.fake.answered.length, 8);
      const failed = x.app.engine.evals({ experimentId: expId })[0];
      assert.equal(failed.state, "failed");
      assert.equal(x.app.engine.evalRows(failed.id).length, 8, "the answered rows are kept");
      const bookedFirst = actualUsd(x.app.engine.ledger({ experimentId: expId }));
      assert.ok(bookedFirst > 0 && near(bookedFirst, billedUsd(x.fake, x.price)), `${bookedFirst}`);

      failing = false;
      const asked = x.fake.requests.length;
      const second = await runCommand(["eval", "big:m", x.evalRef, "--experiment", "exp"], ctxFor(x.app));
      assert.equal(second.exitCode, 0, second.error?.message);
      assert.equal(x.fake.requests.length - asked, 12, "only the 12 unanswered rows were asked");
      const d = second.data as { id: number; n: number; mean: number };
      assert.equal(d.n, 20);
      const rows = await x.app.datasets.allRows(x.app.datasets.get(x.evalRef));
      assert.equal(d.mean, rows.filter((r) => r.messages?.at(-1)?.content === "red").length / rows.length);
      assert.match(JSON.stringify(second.card), new RegExp(`8 answered rows reused from eval #${failed.id}`));
      assert.match(x.app.engine.evalById(failed.id)?.error ?? "", new RegExp(`resumed as #${d.id}$`));
      const booked = actualUsd(x.app.engine.ledger({ experimentId: expId }));
      assert.equal(x.fake.answered.length, 20);
      assert.ok(near(booked, billedUsd(x.fake, x.price)), `every billed request booked once: ${booked}`);
      assert.match(
        JSON.stringify(second.card),
        new RegExp(`\\$${Number(booked.toFixed(4))}`),
        "the card shows the eval's whole cost",
      );
    } finally {
      await x.close();
    }
  });

  describe("a process killed with SIGKILL mid-eval", () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    after(() => release());

    test("keeps the cost of every answered request; the next eval resumes its rows and closes it as failed (resumed as #n)", async () => {
      let holding = true;
      const x = await pricedExperiment({
        fake: { before: (n) => (holding && n > 8 ? held.then(() => ({ status: 503 })) : undefined) },
      });
      try {
        const expId = x.app.experiments.get("exp").id;
        const child = spawnCli(
          ["eval", "big:m", x.evalRef, "--experiment", "exp", "--json"],
          x.dataDir,
          x.endpointsJson,
        );
        const exited = finished(child);
        // Eight answers delivered, four more requests held by the endpoint: the child stored the eight, then dies.
        await until("eight rows stored by the child", () => {
          const e = x.app.engine.evals({ experimentId: expId })[0];
          return e !== undefined && x.app.engine.evalRows(e.id).length === 8 && x.fake.requests.length >= 12;
        });
        child.kill("SIGKILL");
        await exited;
        const orphan = x.app.engine.evals({ experimentId: expId })[0];
        assert.equal(orphan.state, "running", "left running by the killed process");
        const bookedByChild = actualUsd(x.app.engine.ledger({ experimentId: expId }));
        assert.equal(x.fake.answered.length, 8);
        assert.ok(near(bookedByChild, billedUsd(x.fake, x.price)), `booked before the kill: ${bookedByChild}`);

        holding = false;
        const asked = x.fake.requests.length;
        const again = await runCommand(["eval", "big:m", x.evalRef, "--experiment", "exp"], ctxFor(x.app));
        assert.equal(again.exitCode, 0, again.error?.message);
        const id = (again.data as { id: number; n: number }).id;
        assert.equal((again.data as { n: number }).n, 20);
        assert.equal(x.fake.requests.length - asked, 12, "the eight answered rows were not asked again");
        const closed = x.app.engine.evalById(orphan.id);
        assert.equal(closed?.state, "failed");
        assert.equal(closed?.error, `resumed as #${id}`);
        assert.deepEqual(
          x.app.engine.evals({ experimentId: expId, state: "running" }).map((e) => e.id),
          [],
          "no eval is left running",
        );
        assert.ok(near(actualUsd(x.app.engine.ledger({ experimentId: expId })), billedUsd(x.fake, x.price)));
      } finally {
        await x.close();
      }
    });
  });

  test("a run cancelled mid-eval keeps the cost of the answered requests", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const x = await pricedExperiment({ fake: { before: (n) => (n > 8 ? held.then(() => undefined) : undefined) } });
    try {
      const start = await runCommand(["run", "start", x.train, "--experiment", "exp", "--yes"], ctxFor(x.app));
      const id = (start.data as { run: { id: number } }).run.id;
      const running = x.app.worker.runNext(id);
      await until(
        "eight answers and four held requests",
        () => x.fake.answered.length === 8 && x.fake.requests.length >= 12,
      );
      await runCommand(["run", "cancel", String(id)], ctxFor(x.app));
      const done = await running;
      assert.equal(done?.state, "cancelled");
      release();
      const booked = actualUsd(x.app.engine.ledger({ runId: id }));
      assert.ok(booked > 0 && near(booked, billedUsd(x.fake, x.price)), `${booked}`);
      const show = await runCommand(["run", "show", String(id)], ctxFor(x.app));
      assert.equal((show.data as { cost: { evalUsd: number } }).cost.evalUsd, Math.round(booked * 1e6) / 1e6);
    } finally {
      release();
      await x.close();
    }
  });
});

test("two concurrent runs of one experiment evaluate its paid baseline once", async () => {
  const ids: number[] = [];
  let app: Parameters<typeof ctxFor>[0] | undefined;
  let bothThere = false;
  // The baseline's first request waits until both runs have reached the baseline: without coordination both would
  // now ask the endpoint.
  const x = await pricedExperiment({
    fake: {
      before: async () => {
        if (!bothThere)
          await until("both runs at the baseline", () =>
            ids.every((id) => app?.engine.runById(id)?.progress?.evalModel === "big:m"),
          );
        bothThere = true;
        return undefined;
      },
    },
  });
  app = x.app;
  try {
    for (const seed of ["1", "2"]) {
      const s = await runCommand(
        ["run", "start", x.train, "--experiment", "exp", "--yes", "--seed", seed],
        ctxFor(x.app),
      );
      ids.push((s.data as { run: { id: number } }).run.id);
    }
    const second = new RunWorker(
      x.app.engine,
      x.app.runs,
      x.app.datasets,
      x.app.evals,
      x.app.providers,
      x.app.clock,
      x.app.log,
      { dataDir: x.dataDir },
    );
    const [a, b] = await Promise.all([x.app.worker.runNext(ids[0]), second.runNext(ids[1])]);
    assert.equal(a?.state, "succeeded", a?.stateReason ?? "");
    assert.equal(b?.state, "succeeded", b?.stateReason ?? "");
    assert.equal(x.fake.requests.length, 20, "the 20 eval rows were asked once");
    const baselineEvals = x.app.engine.evals({ model: "big:m" });
    assert.deepEqual(
      baselineEvals.map((e) => e.state),
      ["succeeded"],
    );
    for (const id of ids) {
      const show = await runCommand(["run", "status", String(id)], ctxFor(x.app));
      const evals = (show.data as { evals: Array<{ id: number; model: string }> }).evals;
      assert.equal(evals.find((e) => e.model === "big:m")?.id, baselineEvals[0].id);
    }
    const eid = x.app.experiments.get("exp").id;
    assert.ok(near(actualUsd(x.app.engine.ledger({ experimentId: eid })), billedUsd(x.fake, x.price)));
  } finally {
    await x.close();
  }
});

test("claims: a live eval elsewhere is waited for; once its lease expires (or its process is gone) it is resumed", async () => {
  const { app } = await engineApp();
  try {
    const { eval: evalRef, exp } = await seedExperiment(app);
    const ds = app.datasets.get(evalRef);
    const key = {
      model: "big:m",
      datasetVersionId: ds.id,
      metric: "exact",
      maxTokens: 16,
      experimentId: exp.id,
      runId: null,
      role: "baseline" as const,
    };
    const t0 = Date.now();
    const claim = (owner: string, at: number) =>
      app.engine.claimEval({
        key,
        share: "experiment",
        reuseSucceeded: true,
        owner,
        now: new Date(at),
        leaseUntil: new Date(at + 30_000),
        ownerAlive: (o) => !o.startsWith("gone"),
        rows: ds.rows,
        hold: null,
      });
    const a = claim("other-host:1:a", t0);
    assert.equal(a.kind, "created");
    if (a.kind !== "created") return;
    const row = (i: number) => ({
      evalId: a.eval.id,
      rowIndex: i,
      line: i + 1,
      output: "red",
      expected: "red",
      score: 1,
      pass: true,
      detail: null,
      latencyMs: 1,
      inputTokens: 10,
      outputTokens: 1,
      cluster: null,
    });
    app.engine.addEvalRows([row(0), row(1), row(2)]);
    const b = claim("other-host:2:b", t0 + 1000);
    assert.equal(b.kind, "wait", "its lease is alive: wait for it rather than pay twice");
    assert.equal(b.kind === "wait" && b.eval.id, a.eval.id);
    const c = claim("other-host:2:b", t0 + 31_000);
    assert.equal(c.kind, "created", "its lease expired: resume it");
    if (c.kind !== "created") return;
    assert.equal(c.adopted?.rows, 3);
    assert.equal(app.engine.evalRows(c.eval.id).length, 3);
    assert.equal(app.engine.evalById(a.eval.id)?.error, `resumed as #${c.eval.id}`);
    // A process known to be gone leaves its eval resumable at once, lease or not.
    const d = claim("gone:3:d", t0 + 32_000);
    assert.equal(d.kind, "wait", "c is alive");
    app.engine.updateEval(c.eval.id, { leaseOwner: "gone:2:b" });
    const e = claim("other-host:4:e", t0 + 33_000);
    assert.equal(e.kind, "created");
    assert.equal(e.kind === "created" && e.adopted?.rows, 3);
  } finally {
    await app.close();
  }
});
