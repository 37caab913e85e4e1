import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, test } from "node:test";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { loadAdapter, saveAdapter } from "../../src/providers/local/adapter.ts";
import { generate } from "../../src/providers/local/generate.ts";
import type { LlamaModel } from "../../src/providers/local/model.ts";
import { chatToExample, promptFromMessages } from "../../src/providers/local/template.ts";
import { BOS, EOS, type Tokenizer } from "../../src/providers/local/tokenizer.ts";
import {
  datasetLoss,
  encodeExample,
  evalLoss,
  loadModel,
  type TrainExample,
  type TrainResult,
  trainLora,
} from "../../src/providers/local/train.ts";
import { tmpDir } from "../helpers.ts";
import { localModelDir } from "./helpers.ts";

let model: LlamaModel;
let tokenizer: Tokenizer;
const task = makeDemoTask({ seed: 3, trainRows: 240, evalRows: 24 });
const examples: TrainExample[] = task.train.map((r) => chatToExample(r.messages) as TrainExample);
const evalPrompts = task.eval.map((r) => promptFromMessages(r.messages.slice(0, 1)));
const hyper = { epochs: 1, learningRate: 3e-3, batchSize: 8, loraRank: 8, loraAlpha: 16, seed: 11 };
let trained: TrainResult;

before(async () => {
  ({ model, tokenizer } = await loadModel(localModelDir));
});

test("encodeExample: loss only on the completion and EOS; long prompts lose their start", () => {
  const ex = encodeExample(tokenizer, { prompt: "Q: How did Tom feel?\nA:", completion: "sad" }, 512);
  const prompt = tokenizer.encode("Q: How did Tom feel?\nA:", { bos: true });
  const completion = tokenizer.encode("sad");
  assert.deepEqual(ex.ids, [...prompt, ...completion, EOS]);
  assert.equal(ex.firstScored, prompt.length - 1, "the first scored position predicts the first completion token");
  const short = encodeExample(
    tokenizer,
    { prompt: "Q: How did Tom feel when the big dog barked?\nA:", completion: "scared" },
    8,
  );
  assert.equal(short.ids.length, 9, "maxSeqLen inputs + 1");
  assert.equal(short.ids[0], BOS);
  assert.equal(short.ids.at(-1), EOS);
});

test("a 30-step LoRA run: the loss falls", async () => {
  const seen: number[] = [];
  trained = await trainLora({ model, tokenizer, examples, hyper, onProgress: (p) => seen.push(p.step) });
  assert.equal(trained.steps, 30);
  assert.deepEqual(
    seen,
    Array.from({ length: 30 }, (_, i) => i + 1),
  );
  assert.equal(trained.losses.length, 30);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(trained.losses.slice(0, 5));
  const last = mean(trained.losses.slice(-5));
  assert.ok(last < first * 0.5, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  assert.ok(trained.tokens > 0 && trained.wallMs > 0);
});

test("validation loss: before training and at the end of each epoch, token-weighted over the held-out rows, falling", async () => {
  const few = examples.slice(0, 32);
  const held = task.eval.map((r) => chatToExample(r.messages) as TrainExample);
  const valid: Array<{ step: number; loss: number; epoch: number }> = [];
  const steps: number[] = [];
  await trainLora({
    model,
    tokenizer,
    examples: few,
    validation: held,
    hyper: { ...hyper, epochs: 2, batchSize: 8 },
    onProgress: (p) => {
      steps.push(p.step);
      if (p.validLoss !== undefined) valid.push({ step: p.step, loss: p.validLoss, epoch: p.epoch });
    },
  });
  // 32 rows in batches of 8: 4 steps an epoch; validation at step 0 (before any step), 4 and 8
  assert.deepEqual(
    valid.map((v) => v.step),
    [0, 4, 8],
  );
  assert.deepEqual(steps, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  // before training it is the base model's loss on those rows: one batch over all of them gives the same
  // token-weighted mean as the trainer's batches of 8
  const encoded = held.map((ex) => encodeExample(tokenizer, ex, 512));
  const whole = evalLoss(model, null, encoded);
  assert.ok(Math.abs(valid[0].loss - whole) < 1e-4, `${valid[0].loss} vs ${whole}`);
  assert.ok(Math.abs(datasetLoss(model, null, encoded, 5) - whole) < 1e-4);
  assert.ok(valid[2].loss < valid[0].loss * 0.8, `validation loss ${valid.map((v) => v.loss.toFixed(3)).join(" -> ")}`);
});

test("same seed, same run; another seed, another run", async () => {
  const few = examples.slice(0, 32);
  const h = { ...hyper, batchSize: 8 };
  const a = await trainLora({ model, tokenizer, examples: few, hyper: h });
  const b = await trainLora({ model, tokenizer, examples: few, hyper: h });
  const c = await trainLora({ model, tokenizer, examples: few, hyper: { ...h, seed: 12 } });
  assert.deepEqual(a.losses, b.losses);
  assert.deepEqual(a.adapter.matrices[0].a, b.adapter.matrices[0].a);
  assert.deepEqual(a.adapter.matrices.at(-1)?.b, b.adapter.matrices.at(-1)?.b);
  assert.notDeepEqual(a.losses, c.losses);
});

test("adapter: save then load gives the same weights and the same generations", () => {
  const dir = path.join(tmpDir("local-adapter"), "adapter");
  const meta = saveAdapter(dir, trained.adapter, {
    baseName: "stories260K",
    baseSha256: model.sha256,
    baseConfig: model.config,
    training: { hyper },
  });
  assert.deepEqual(fs.readdirSync(dir).sort(), ["adapter.json", "weights.bin"]);
  assert.equal(meta.rank, 8);
  assert.deepEqual(meta.targets, ["wq", "wk", "wv", "wo", "output"]);
  const loaded = loadAdapter(dir);
  assert.equal(loaded.meta.baseModel.sha256, model.sha256);
  assert.equal(loaded.adapter.matrices.length, trained.adapter.matrices.length);
  loaded.adapter.matrices.forEach((m, i) => {
    assert.equal(m.name, trained.adapter.matrices[i].name);
    assert.deepEqual(m.a, trained.adapter.matrices[i].a);
    assert.deepEqual(m.b, trained.adapter.matrices[i].b);
  });
  const before = generate(model, tokenizer, evalPrompts, trained.adapter, { maxTokens: 6 });
  const after = generate(model, tokenizer, evalPrompts, loaded.adapter, { maxTokens: 6 });
  assert.deepEqual(
    after.map((g) => g.tokens),
    before.map((g) => g.tokens),
  );
  // The adapter changes the model: it now answers with a label and stops.
  const base = generate(model, tokenizer, evalPrompts, null, { maxTokens: 6 });
  assert.notDeepEqual(
    base.map((g) => g.text),
    before.map((g) => g.text),
  );
  assert.ok(
    before.filter((g) => task.labels.includes(g.text) && g.finishReason === "stop").length >= evalPrompts.length / 2,
    JSON.stringify(before.map((g) => g.text)),
  );
  // Rows that stop early ride along in a batch without changing the others.
  const mixed = [
    evalPrompts[0],
    "Once upon a time, there was a big",
    evalPrompts[1],
    "Tom and Sue went to the park. They saw",
  ];
  const together = generate(model, tokenizer, mixed, trained.adapter, { maxTokens: 20 });
  const alone = mixed.map((p) => generate(model, tokenizer, [p], trained.adapter, { maxTokens: 20 })[0]);
  assert.deepEqual(
    together.map((g) => g.tokens),
    alone.map((g) => g.tokens),
  );
  // A damaged weights file is refused.
  const bin = path.join(dir, "weights.bin");
  const bytes = fs.readFileSync(bin);
  bytes[10] ^= 0xff;
  fs.writeFileSync(bin, bytes);
  assert.throws(() => loadAdapter(dir), /damaged/);
});

test("shouldStop stops the run between steps", async () => {
  let calls = 0;
  const res = await trainLora({
    model,
    tokenizer,
    examples: examples.slice(0, 80),
    hyper,
    onProgress: () => {
      calls++;
    },
    shouldStop: () => calls >= 3,
  });
  assert.equal(res.stopped, true);
  assert.equal(res.steps, 3);
});
