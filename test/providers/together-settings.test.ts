/** Hosted-provider settings (zod), the endpoints file, registration in the provider set, `/tune help providers`. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { loadConfig } from "../../src/config.ts";
import { createProviders } from "../../src/providers/index.ts";
import { endpointsFromSettings, loadEndpointsFile, loadProviderSettings } from "../../src/providers/settings.ts";
import { ctxFor, engineApp } from "../engine/engine-helpers.ts";
import { tmpDir } from "../helpers.ts";

describe("hosted provider settings", () => {
  test("a provider is configured by its key; blank values count as unset; defaults are the public /v1 bases", () => {
    const none = loadProviderSettings({ TOGETHER_API_KEY: "", OPENAI_API_KEY: "  " });
    assert.equal(none.together, null);
    assert.equal(none.openai, null);
    const s = loadProviderSettings({
      TOGETHER_API_KEY: "tg-key-0123456789",
      OPENAI_API_KEY: "sk-key-0123456789",
      OPENAI_WEBHOOK_SECRET: `whsec_${Buffer.from("0123456789abcdef0123").toString("base64")}`,
      TUNELOOP_POLL_INTERVAL_MS: "20",
      TOGETHER_TRAINING_TYPE: "full",
      TOGETHER_TRAIN_ON_INPUTS: "false",
    });
    assert.equal(s.together?.baseUrl, "https://api.together.xyz/v1");
    assert.equal(s.openai?.baseUrl, "https://api.openai.com/v1");
    assert.equal(s.together?.pollIntervalMs, 20);
    assert.equal(s.together?.retryBaseMs, 20, "retries never wait longer than the poll interval to start");
    assert.equal(s.together?.pollMaxMs, 60_000);
    assert.equal(s.together?.defaults.trainingType, "full");
    assert.equal(s.together?.defaults.trainOnInputs, false);
    assert.ok(s.openai?.webhookSecret?.startsWith("whsec_"), "webhook secret kept");
  });

  test("a bad value names the setting and hides secrets", () => {
    assert.throws(
      () =>
        loadProviderSettings({
          TOGETHER_API_KEY: "k9x",
          TOGETHER_BASE_URL: "not a url",
          TUNELOOP_POLL_INTERVAL_MS: "0",
        }),
      (e: Error) => {
        assert.match(e.message, /TOGETHER_API_KEY=\(hidden\)/);
        assert.doesNotMatch(e.message, /k9x/);
        assert.match(e.message, /TOGETHER_BASE_URL="not a url"/);
        assert.match(e.message, /TUNELOOP_POLL_INTERVAL_MS="0"/);
        return true;
      },
    );
  });

  test("TUNELOOP_ENDPOINTS_FILE: endpoints with per-model prices, keys from the environment", () => {
    const dir = tmpDir("endpoints");
    const file = path.join(dir, "endpoints.json");
    fs.writeFileSync(
      file,
      JSON.stringify({
        endpoints: {
          vllm: {
            baseUrl: "http://127.0.0.1:8000/v1",
            prices: { "qwen2.5-7b": { inputPer1M: 0.1, outputPer1M: 0.2 } },
          },
          fireworks: {
            baseUrl: "https://api.fireworks.ai/inference/v1",
            apiKeyEnv: "FW_KEY",
            prices: { "*": { inputPer1M: 0.9, outputPer1M: 0.9 } },
          },
        },
      }),
    );
    const eps = loadEndpointsFile(file, { FW_KEY: "fw-secret-123456" });
    assert.deepEqual(
      eps.map((e) => [e.name, e.apiKey ?? null, e.concurrency]),
      [
        ["vllm", null, 8],
        ["fireworks", "fw-secret-123456", 8],
      ],
    );
    assert.deepEqual(eps[0].prices["qwen2.5-7b"], { inputPer1M: 0.1, outputPer1M: 0.2 });
    assert.throws(() => loadEndpointsFile(file, {}), /TUNELOOP_ENDPOINTS_FILE .*fireworks.*FW_KEY, which is not set/);
    const all = endpointsFromSettings({
      FW_KEY: "fw-secret-123456",
      TUNELOOP_ENDPOINTS: JSON.stringify({ ollama: { baseUrl: "http://127.0.0.1:11434/v1" } }),
      TUNELOOP_ENDPOINTS_FILE: file,
    });
    assert.deepEqual(
      all.map((e) => e.name),
      ["ollama", "vllm", "fireworks"],
    );
    assert.throws(
      () =>
        endpointsFromSettings({
          FW_KEY: "x-secret-123456",
          TUNELOOP_ENDPOINTS: JSON.stringify({ vllm: { baseUrl: "http://127.0.0.1:1/v1" } }),
          TUNELOOP_ENDPOINTS_FILE: file,
        }),
      /"vllm" is named in both/,
    );
    fs.writeFileSync(file, "{nope");
    assert.throws(() => loadEndpointsFile(file, {}), /not valid JSON/);
    assert.throws(() => loadEndpointsFile(path.join(dir, "missing.json"), {}), /cannot read .*ENOENT/);
  });

  test("createProviders registers together and openai only when their keys are set", async () => {
    const config = loadConfig({ TUNELOOP_DATA: tmpDir("providers"), LOG_LEVEL: "silent" });
    const bare = createProviders(config, {});
    assert.deepEqual(bare.trainerNames(), ["local"]);
    await bare.close();
    const both = createProviders(config, {
      TOGETHER_API_KEY: "tg-key-0123456789",
      OPENAI_API_KEY: "sk-key-0123456789",
    });
    try {
      assert.deepEqual(both.trainerNames(), ["local", "together", "openai"]);
      assert.ok(
        both.trainer("together")?.models().includes("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"),
        "together models",
      );
      assert.ok(both.trainer("openai")?.models().includes("gpt-4o-mini"), "openai models");
      const m = both.inference("openai", "gpt-4.1-mini", "openai:gpt-4.1-mini");
      assert.deepEqual(m?.pricing, { inputPer1M: 0.4, outputPer1M: 1.6 });
      assert.equal(both.inference("together", "Qwen/Qwen2.5-7B-Instruct", "x")?.provider, "together");
    } finally {
      await both.close();
    }
  });

  test("/tune help providers says OpenAI is closing fine-tuning, with the dates", async () => {
    const { app } = await engineApp();
    try {
      const out = await runCommand(["help", "providers"], ctxFor(app));
      assert.equal(out.exitCode, 0);
      const textOf = JSON.stringify(out.card);
      for (const d of ["2026-05-07", "2026-07-02", "2027-01-06"]) assert.ok(textOf.includes(d), d);
      assert.match(textOf, /TOGETHER_API_KEY/);
      assert.match(textOf, /evals of existing fine-tuned models keep working/i);
    } finally {
      await app.close();
    }
  });
});
