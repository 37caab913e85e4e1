/**
 * `tuneloop worker` takes only the runs of the providers it declares (`--providers`, or `--provider` repeated), on
 * SQLite (the runs table) and on Postgres (the queue, on the Postgres pass): a worker for other providers leaves a run
 * queued, one for its provider runs it to the end.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { RunWorker } from "../../src/core/runs/worker.ts";
import { isTuneError } from "../../src/errors.ts";
import { providerFlags, startWorkerRole } from "../../src/scale/worker.ts";
import { ctxFor, engineApp, seedExperiment } from "./engine-helpers.ts";

describe("tuneloop worker: the providers it runs", () => {
  test("--providers a,b and --provider a --provider b name the same providers; bad options say what to write", () => {
    assert.equal(providerFlags([]), undefined);
    assert.deepEqual(providerFlags(["--providers", "selfhosted,local"]), ["selfhosted", "local"]);
    assert.deepEqual(providerFlags(["--provider", "selfhosted", "--provider=local"]), ["selfhosted", "local"]);
    assert.deepEqual(providerFlags(["--providers=together"]), ["together"]);
    for (const [args, why] of [
      [["--gpu"], /Unknown option --gpu\. Usage: npx tuneloop worker \[--providers selfhosted,local\]/],
      [["--providers"], /--providers needs a provider name/],
      [["--provider", "--providers", "x"], /--provider needs a provider name/],
      [["--providers", ","], /--providers needs at least one provider name/],
    ] as const) {
      assert.throws(
        () => providerFlags([...args]),
        (err: unknown) => isTuneError(err) && err.code === "invalid_options" && why.test(err.message),
        args.join(" "),
      );
    }
  });

  test("a worker for other providers leaves the run queued; a worker for its provider runs it", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes"], ctxFor(app));
      assert.equal(out.exitCode, 0, out.error?.message);
      const id = (out.data as { run: { id: number; provider: string } }).run.id;
      assert.equal(app.engine.runById(id)?.provider, "local");

      // A provider this machine has no trainer for is refused, naming what it has.
      await assert.rejects(
        startWorkerRole(app, { providers: ["selfhosted"] }),
        (err: unknown) =>
          isTuneError(err) &&
          err.code === "worker_unknown_provider" &&
          /no trainer "selfhosted": it has local/.test(err.message) &&
          /"kind": "vllm" endpoint in TUNELOOP_ENDPOINTS/.test(err.message),
      );
      for (const providers of [{ only: ["selfhosted"] }, { except: ["local"] }]) {
        const other = new RunWorker(app.engine, app.runs, app.datasets, app.evals, app.providers, app.clock, app.log, {
          dataDir: app.config.dataDir,
          providers,
        });
        assert.equal(await other.runNext(), null, JSON.stringify(providers));
        assert.equal(app.engine.runById(id)?.state, "queued", "left for a worker of its provider");
        await other.stop();
      }

      const role = await startWorkerRole(app, { providers: ["local"] });
      try {
        assert.deepEqual(role.providers, ["local"]);
        const end = Date.now() + 120_000;
        while (app.engine.runById(id)?.state !== "succeeded") {
          const run = app.engine.runById(id);
          assert.ok(run?.state !== "failed", run?.stateReason ?? "");
          assert.ok(Date.now() < end, `run ${id} is ${run?.state} after 120 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await role.stop();
      }
      assert.equal(app.engine.ledger({ runId: id }).filter((l) => l.kind === "training" && !l.estimated).length, 1);
    } finally {
      await app.close();
    }
  });
});
