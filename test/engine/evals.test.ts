/** Evals through the engine against the OpenAI-compatible fake: a baseline and an LLM judge, their cost booked. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { startFakeOpenAI } from "../fakes/openai-compatible.ts";
import { ctxFor, engineApp, fakeEndpoint, seedExperiment } from "./engine-helpers.ts";

test("an endpoint model as baseline and as judge: scores, latency, tokens and the judge's cost in the ledger", async () => {
  // The "big" model answers every colour question with "red"; the judge gives 9/10 to "red", 2/10 otherwise.
  const big = await startFakeOpenAI({ answer: () => "red", latencyMs: 2 });
  const judge = await startFakeOpenAI({
    answer: (m) =>
      /<response>\s*red\s*<\/response>/.test(m.map((x) => x.content).join("\n"))
        ? '{"score": 9, "reason": "right colour"}'
        : "Score: 2/10",
  });
  const { app } = await engineApp({
    endpoints: [
      fakeEndpoint("big", big.baseUrl, { inputPer1M: 1, outputPer1M: 2 }, { concurrency: 8 }),
      fakeEndpoint("judge", judge.baseUrl, { inputPer1M: 10, outputPer1M: 30 }, { concurrency: 8 }),
    ],
  });
  try {
    const { eval: evalRef } = await seedExperiment(app, { baselines: ["big:m"] });
    const exact = await runCommand(["eval", "big:m", evalRef, "--experiment", "exp"], ctxFor(app));
    assert.equal(exact.exitCode, 0, JSON.stringify(exact.data));
    const e = exact.data as {
      mean: number;
      n: number;
      ci: number[];
      latencyMs: { p50: number };
      usd: number;
      tokens: { input: number };
    };
    assert.equal(e.n, 20);
    const rows = await app.datasets.allRows(app.datasets.get(evalRef));
    const red = rows.filter((r) => r.messages?.at(-1)?.content === "red").length / rows.length;
    assert.equal(e.mean, red, "red is right exactly on the red rows");
    assert.ok(e.ci[0] < red && e.ci[1] > red);
    assert.ok(e.latencyMs.p50 >= 2);
    assert.ok(e.usd > 0 && e.tokens.input > 0);
    const judged = await runCommand(
      ["eval", "big:m", evalRef, "--graders", "judge:judge:grader-model", "--experiment", "exp"],
      ctxFor(app),
    );
    assert.equal(judged.exitCode, 0, JSON.stringify(judged.data));
    assert.ok(Math.abs((judged.data as { mean: number }).mean - 0.9) < 1e-9, "the judge's 9/10 on every answer");
    assert.equal(judge.requests.length, 20);
    const ledger = app.engine.ledger({});
    const judgeCost = ledger.filter((l) => l.kind === "judge");
    assert.equal(judgeCost.length, 1);
    assert.ok(judgeCost[0].usd > 0, "the judge's tokens are booked");
    // a paired comparison of two endpoint models on the same rows
    const cmp = await runCommand(["compare", "big:m", "local:stories260K", "--experiment", "exp"], ctxFor(app));
    assert.equal(cmp.exitCode, 1, "no eval of the base model yet: says what to run");
    assert.match(cmp.error?.message ?? "", /Run \/tune eval local:stories260K/);
  } finally {
    await app.close();
    await big.close();
    await judge.close();
  }
});

test("a dataset whose stored file this process does not have: a coded error saying how processes share files", async () => {
  // What a replica or worker with its own data folder meets on a shared Postgres without TUNELOOP_BLOB_URL: the
  // uploader's process kept the file in its data folder. Here the file is removed from the one data folder.
  const { app, dataDir } = await engineApp();
  try {
    const { eval: evalRef } = await seedExperiment(app);
    fs.rmSync(path.join(dataDir, "blobs"), { recursive: true, force: true });
    const out = await runCommand(["eval", "local:stories260K", evalRef], ctxFor(app));
    assert.notEqual(out.exitCode, 0);
    assert.equal((out.data as { error?: { code: string } }).error?.code, "blob_missing", JSON.stringify(out.data));
    const shown = JSON.stringify(out.card);
    assert.match(shown, new RegExp(`The stored file of ${evalRef} is not in this process's data folder`));
    assert.match(shown, /TUNELOOP_BLOB_URL=postgres \(or s3:\/\/bucket\/prefix\) on every replica and worker/);
    assert.doesNotMatch(shown, new RegExp(dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), "no host path in chat");
    assert.equal(out.card.ephemeral, true);
  } finally {
    await app.close();
  }
});
