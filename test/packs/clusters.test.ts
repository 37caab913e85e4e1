/** Failure clusters: by the expected answer on label tasks, by prompt similarity (MinHash) otherwise. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { clusterFailures, type FailureRow } from "../../src/core/iterate/clusters.ts";
import { parseTeacherReply } from "../../src/core/iterate/teacher.ts";

const row = (i: number, prompt: string, expected: string, regressed = false): FailureRow => ({
  rowIndex: i,
  line: i + 1,
  prompt,
  expected,
  output: "wrong",
  reason: `expected "${expected}", got "wrong"`,
  regressed,
});

test("label tasks cluster by the expected answer, with the training rows near each", () => {
  const f = [
    row(0, "Tom took Sam's ball without asking. How did Sam feel?", "angry", true),
    row(1, "Amy broke Kim's cup on purpose. How did Kim feel?", "angry"),
    row(2, "Ben lost his kite. How did Ben feel?", "sad"),
    row(3, "Zoe threw Ann's hat in the mud. How did Ann feel?", "angry"),
  ];
  const train = [
    { prompt: "Ben lost his hat at the park. How did Ben feel?", expected: "sad" },
    { prompt: "Lily got a new doll. How did Lily feel?", expected: "happy" },
  ];
  const c = clusterFailures(f, train);
  assert.deepEqual(
    c.map((x) => [x.k, x.label, x.size, x.regressed, x.trainSameAnswer]),
    [
      [1, 'answer "angry"', 3, 1, 0],
      [2, 'answer "sad"', 1, 0, 1],
    ],
  );
  assert.equal(c[0].example.line, 1, "a regressed row is the example");
  assert.deepEqual(c[0].rowIndexes, [0, 1, 3]);
});

test("free-text tasks cluster by prompt similarity and name the word pairs they share", () => {
  const refund = (i: number) =>
    row(
      i,
      `I would like a refund for order number ${1000 + i}, the parcel arrived damaged and the box was wet`,
      `Refund ${i} approved and a label sent`,
    );
  const login = (i: number) =>
    row(
      i,
      `I cannot log in to my account since the password reset email never arrived (attempt ${i})`,
      `Reset link ${i} resent`,
    );
  const c = clusterFailures(
    [refund(1), login(2), refund(3), login(4), refund(5)],
    [
      {
        prompt: "I would like a refund for order number 999, the parcel arrived damaged and the box was wet",
        expected: "ok",
      },
    ],
  );
  assert.deepEqual(
    c.map((x) => [x.size, x.rowIndexes]),
    [
      [3, [1, 3, 5]],
      [2, [2, 4]],
    ],
  );
  assert.match(c[0].label, /^prompts with "/);
  assert.ok(c[0].ngrams.includes("a refund"), c[0].ngrams.join("|"));
  assert.equal(c[0].trainNear, 1);
  assert.equal(c[1].trainNear, 0);
  assert.equal(c[0].trainSameAnswer, null);
});

test("a teacher's reply: fenced JSONL read, bad lines dropped with why", () => {
  const good = JSON.stringify({
    messages: [
      { role: "user", content: "q" },
      { role: "assistant", content: "a" },
    ],
  });
  const r = parseTeacherReply(
    `Here you go:\n\`\`\`jsonl\n${good}\nnot json\n{"messages": [{"role": "user", "content": "only a question"}]}\n{"text": "plain"}\n\`\`\``,
  );
  assert.equal(r.rows.length, 1);
  assert.deepEqual(
    r.dropped.map((d) => [d.line, d.reason.slice(0, 20)]),
    [
      [2, "not JSON"],
      [3, r.dropped[1].reason.slice(0, 20)],
      [4, "not a chat row ({mes"],
    ],
  );
});
