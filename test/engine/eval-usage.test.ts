/**
 * An eval against an endpoint that reports impossible usage or sends an over-long answer: the ledger books
 * tuneloop's own token count (never Infinity, never a negative number), the eval is flagged and its card says so.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { summarizeLedger } from "../../src/core/costs/ledger.ts";
import { startFakeOpenAI } from "../fakes/openai-compatible.ts";
import { ctxFor, engineApp, fakeEndpoint, seedExperiment } from "./engine-helpers.ts";

test("usage that is not finite, negative or missing is booked as our own count; the eval card says so", async () => {
  const big = await startFakeOpenAI({ answer: () => "red" });
  const { app } = await engineApp({
    endpoints: [
      fakeEndpoint(
        "big",
        big.baseUrl,
        { inputPer1M: 1000, outputPer1M: 1000 },
        { concurrency: 1, maxAnswerBytes: 4096 },
      ),
    ],
  });
  try {
    const { eval: evalRef } = await seedExperiment(app);
    big.misbehave.push(
      { usage: '{"prompt_tokens": 10, "completion_tokens": 1e999}' },
      { usage: '{"prompt_tokens": -400, "completion_tokens": -1}' },
      { usage: null },
      { contentBytes: 10_000 },
    );
    const out = await runCommand(["eval", "big:m", evalRef, "--experiment", "exp"], ctxFor(app));
    assert.equal(out.exitCode, 0, JSON.stringify(out.data));
    const data = out.data as {
      id: number;
      n: number;
      flags: unknown;
      usd: number;
      tokens: { input: number; output: number };
    };
    assert.equal(data.n, 20);
    assert.deepEqual(data.flags, { usageEstimated: 4, truncated: 1 });
    assert.ok(Number.isFinite(data.usd) && data.usd > 0, `usd ${data.usd}`);
    assert.ok(Number.isFinite(data.tokens.output) && data.tokens.output > 0);
    const card = JSON.stringify(out.card);
    assert.match(
      card,
      /the provider reported missing or implausible token usage for 4 request\(s\); tuneloop booked its own token count/,
    );
    assert.match(card, /1 answer\(s\) were longer than the size limit \(TUNELOOP_MAX_ANSWER_BYTES\) and were cut/);
    const booked = app.engine.ledger({}).filter((l) => l.evalId === data.id);
    assert.ok(booked.length > 0);
    for (const l of booked) {
      for (const v of [l.usd, l.inputTokens, l.outputTokens])
        assert.ok(Number.isFinite(v) && v >= 0, JSON.stringify(l));
    }
    const total = summarizeLedger(app.engine.ledger({ experimentId: booked[0].experimentId ?? undefined })).totalUsd;
    assert.ok(Number.isFinite(total) && total > 0, `total ${total}`);
    // the stored rows: the cut answer is at most the limit
    const rows = app.engine.evalRows(data.id);
    assert.ok(rows.every((r) => Buffer.byteLength(r.output) <= 4096));
  } finally {
    await app.close();
    await big.close();
  }
});
