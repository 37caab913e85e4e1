import assert from "node:assert/strict";
import { test } from "node:test";
import { DEMO_BOYS, DEMO_GIRLS, DEMO_LABELS, DEMO_OBJECTS, makeDemoTask } from "../../src/core/demo/task.ts";

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
