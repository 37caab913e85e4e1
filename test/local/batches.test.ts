/** The local trainer's batches and the padded work its time estimate is made of. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import type { LocatedRow } from "../../src/core/datasets/types.ts";
import { approxModelTokens, batchPlan, paddedWork } from "../../src/providers/local/batches.ts";
import { Tokenizer } from "../../src/providers/local/tokenizer.ts";
import { sharedDataset, sharedDir } from "../helpers.ts";

const row = (user: string, assistant: string, line = 1): LocatedRow =>
  ({
    line,
    kind: "chat",
    messages: [
      { role: "user", content: user },
      { role: "assistant", content: assistant },
    ],
  }) as LocatedRow;

describe("local trainer batches", () => {
  test("every epoch takes every example once, in a seeded order", () => {
    const plan = batchPlan(10, { epochs: 2, batchSize: 4, seed: 7 });
    assert.deepEqual(
      plan.map((b) => b.length),
      [4, 4, 2, 4, 4, 2],
    );
    for (const epoch of [plan.slice(0, 3), plan.slice(3)])
      assert.deepEqual(
        epoch.flat().sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    assert.deepEqual(batchPlan(10, { epochs: 2, batchSize: 4, seed: 7 }), plan, "reproducible");
    assert.notDeepEqual(batchPlan(10, { epochs: 2, batchSize: 4, seed: 8 }), plan);
  });

  test("the approximate token count is within 10% of the model's tokenizer on real text", () => {
    const tok = Tokenizer.fromFile(path.join(sharedDir, "models", "stories260K", "tok512.bin"), 512);
    const rows = JSON.parse(fs.readFileSync(sharedDataset("llama-factory/alpaca_en_demo.json"), "utf8")) as Array<{
      instruction: string;
      output: string;
    }>;
    let exact = 0;
    let approx = 0;
    for (const r of rows.slice(0, 60)) {
      for (const s of [r.instruction, r.output]) {
        exact += tok.encode(s).length; // with the dummy-prefix token, as training encodes it
        approx += approxModelTokens(s);
      }
    }
    assert.ok(Math.abs(approx / exact - 1) < 0.1, `approx ${approx} vs exact ${exact}`);
  });

  test("padded work: each step's batch is as long as its longest example (hand count)", () => {
    // prompt "Q: <user>\nA:", completion <assistant>: inputs = tokens(prompt) + tokens(completion) + 1
    const rows = [row("hi", "yes"), row("x".repeat(33), "no"), row("hello there", "ok")];
    const len = rows.map((r) => {
      const m = r.messages ?? [];
      return approxModelTokens(`Q: ${m[0].content}\nA:`) + approxModelTokens(String(m[1].content)) + 1;
    });
    const h = { epochs: 1, batchSize: 2, seed: 1 };
    const plan = batchPlan(3, h);
    const expected = plan.reduce((a, b) => a + b.length * Math.max(...b.map((i) => len[i])), 0);
    const w = paddedWork(rows, h);
    assert.equal(w.tokens, expected);
    assert.equal(w.tokensPerRow, plan.reduce((a, b) => a + Math.max(...b.map((i) => len[i])), 0) / plan.length);
    // no example is longer than the model's context
    assert.equal(paddedWork([row("word ".repeat(2000), "yes")], h).tokensPerRow, 512);
  });
});
