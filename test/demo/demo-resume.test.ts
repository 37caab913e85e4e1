/**
 * `npm run tune -- demo` killed while it trains and started again: it reuses its dataset, experiment and run (the
 * run resumes, in a process that sees its old owner is gone) instead of making demo-2 and a second run; and the
 * resumed run's loss chart has one point per step, not the first attempt's points as well.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { after, test } from "node:test";
import { createApp } from "../../src/app.ts";
import { lossPoints, runLossSpec } from "../../src/charts/run-charts.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { repoRoot, runCliInProcess, testEnv, tmpDir } from "../helpers.ts";
import { engineApp, seedExperiment } from "../engine/engine-helpers.ts";
import { localModelDir } from "../local/helpers.ts";

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

const DEMO = ["demo", "--rows", "120", "--seed", "5"];

test("a demo killed mid-training and started again resumes its run in the same experiment", async () => {
  const data = tmpDir("demo-resume");
  const env = testEnv(data, { TUNELOOP_LOCAL_MODEL_DIR: localModelDir });

  // First demo: killed (SIGKILL) once its run has trained a few steps.
  const first = spawn(process.execPath, [path.join(repoRoot, "bin", "tuneloop.mjs"), ...DEMO], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(first);
  const cut = await new Promise<{ runId: number; step: number }>((resolve, reject) => {
    let err = "";
    first.stderr.on("data", (d) => {
      err += d;
      const m = [...err.matchAll(/run (\d+): training: (\d+)\/\d+ steps/g)].at(-1);
      if (m && Number(m[2]) >= 2) resolve({ runId: Number(m[1]), step: Number(m[2]) });
    });
    first.on("exit", (code) => reject(new Error(`the first demo ended (${code}) before it trained: ${err}`)));
  });
  first.kill("SIGKILL");
  await new Promise((resolve) => first.once("exit", resolve));

  // Started again (in this process: the CLI's main, a process other than the killed one): the same experiment and
  // run, finished.
  const again = await runCliInProcess(DEMO, env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /3\/6 reusing experiment demo: eval set demo-eval@v1/);
  assert.match(again.stderr, new RegExp(`4/6 resuming run ${cut.runId} \\(running\\)`));
  assert.match(again.stdout, /Demo: demo · base/, "no demo-2");
  assert.match(again.stdout, new RegExp(`Run\\s+#${cut.runId}:`), "the first run, resumed");

  const config = loadConfig({ TUNELOOP_DATA: data, LOG_LEVEL: "silent" });
  const app = createApp(config, createLogger(config));
  try {
    assert.deepEqual(
      app.engine.listExperiments().map((e) => e.name),
      ["demo"],
    );
    const runs = app.engine.listRuns();
    assert.equal(runs.length, 1, "one run");
    const run = runs[0];
    assert.equal(run.state, "succeeded");
    assert.equal(run.attempts, 2);
    const steps = run.result?.steps as number;
    assert.ok(steps > cut.step);
    // the killed attempt's points were recorded too; the chart shows the finished attempt's, one per step
    const recorded = app.engine.runEvents(run.id, "loss").flatMap((e) => e.data as Array<[number, number]>);
    assert.ok(recorded.length > steps, `${recorded.length} points recorded for ${steps} steps`);
    const pts = lossPoints(app, run.id);
    assert.deepEqual(
      pts.map((p) => p.step),
      Array.from({ length: steps }, (_, i) => i + 1),
    );
    const spec = runLossSpec(app, run);
    assert.match(JSON.stringify(spec?.title), new RegExp(`· ${steps} steps[ ,]`));
  } finally {
    await app.close();
  }
});

test("a 100-step run resumed after 12 steps: its loss chart has 100 points and says 100 steps, not 112", async () => {
  const { app } = await engineApp();
  try {
    const { train } = await seedExperiment(app);
    const { run } = await app.runs.start({ dataset: train, experiment: "exp", yes: true, user: "t", channelId: null });
    const batch = (from: number, to: number, loss: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => [from + i, loss] as [number, number]);
    // the first attempt reported steps 1-12 in two flushes and was killed; the second trained from step 1 to 100
    app.engine.addRunEvent(run.id, new Date(), "loss", batch(1, 8, 3));
    app.engine.addRunEvent(run.id, new Date(), "loss", batch(9, 12, 2.5));
    app.engine.addRunEvent(run.id, new Date(), "loss", batch(1, 50, 2));
    app.engine.addRunEvent(run.id, new Date(), "loss", batch(51, 100, 1));
    const pts = lossPoints(app, run.id);
    assert.deepEqual(
      pts.map((p) => p.step),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.ok(
      pts.every((p) => p.loss <= 2),
      "the second attempt's losses",
    );
    assert.match(JSON.stringify(runLossSpec(app, run)?.title), /· 100 steps[ ,]/);
  } finally {
    await app.close();
  }
});
