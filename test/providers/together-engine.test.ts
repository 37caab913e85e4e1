/**
 * End to end through the engine: `run start <dataset> --provider together|openai --model <base> --yes --wait`
 * trains on the provider's fake, evaluates the tuned and base models through chat completions, and the run JSON
 * carries the provider's job id, its reported tokens and the cost booked from them.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import type { TrainerProvider } from "../../src/core/trainer.ts";
import type { InferenceModel } from "../../src/core/inference.ts";
import { round } from "../../src/core/costs/ledger.ts";
import { createLogger } from "../../src/log.ts";
import { renderCard } from "../../src/adapters/console/render.ts";
import type { Providers } from "../../src/providers/index.ts";
import { OpenAIProvider } from "../../src/providers/openai.ts";
import { TogetherProvider } from "../../src/providers/together.ts";
import { answerFor, ctxFor, seedExperiment } from "../engine/engine-helpers.ts";
import { startFakeOpenAI } from "../fakes/openai.ts";
import { startFakeTogether } from "../fakes/together.ts";
import { tmpDir } from "../helpers.ts";
import { fast, TOGETHER_DEFAULTS } from "./hosted-helpers.ts";

const KEY = "engine-test-key-0123456789";

function providerSet(
  name: string,
  trainer: TrainerProvider & { inference(id: string, ref: string): InferenceModel },
): Providers {
  return {
    trainer: (n) => (n === name ? trainer : null),
    trainerNames: () => [name],
    inference: (p, id, ref) => (p === name ? trainer.inference(id, ref) : null),
    providerNames: () => [name],
    async close() {},
  };
}

const lastUser = (m: Array<{ role: string; content: string }>) =>
  [...m].reverse().find((x) => x.role === "user")?.content ?? "";

interface RunJson {
  run: {
    id: number;
    state: string;
    jobId: string;
    provider: string;
    result: { trainingTokens: number; usd: number; tunedModelId: string };
  };
  evals: Array<{ model: string; mean: number }>;
  cost: { trainingUsd: number; evalUsd: number };
}

async function runThrough(providers: Providers, provider: string, model: string) {
  const dataDir = tmpDir("hosted-engine");
  const config = loadConfig({ TUNELOOP_DATA: dataDir, LOG_LEVEL: "silent" });
  const app = createApp(config, createLogger(config), { providers });
  try {
    const { train } = await seedExperiment(app, { rows: 40 });
    const out = await runCommand(
      ["run", "start", train, "--experiment", "exp", "--provider", provider, "--model", model, "--yes", "--wait"],
      ctxFor(app),
    );
    assert.equal(out.exitCode, 0, JSON.stringify(out.error ?? out.data));
    const data = out.data as RunJson;
    const ledger = app.engine.ledger({ runId: data.run.id });
    const events = app.engine.runEvents(data.run.id, "provider").map((e) => (e.data as { message: string }).message);
    return { data, ledger, events };
  } finally {
    await app.close();
  }
}

describe("hosted providers through the engine", () => {
  test("run start --provider together --wait: job id, Together's tokens and cost in the run JSON and ledger", async () => {
    const fake = await startFakeTogether({
      apiKey: KEY,
      steps: 3,
      answer: (m, model) => (model.startsWith("fakeuser/") ? answerFor(lastUser(m)) : "I don't know"),
    });
    try {
      const together = new TogetherProvider({
        ...fast(fake.baseUrl, KEY),
        defaults: TOGETHER_DEFAULTS,
      });
      const base = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";
      const { data, ledger, events } = await runThrough(providerSet("together", together), "together", base);
      const job = fake.jobs.get(data.run.jobId);
      assert.ok(job, `the run's jobId ${data.run.jobId} is the fake's job`);
      assert.equal(data.run.state, "succeeded");
      assert.equal(data.run.result.trainingTokens, job.token_count);
      assert.equal(data.run.result.tunedModelId, job.model_output_name);
      const usd = (job.token_count * 0.48) / 1e6;
      assert.equal(data.run.result.usd, round(usd));
      const training = ledger.find((l) => l.kind === "training" && !l.estimated);
      assert.equal(training?.trainingTokens, job.token_count);
      assert.ok(Math.abs((training?.usd ?? -1) - usd) < 1e-9, `booked ${training?.usd}, expected ${usd}`);
      const tuned = data.evals.find((e) => e.model === `run:${data.run.id}`);
      const baseEval = data.evals.find((e) => e.model === `together:${base}`);
      assert.equal(tuned?.mean, 1);
      assert.equal(baseEval?.mean, 0);
      assert.ok(data.cost.evalUsd > 0, "eval tokens booked at Together's prices");
      assert.ok(
        events.some((m) => /Together job ft-.* created/.test(m)),
        events.join("\n"),
      );
      assert.equal(fake.count("POST", /^\/fine-tunes$/), 1);
    } finally {
      await fake.close();
    }
  });

  test("run start --provider openai --wait: the same through OpenAI", async () => {
    const fake = await startFakeOpenAI({
      apiKey: KEY,
      steps: 3,
      answer: (m, model) => (model.startsWith("ft:") ? answerFor(lastUser(m)) : "I don't know"),
    });
    try {
      const openai = new OpenAIProvider(fast(fake.baseUrl, KEY));
      const { data, ledger } = await runThrough(providerSet("openai", openai), "openai", "gpt-4o-mini");
      const s = fake.jobs.get(data.run.jobId);
      assert.ok(s, "the run's jobId is the fake's job");
      assert.equal(data.run.result.trainingTokens, s.job.trained_tokens);
      const training = ledger.find((l) => l.kind === "training" && !l.estimated);
      assert.ok(Math.abs((training?.usd ?? -1) - ((s.job.trained_tokens ?? 0) * 3) / 1e6) < 1e-9);
      assert.equal(data.evals.find((e) => e.model === `run:${data.run.id}`)?.mean, 1);
    } finally {
      await fake.close();
    }
  });

  test("OpenAI's dated snapshot names are accepted, and the snapshot OpenAI fine-tunes is what is sent", async () => {
    const fake = await startFakeOpenAI({
      apiKey: KEY,
      steps: 2,
      answer: (m, model) => (model.startsWith("ft:") ? answerFor(lastUser(m)) : "I don't know"),
    });
    const dataDir = tmpDir("snapshots");
    const config = loadConfig({ TUNELOOP_DATA: dataDir, LOG_LEVEL: "silent" });
    const openai = new OpenAIProvider(fast(fake.baseUrl, KEY));
    const app = createApp(config, createLogger(config), { providers: providerSet("openai", openai) });
    try {
      const { train } = await seedExperiment(app, { rows: 40 });
      // As OpenAI's fine-tuning guide writes them, and the short names: each job gets the dated snapshot.
      for (const [given, short, sent] of [
        ["gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"],
        ["gpt-4o-mini-2024-07-18", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"],
        ["gpt-4.1-mini", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"],
      ]) {
        const out = await runCommand(
          ["run", "start", train, "--experiment", "exp", "--provider", "openai", "--model", given, "--yes", "--wait"],
          ctxFor(app),
        );
        assert.equal(out.exitCode, 0, `${given}: ${JSON.stringify(out.error ?? out.data)}`);
        const data = out.data as RunJson & { run: { baseModel: string } };
        assert.equal(data.run.state, "succeeded", given);
        assert.equal(data.run.baseModel, short, given);
        assert.equal(fake.jobs.get(data.run.jobId)?.job.model, sent, given);
        assert.match(
          renderCard(out.card),
          new RegExp(`Model\\s+openai:${short.replaceAll(".", "\\.")} -> run:${data.run.id}`),
        );
      }
      const bad = await runCommand(
        ["run", "start", train, "--experiment", "exp", "--provider", "openai", "--model", "gpt-4.1-mini-2099-01-01"],
        ctxFor(app),
      );
      assert.equal(bad.exitCode, 1);
      assert.match(
        bad.error?.message ?? "",
        /openai cannot tune "gpt-4\.1-mini-2099-01-01"\. It tunes: .*gpt-4\.1-mini \(gpt-4\.1-mini-2025-04-14\).*gpt-4o-mini \(gpt-4o-mini-2024-07-18\)/,
      );
    } finally {
      await app.close();
      await fake.close();
    }
  });
});
