import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  endpointModel,
  OpenAICompatibleClient,
  parseEndpoints,
  type EndpointConfig,
} from "../../src/providers/openai-compatible.ts";
import { retryDelayMs } from "../../src/lib/retry.ts";
import { startFakeOpenAI, type FakeEndpoint } from "../fakes/openai-compatible.ts";

const KEY = "sk-test-0123456789abcdef";

describe("openai-compatible client against a local fake", () => {
  let fake: FakeEndpoint;
  const sleeps: number[] = [];
  const cfg = (over: Partial<EndpointConfig> = {}): EndpointConfig => ({
    name: "fake",
    baseUrl: fake.baseUrl,
    apiKey: KEY,
    concurrency: 4,
    timeoutMs: 2000,
    maxRetries: 3,
    prices: { "fake-model": { inputPer1M: 1, outputPer1M: 2 } },
    ...over,
  });
  const client = (over: Partial<EndpointConfig> = {}) =>
    new OpenAICompatibleClient(cfg(over), {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });

  before(async () => {
    fake = await startFakeOpenAI({ apiKey: KEY, models: ["fake-model"], answer: (m) => `echo: ${m.at(-1)?.content}` });
  });
  after(() => fake.close());

  test("answers with text, usage and latency, sending the key as a Bearer token", async () => {
    const r = await client().chat("fake-model", { messages: [{ role: "user", content: "hello" }], maxTokens: 16 });
    assert.equal(r.text, "echo: hello");
    assert.ok(r.inputTokens > 0 && r.outputTokens > 0);
    assert.ok(r.latencyMs >= 0);
    assert.equal(fake.requests.at(-1)?.authorization, `Bearer ${KEY}`);
  });

  test("429 with Retry-After is honoured, then success", async () => {
    sleeps.length = 0;
    fake.script.push({
      status: 429,
      headers: { "retry-after": "2" },
      body: { error: { message: "Rate limit reached", type: "requests" } },
    });
    const r = await client().chat("fake-model", { messages: [{ role: "user", content: "x" }], maxTokens: 4 });
    assert.equal(r.text, "echo: x");
    assert.deepEqual(sleeps, [2000]);
  });

  test("a 500 then success retries with backoff", async () => {
    sleeps.length = 0;
    fake.script.push({ status: 500 });
    const r = await client().chat("fake-model", { messages: [{ role: "user", content: "y" }], maxTokens: 4 });
    assert.equal(r.text, "echo: y");
    assert.equal(sleeps.length, 1);
    assert.ok(sleeps[0] >= 250 && sleeps[0] <= 500, `backoff ${sleeps[0]}`);
  });

  test("gives up after maxRetries with a message that says what happened", async () => {
    fake.script.push({ status: 503 }, { status: 503 }, { status: 503 });
    await assert.rejects(
      client({ maxRetries: 2 }).chat("fake-model", { messages: [{ role: "user", content: "z" }], maxTokens: 4 }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "endpoint_unavailable");
        assert.match(e.message, /after 3 tries \(last: HTTP 503/);
        return true;
      },
    );
  });

  test("a 4xx is not retried and shows the provider's message, never the key", async () => {
    await assert.rejects(
      client({ apiKey: "sk-wrong-key-000000" }).chat("fake-model", {
        messages: [{ role: "user", content: "z" }],
        maxTokens: 4,
      }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "endpoint_error");
        assert.match(e.message, /Incorrect API key provided/);
        assert.doesNotMatch(e.message, /sk-wrong-key/);
        return true;
      },
    );
    await assert.rejects(
      client().chat("nope", { messages: [{ role: "user", content: "z" }], maxTokens: 4 }),
      /does not exist/,
    );
  });

  test("a timeout counts as a failure and is retried", async () => {
    const slow = await startFakeOpenAI({ latencyMs: 400 });
    try {
      const c = new OpenAICompatibleClient(
        { ...cfg(), baseUrl: slow.baseUrl, apiKey: undefined, timeoutMs: 100, maxRetries: 1 },
        { sleep: async () => {} },
      );
      await assert.rejects(
        c.chat("m", { messages: [{ role: "user", content: "z" }], maxTokens: 4 }),
        /no answer within 100 ms/,
      );
      assert.equal(slow.requests.length, 2);
    } finally {
      await slow.close();
    }
  });

  test("the concurrency limit holds", async () => {
    const slow = await startFakeOpenAI({ latencyMs: 30 });
    try {
      const m = endpointModel(
        new OpenAICompatibleClient({ ...cfg(), baseUrl: slow.baseUrl, apiKey: undefined, concurrency: 3 }),
        "m",
      );
      const seen: number[] = [];
      const out = await m.completeAll(
        Array.from({ length: 12 }, (_, i) => ({
          messages: [{ role: "user" as const, content: `q${i}` }],
          maxTokens: 4,
        })),
        { onResult: (i) => seen.push(i) },
      );
      assert.deepEqual(
        out.map((r) => r.text),
        Array.from({ length: 12 }, (_, i) => `q${i}`),
      );
      assert.equal(seen.length, 12);
      assert.equal(slow.maxInFlight, 3);
      assert.equal(m.ref, "fake:m");
    } finally {
      await slow.close();
    }
  });
});

test("TUNELOOP_ENDPOINTS parsing names what is wrong", () => {
  const eps = parseEndpoints(
    '{"vllm": {"baseUrl": "http://localhost:8000/v1", "apiKeyEnv": "VLLM_KEY", "concurrency": 16}}',
    { VLLM_KEY: "k" },
  );
  assert.equal(eps[0].name, "vllm");
  assert.equal(eps[0].apiKey, "k");
  assert.equal(eps[0].concurrency, 16);
  assert.throws(() => parseEndpoints("{nope", {}), /TUNELOOP_ENDPOINTS is not valid JSON/);
  assert.throws(() => parseEndpoints('{"v": {"baseUrl": "not a url"}}', {}), /TUNELOOP_ENDPOINTS: v\.baseUrl/);
  assert.throws(
    () => parseEndpoints('{"v": {"baseUrl": "http://x/v1", "apiKeyEnv": "MISSING"}}', {}),
    /reads its key from MISSING, which is not set/,
  );
});

test("retry delays: Retry-After in seconds or as a date, else jittered exponential backoff", () => {
  assert.equal(retryDelayMs(0, "3"), 3000);
  const d = retryDelayMs(0, new Date(Date.now() + 5000).toUTCString());
  assert.ok(d > 3000 && d <= 5000, String(d));
  assert.equal(retryDelayMs(2, null, { random: () => 0 }), 1000);
  assert.equal(retryDelayMs(2, null, { random: () => 1 }), 2000);
  assert.equal(retryDelayMs(20, null, { random: () => 1 }), 30000);
});
