/** The grade pool: user-typed patterns graded on worker threads with a deadline, the same grades as inline. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GradePool } from "../../src/core/evals/grade-pool.ts";
import { makeGrader, parseGraderSpec, userPattern } from "../../src/core/evals/graders.ts";

test("pooled regex graders give the inline grades, json-schema patterns run only on the pool; other kinds stay inline", async () => {
  const pool = new GradePool({ timeoutMs: 5000 });
  try {
    const cases: Array<[string, string, string]> = [
      ["regex:^A\\d+$", "A12", ""],
      ["regex:^A\\d+$", "B12", ""],
      ["regex:/^yes$/i", "  YES ", ""],
      ['json-schema:{"type":"object","properties":{"id":{"type":"string","pattern":"^[a-z]+$"}}}', '{"id":"abc"}', ""],
      ['json-schema:{"type":"object","properties":{"id":{"type":"string","pattern":"^[a-z]+$"}}}', '{"id":"ab1"}', ""],
    ];
    for (const [text, output, expected] of cases) {
      const spec = parseGraderSpec(text);
      assert.ok(userPattern(spec), text);
      const pooled = await makeGrader(spec, { patterns: pool })({ output, expected });
      if (spec.kind === "json-schema") {
        // A schema's patterns never run on this thread (ajv is handed an engine that refuses): only on the pool.
        await assert.rejects(makeGrader(spec)({ output, expected }), /must run on the grade pool/);
        assert.deepEqual(
          pooled,
          output === '{"id":"abc"}'
            ? { score: 1, pass: true }
            : { score: 0, pass: false, detail: '$.id: "ab1" does not match the pattern ^[a-z]+$' },
          text,
        );
        continue;
      }
      const inline = await makeGrader(spec)({ output, expected });
      assert.deepEqual(pooled, inline, text);
    }
    assert.equal(userPattern(parseGraderSpec('json-schema:{"type":"object"}')), null);
    assert.equal(userPattern(parseGraderSpec("exact")), null);
  } finally {
    await pool.close();
  }
});

test("a row past the deadline fails with timedOut; the rows around it are graded on a fresh thread", async () => {
  const pool = new GradePool({ size: 1, timeoutMs: 300 });
  try {
    const grade = makeGrader(parseGraderSpec("regex:^(a+)+$"), { patterns: pool });
    const outputs = ["aaaa", `${"a".repeat(40)}b`, "aaaaaaaa", "b"];
    const grades = await Promise.all(outputs.map((output) => grade({ output, expected: "" })));
    assert.deepEqual(
      grades.map((g) => [g.pass, g.timedOut ?? false]),
      [
        [true, false],
        [false, true],
        [true, false],
        [false, false],
      ],
    );
    assert.match(grades[1].detail ?? "", /grading timed out after 300 ms: \/\^\(a\+\)\+\$\/ backtracks too much/);
  } finally {
    await pool.close();
  }
});

test("a pattern that times out on 3 answers in a row is benched: its other rows fail at once, other patterns go on", async () => {
  let now = 0;
  const pool = new GradePool({ size: 1, timeoutMs: 300, now: () => now });
  try {
    const slow = makeGrader(parseGraderSpec("regex:^(a+)+$"), { patterns: pool });
    const other = makeGrader(parseGraderSpec("regex:^b$"), { patterns: pool });
    // 40 answers that all backtrack: without the bench each would hold the thread a deadline (40 x 300 ms)
    const evil = `${"a".repeat(40)}b`;
    const grades = await Promise.all(Array.from({ length: 40 }, () => slow({ output: evil, expected: "" })));
    const ran = grades.filter((g) => /^grading timed out after 300 ms/.test(g.detail ?? ""));
    const skipped = grades.filter((g) =>
      /^not graded: \/\^\(a\+\)\+\$\/ timed out on 3 answers in a row/.test(g.detail ?? ""),
    );
    assert.equal(ran.length, 3, "three deadlines spent, no more");
    assert.equal(skipped.length, 37);
    assert.ok(grades.every((g) => !g.pass && g.timedOut));
    assert.match(skipped[0].detail ?? "", /for 10 minutes .* Fix the pattern/);
    // another pattern is graded as before; so is the benched one once the 10 minutes have passed
    assert.equal((await other({ output: "b", expected: "" })).pass, true);
    assert.match((await slow({ output: "aaaa", expected: "" })).detail ?? "", /^not graded/);
    now += 10 * 60_000 + 1;
    const again = await slow({ output: "aaaa", expected: "" });
    assert.equal(again.pass, true, JSON.stringify(again));
  } finally {
    await pool.close();
  }
});
