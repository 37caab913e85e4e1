/**
 * Hyperparameters that wreck training: absurd values are refused before a run starts, naming the option; a run whose
 * loss diverges fails with the reason and what to do, not "internal error".
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { createLogger } from "../../src/log.ts";
import { chatToExample } from "../../src/providers/local/template.ts";
import { loadModel, type TrainExample, trainLora } from "../../src/providers/local/train.ts";
import { tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";
import { ctxFor, engineApp, seedExperiment } from "./engine-helpers.ts";

describe("hyperparameters", () => {
  test("--lr above 1 and --lora-alpha above 1024 are refused before anything starts, naming the option", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      const start = (...extra: string[]) =>
        runCommand(["run", "start", train, "--experiment", "exp", "--yes", ...extra], ctxFor(app));
      const lr = await start("--lr", "2");
      assert.equal(lr.exitCode, 1);
      assert.equal(lr.error?.code, "invalid_options");
      assert.match(lr.error?.message ?? "", /^--lr 2 is too large: the learning rate must be at most 1/);
      const alpha = await start("--lora-alpha", "5000");
      assert.equal(alpha.exitCode, 1);
      assert.equal(alpha.error?.code, "invalid_options");
      assert.match(alpha.error?.message ?? "", /^--lora-alpha 5000 is too large: LoRA alpha must be at most 1024/);
      assert.equal(app.engine.listRuns().length, 0, "nothing was created");
      // the limits themselves are allowed
      const edge = await start("--lr", "1", "--lora-alpha", "1024");
      assert.equal(edge.exitCode, 0, JSON.stringify(edge.data));
    } finally {
      await app.close();
    }
  });

  test("the local trainer: a loss that explodes (lr 1e6) is a coded divergence error", async () => {
    const { model, tokenizer } = await loadModel(localModelDir);
    const task = makeDemoTask({ seed: 3, trainRows: 32, evalRows: 8 });
    const examples = task.train.map((r) => chatToExample(r.messages) as TrainExample);
    await assert.rejects(
      trainLora({
        model,
        tokenizer,
        examples,
        hyper: { epochs: 1, learningRate: 1e6, batchSize: 8, loraRank: 8, loraAlpha: 16, seed: 1 },
      }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "training_diverged");
        assert.match(err.message, /^training diverged at step 2 \(loss [^)]+\); lower the learning rate/);
        return true;
      },
    );
  });

  test("a run whose loss explodes (--lr 1 --lora-alpha 1024 on the local trainer) fails with the reason", async () => {
    const dataDir = tmpDir("diverge");
    const config = loadConfig({ TUNELOOP_DATA: dataDir, LOG_LEVEL: "silent", TUNELOOP_LOCAL_MODEL_DIR: localModelDir });
    const app = createApp(config, createLogger(config));
    try {
      const { train } = await seedExperiment(app, { rows: 80 });
      const out = await runCommand(
        ["run", "start", train, "--experiment", "exp", "--lr", "1", "--lora-alpha", "1024", "--yes", "--wait"],
        ctxFor(app),
      );
      const run = (out.data as { run: { state: string; stateReason: string } }).run;
      assert.equal(run.state, "failed");
      assert.match(
        run.stateReason,
        /^training diverged at step \d+ \(loss [\d.]+, more than 10x the first step's [\d.]+\); lower the learning rate/,
      );
      assert.doesNotMatch(run.stateReason, /internal error/);
    } finally {
      await app.close();
    }
  });
});
