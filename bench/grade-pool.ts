/**
 * Regex graders on the grade pool (worker threads with a deadline) against grading inline on the bot's thread:
 * the cost per row of sending each answer to a thread, and how long the bot's thread is blocked while a
 * catastrophic pattern is graded (inline: the whole backtracking; pooled: nothing but the messages).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { GradePool } from "../src/core/evals/grade-pool.ts";
import { makeGrader, parseGraderSpec } from "../src/core/evals/graders.ts";

const ROWS = 5000;
const COLOURS = ["red", "green", "blue", "yellow"];

export async function benchGradePool(runs: number, median: (xs: number[]) => number) {
  console.log(`\n## Regex graders: ${ROWS} short answers, grade pool vs inline (median of ${runs} runs)`);
  const spec = parseGraderSpec("regex:/^(?:the answer is )?(red|green|blue|yellow)\\.?$/i");
  const rows = Array.from({ length: ROWS }, (_, i) => ({ output: `The answer is ${COLOURS[i % 4]}.`, expected: "" }));
  const inline = makeGrader(spec);
  const pool = new GradePool();
  const pooled = makeGrader(spec, { patterns: pool });
  await pooled(rows[0]); // threads started (an eval's first rows pay this once per process)
  const time = async (grade: typeof inline) => {
    const t = performance.now();
    await Promise.all(rows.map((r) => grade(r))); // as the eval runner does: every answer graded as it arrives
    return performance.now() - t;
  };
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(await time(inline));
    b.push(await time(pooled));
  }
  const perRow = (ms: number) => (ms / ROWS) * 1000;
  console.log(`baseline: inline on the bot's thread        ${perRow(median(a)).toFixed(1)} µs/row`);
  console.log(
    `grade pool (2 threads, deadline 1 s)       ${perRow(median(b)).toFixed(1)} µs/row   +${(perRow(median(b)) - perRow(median(a))).toFixed(1)} µs/row; ${(((median(b) - median(a)) / ROWS) * 1000).toFixed(0)} ms more per 1,000 rows   target < 100 µs/row  ${perRow(median(b)) < 100 ? "PASS" : "FAIL"}`,
  );

  // ^(a+)+$ against a's and a b: exponential backtracking.
  const bad = makeGrader(parseGraderSpec("regex:^(a+)+$"));
  const badPooled = makeGrader(parseGraderSpec("regex:^(a+)+$"), { patterns: pool });
  const blockedInline = performance.now();
  await bad({ output: `${"a".repeat(23)}b`, expected: "" });
  const inlineMs = performance.now() - blockedInline;
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t = performance.now();
  const g = await Promise.all([0, 1, 2, 3].map(() => badPooled({ output: `${"a".repeat(40)}b`, expected: "" })));
  const pooledMs = performance.now() - t;
  h.disable();
  console.log(
    `catastrophic pattern, inline: the bot's thread blocked ${inlineMs.toFixed(0)} ms for 24 characters (x2 per character more)`,
  );
  console.log(
    `catastrophic pattern, pooled: 4 answers of 41 characters timed out (${g.filter((x) => x.timedOut).length}/4) in ${(pooledMs / 1000).toFixed(1)} s; the bot's thread's longest stall ${(h.max / 1e6).toFixed(1)} ms   target < 3000 ms  ${h.max / 1e6 < 3000 ? "PASS" : "FAIL"}`,
  );
  await pool.close();
}
