import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { LocalTrainerClient } from "../../src/providers/local/client.ts";
import { chatToExample, promptFromMessages } from "../../src/providers/local/template.ts";
import type { TrainExample, TrainProgress } from "../../src/providers/local/train.ts";
import { tmpDir } from "../helpers.ts";
import { KNOWN_STORY, localModelDir } from "./helpers.ts";

const client = new LocalTrainerClient({ modelDir: localModelDir });
after(() => client.close());

const task = makeDemoTask({ seed: 5, trainRows: 400, evalRows: 8 });
const examples = task.train.map((r) => chatToExample(r.messages) as TrainExample);
const hyper = { epochs: 1, learningRate: 3e-3, batchSize: 8, loraRank: 4, loraAlpha: 8, seed: 1 };

test("client: generation and training run on the worker thread", async () => {
  const [story] = await client.generate([""], { maxTokens: 50 });
  assert.ok(story.text.startsWith(KNOWN_STORY.slice(0, 60)), story.text);
  const adapterDir = path.join(tmpDir("local-client"), "adapter");
  const progress: TrainProgress[] = [];
  const out = await client.train(
    { examples: examples.slice(0, 64), hyper, adapterDir },
    (p) => progress.push(p),
    new AbortController().signal,
  );
  assert.equal(out.steps, 8);
  assert.equal(out.adapterDir, adapterDir);
  assert.equal(out.losses.length, 8);
  assert.ok(Number.isFinite(out.finalLoss) && out.tokens > 0 && out.wallMs > 0);
  assert.deepEqual(
    progress.map((p) => p.step),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.ok(progress.every((p) => p.totalSteps === 8 && p.epoch === 1 && p.tokensPerSec > 0));
  assert.ok(
    fs.existsSync(path.join(adapterDir, "adapter.json")) && fs.existsSync(path.join(adapterDir, "weights.bin")),
  );
  const prompts = task.eval.map((r) => promptFromMessages(r.messages.slice(0, 1)));
  const base = await client.generate(prompts, { maxTokens: 6 });
  const tuned = await client.generate(prompts, { adapterDir, maxTokens: 6 });
  assert.equal(tuned.length, prompts.length);
  assert.notDeepEqual(
    tuned.map((g) => g.text),
    base.map((g) => g.text),
  );
  for (const g of tuned) assert.ok(g.promptTokens > 5 && g.completionTokens <= 6 && g.latencyMs >= 0);
});

test("client: aborting stops training within one step and rejects with code 'cancelled'", async () => {
  const ac = new AbortController();
  let abortedAt = 0;
  let after = 0;
  let t0 = 0;
  const job = client.train(
    { examples, hyper: { ...hyper, epochs: 3 }, adapterDir: path.join(tmpDir("local-cancel"), "adapter") },
    (p) => {
      if (abortedAt) after++;
      else if (p.step === 2) {
        abortedAt = p.step;
        t0 = performance.now();
        ac.abort();
      }
    },
    ac.signal,
  );
  await assert.rejects(job, (err: Error & { code?: string }) => {
    assert.equal(err.code, "cancelled");
    return true;
  });
  const ms = performance.now() - t0;
  assert.equal(abortedAt, 2);
  // The worker finishes the step in flight and stops before the next one. (Up to 2 progress events can arrive after
  // the abort when this thread handles step 2's event late, on a busy machine.)
  assert.ok(after <= 2, `${after} steps ran after the abort`);
  assert.ok(ms < 3000, `cancel took ${ms.toFixed(0)} ms`);
  // An already aborted signal never starts, and the worker still serves.
  await assert.rejects(
    client.train({ examples, hyper, adapterDir: tmpDir("never") }, () => {}, ac.signal),
    { code: "cancelled" },
  );
  const [g] = await client.generate(["Once upon a time"], { maxTokens: 3 });
  assert.equal(g.completionTokens, 3);
});

test("client: a missing adapter is a clear error", async () => {
  await assert.rejects(
    client.generate(["hi"], { adapterDir: path.join(tmpDir("none"), "adapter"), maxTokens: 2 }),
    /no adapter in/,
  );
});

test("client: a model folder without the model fails the job with a message, not the process", async () => {
  const broken = new LocalTrainerClient({ modelDir: tmpDir("no-model") });
  try {
    await assert.rejects(broken.generate(["hi"], { maxTokens: 2 }), /stories260K\.bin/);
  } finally {
    broken.close();
  }
});
