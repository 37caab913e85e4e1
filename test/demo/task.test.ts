import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { DEMO_BOYS, DEMO_GIRLS, DEMO_LABELS, DEMO_OBJECTS, makeDemoTask } from "../../src/core/demo/task.ts";
import { LocalTrainerClient } from "../../src/providers/local/client.ts";
import { chatToExample, promptFromMessages } from "../../src/providers/local/template.ts";
import type { TrainExample } from "../../src/providers/local/train.ts";
import { tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";

const words = (s: string) => new Set(s.match(/[A-Za-z]+(?: (?:bear|toy|star|duck))?/g) ?? []);

test("demo task: shape, balance, determinism, and no overlap between train and eval", () => {
  const t = makeDemoTask({ seed: 1, trainRows: 450, evalRows: 150 });
  assert.equal(t.train.length, 450);
  assert.equal(t.eval.length, 150);
  assert.deepEqual(t.labels, [...DEMO_LABELS] as string[]);
  for (const r of [...t.train, ...t.eval]) {
    assert.equal(r.messages.length, 2);
    assert.equal(r.messages[0].role, "user");
    assert.equal(r.messages[1].role, "assistant");
    assert.ok(t.labels.includes(r.messages[1].content));
  }
  for (const label of t.labels) {
    assert.ok(Math.abs(t.eval.filter((r) => r.messages[1].content === label).length - 150 / 4) <= 1, label);
  }
  assert.ok(t.majority.evalShare > 0.2 && t.majority.evalShare < 0.3);
  const trainPrompts = new Set(t.train.map((r) => r.messages[0].content));
  assert.equal(trainPrompts.size, 450, "no duplicate prompt in train");
  assert.ok(
    t.eval.every((r) => !trainPrompts.has(r.messages[0].content)),
    "no eval prompt in train",
  );
  // Names and objects of eval rows never occur in train rows.
  const names = new Set([...DEMO_GIRLS, ...DEMO_BOYS]);
  const trainWords = new Set(t.train.flatMap((r) => [...words(r.messages[0].content)]));
  for (const r of t.eval) {
    for (const w of words(r.messages[0].content)) {
      if (names.has(w)) assert.ok(!trainWords.has(w), `eval name ${w} seen in train`);
    }
    for (const o of DEMO_OBJECTS) {
      if (new RegExp(`\\b${o}\\b`).test(r.messages[0].content))
        assert.ok(
          !t.train.some((x) => new RegExp(`\\b${o}\\b`).test(x.messages[0].content)),
          `eval object ${o} seen in train`,
        );
    }
  }
  assert.deepEqual(makeDemoTask({ seed: 1, trainRows: 450, evalRows: 150 }), t);
  assert.notDeepEqual(makeDemoTask({ seed: 2, trainRows: 450, evalRows: 150 }).train, t.train);
});

test("demo task end to end on the local trainer: base 0% -> tuned >= 85% exact match on 150 held-out rows", async (t) => {
  const t0 = performance.now();
  const task = makeDemoTask({ seed: 1, trainRows: 450, evalRows: 150 });
  const client = new LocalTrainerClient({ modelDir: localModelDir });
  try {
    const prompts = task.eval.map((r) => promptFromMessages(r.messages.slice(0, 1)));
    const expected = task.eval.map((r) => r.messages[1].content);
    // The exact grader: equal after removing trailing whitespace.
    const exact = (outs: Array<{ text: string }>) =>
      outs.filter((o, i) => o.text.trimEnd() === expected[i]).length / outs.length;
    let t1 = performance.now();
    const base = await client.generate(prompts, { maxTokens: 8 });
    const baseMs = performance.now() - t1;
    t1 = performance.now();
    // The run service's defaults for the local provider (3 epochs for a few hundred rows).
    const out = await client.train(
      {
        examples: task.train.map((r) => chatToExample(r.messages) as TrainExample),
        hyper: { epochs: 3, learningRate: 3e-3, batchSize: 16, loraRank: 8, loraAlpha: 16, seed: 1 },
        adapterDir: path.join(tmpDir("demo"), "adapter"),
      },
      () => {},
      new AbortController().signal,
    );
    const trainMs = performance.now() - t1;
    t1 = performance.now();
    const tuned = await client.generate(prompts, { adapterDir: out.adapterDir, maxTokens: 8 });
    const tunedMs = performance.now() - t1;
    const baseEm = exact(base);
    const tunedEm = exact(tuned);
    t.diagnostic(
      `base EM ${(baseEm * 100).toFixed(1)}% (${(baseMs / 1000).toFixed(1)} s), tuned EM ${(tunedEm * 100).toFixed(1)}% (${(tunedMs / 1000).toFixed(1)} s), ` +
        `training ${out.steps} steps ${(trainMs / 1000).toFixed(1)} s (${Math.round(out.tokens / (out.wallMs / 1000))} tokens/s, final loss ${out.finalLoss.toFixed(3)}), ` +
        `majority baseline ${(task.majority.evalShare * 100).toFixed(1)}%, total ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    assert.equal(baseEm, 0);
    assert.ok(tunedEm >= 0.85, `tuned exact match ${tunedEm}`);
  } finally {
    client.close();
  }
});
