/**
 * What a misbehaving inference endpoint can do to tuneloop, for every provider that answers chat requests (an
 * OpenAI-compatible endpoint, Together, OpenAI through its SDK) against the fakes: usage that is missing, negative,
 * not finite or absurd is booked as tuneloop's own count and flagged; max_tokens is always sent; a body over the
 * size limit is cut and flagged; a body dripped a few bytes at a time fails at the total deadline. The local
 * trainer's generation is bounded the same way.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { countRowTokens, countTextTokens } from "../../src/core/datasets/tokens.ts";
import type { CompletionRequest, InferenceModel } from "../../src/core/inference.ts";
import type { TuneError } from "../../src/errors.ts";
import { DEFAULT_MAX_TOKENS } from "../../src/providers/answer-limits.ts";
import { LocalProvider } from "../../src/providers/local/provider.ts";
import { endpointModel, OpenAICompatibleClient } from "../../src/providers/openai-compatible.ts";
import { OpenAIProvider } from "../../src/providers/openai.ts";
import { TogetherProvider } from "../../src/providers/together.ts";
import type { Misbehaviour } from "../fakes/misbehave.ts";
import { startFakeOpenAI as startFakeEndpoint } from "../fakes/openai-compatible.ts";
import { startFakeOpenAI } from "../fakes/openai.ts";
import { startFakeTogether } from "../fakes/together.ts";
import { tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";
import { fast, TOGETHER_DEFAULTS } from "./hosted-helpers.ts";

const KEY = "sk-answer-limits-0000";
const LIMIT = 100_000;
const TIMEOUT = 1500;
const ANSWER = "The colour is red.";

interface Subject {
  name: string;
  model: InferenceModel;
  misbehave: Misbehaviour[];
  /** max_tokens of the last chat request the fake received (undefined: not sent). */
  lastMaxTokens(): number | undefined;
  close(): Promise<void>;
}

async function subjects(): Promise<Subject[]> {
  const endpoint = await startFakeEndpoint({ answer: () => ANSWER });
  const client = new OpenAICompatibleClient({
    name: "ep",
    baseUrl: endpoint.baseUrl,
    concurrency: 4,
    timeoutMs: TIMEOUT,
    maxRetries: 0,
    maxAnswerBytes: LIMIT,
    prices: { "*": { inputPer1M: 1, outputPer1M: 2 } },
  });
  const together = await startFakeTogether({ apiKey: KEY, answer: () => ANSWER });
  const tp = new TogetherProvider({
    ...fast(together.baseUrl, KEY, { timeoutMs: TIMEOUT, maxRetries: 0, maxAnswerBytes: LIMIT }),
    defaults: TOGETHER_DEFAULTS,
  });
  const openai = await startFakeOpenAI({ apiKey: KEY, answer: () => ANSWER });
  const op = new OpenAIProvider(
    fast(openai.baseUrl, KEY, { timeoutMs: TIMEOUT, maxRetries: 0, maxAnswerBytes: LIMIT }),
  );
  const hostedMax = (fake: { requests: Array<{ path: string; body: unknown }> }) => () =>
    (fake.requests.filter((r) => r.path === "/chat/completions").at(-1)?.body as { max_tokens?: number })?.max_tokens;
  return [
    {
      name: "openai-compatible endpoint",
      model: endpointModel(client, "m"),
      misbehave: endpoint.misbehave,
      lastMaxTokens: () => endpoint.requests.at(-1)?.maxTokens,
      close: endpoint.close,
    },
    {
      name: "Together",
      model: tp.inference("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "together:llama"),
      misbehave: together.misbehave,
      lastMaxTokens: hostedMax(together),
      close: together.close,
    },
    {
      name: "OpenAI (SDK)",
      model: op.inference("gpt-4o-mini", "openai:gpt-4o-mini"),
      misbehave: openai.misbehave,
      lastMaxTokens: hostedMax(openai),
      close: openai.close,
    },
  ];
}

const request: CompletionRequest = {
  messages: [
    { role: "system", content: "Answer with a colour." },
    { role: "user", content: "What colour is item 4?" },
  ],
  maxTokens: 16,
  temperature: 0,
};
const ownPrompt = countRowTokens({ kind: "chat", messages: request.messages });

describe("answers from misbehaving endpoints", () => {
  let all: Subject[] = [];
  before(async () => {
    all = await subjects();
  });
  after(async () => {
    for (const s of all) await s.close();
  });
  const ask = async (s: Subject, m?: Misbehaviour, req: CompletionRequest = request) => {
    if (m) s.misbehave.push(m);
    const [r] = await s.model.completeAll([req], {});
    return r;
  };

  test("plausible usage is booked as reported, unflagged, and max_tokens is what the request asked", async () => {
    for (const s of all) {
      const r = await ask(s);
      assert.equal(r.text, ANSWER, s.name);
      assert.equal(r.flags, undefined, s.name);
      assert.equal(s.lastMaxTokens(), 16, s.name);
      assert.ok(r.inputTokens > 0 && r.outputTokens > 0, s.name);
    }
  });

  test("usage missing, negative, not finite or absurd is never booked as such: tuneloop's own count, flagged", async () => {
    const cases: Array<[string, string | null, RegExp]> = [
      ["missing", null, /usage missing/],
      ["negative", '{"prompt_tokens": -50, "completion_tokens": -3}', /prompt_tokens negative \(-50\)/],
      ["not finite", '{"prompt_tokens": 12, "completion_tokens": 1e999}', /completion_tokens not finite \(Infinity\)/],
      ["absurd", '{"prompt_tokens": 12, "completion_tokens": 161}', /completion_tokens absurd \(161, over 10x/],
      ["absurd prompt", '{"prompt_tokens": 900000000, "completion_tokens": 5}', /prompt_tokens absurd/],
      ["not numbers", '{"prompt_tokens": "12", "completion_tokens": "lots"}', /not a number/],
    ];
    for (const s of all) {
      for (const [what, usage, reason] of cases) {
        const r = await ask(s, { usage });
        const label = `${s.name}, ${what}`;
        assert.ok(Number.isFinite(r.inputTokens) && r.inputTokens >= 0, label);
        assert.ok(Number.isFinite(r.outputTokens) && r.outputTokens >= 0, label);
        assert.match(r.flags?.usageEstimated ?? "", reason, label);
        const badIn = what !== "not finite" && what !== "absurd";
        const badOut = what !== "absurd prompt";
        if (badIn) assert.equal(r.inputTokens, ownPrompt, label);
        else assert.equal(r.inputTokens, 12, `${label}: the plausible count is kept`);
        if (badOut) assert.equal(r.outputTokens, countTextTokens(ANSWER), label);
        else assert.equal(r.outputTokens, 5, `${label}: the plausible count is kept`);
      }
    }
  });

  test("max_tokens is always sent, even when the caller did not say", async () => {
    for (const s of all) {
      await ask(s, undefined, { ...request, maxTokens: undefined as unknown as number });
      assert.equal(s.lastMaxTokens(), DEFAULT_MAX_TOKENS, s.name);
    }
  });

  test("an answer over the size limit is cut there and flagged; its usage (after the cut) is our count", async () => {
    for (const s of all) {
      const r = await ask(s, { contentBytes: 3 * LIMIT });
      assert.equal(r.flags?.truncated, true, s.name);
      assert.match(r.text, /^a+$/, s.name);
      assert.ok(r.text.length > LIMIT - 300 && r.text.length <= LIMIT, `${s.name}: ${r.text.length}`);
      assert.match(r.flags?.usageEstimated ?? "", /usage missing/, s.name);
      // counted on its first 32,768 characters, scaled to the rest
      const own = Math.round(countTextTokens(r.text.slice(0, 32_768)) * (r.text.length / 32_768));
      assert.equal(r.outputTokens, own, s.name);
    }
  });

  test("a body dripped a few bytes at a time fails at the total deadline, not after the whole body", async () => {
    for (const s of all) {
      const started = performance.now();
      // ~300 bytes, 4 bytes every 60 ms: ~4.5 s in all; no idle timer ever fires
      await assert.rejects(ask(s, { drip: { everyMs: 60, chunk: 4 } }), (err: TuneError) => {
        assert.equal(err.code, "endpoint_unavailable", `${s.name}: ${err.message}`);
        assert.match(err.message, /no answer within/, s.name);
        return true;
      });
      const ms = performance.now() - started;
      assert.ok(ms < 4000, `${s.name}: failed after ${Math.round(ms)} ms, the deadline is ${TIMEOUT} ms`);
    }
  });
});

test("the local model's generation is bounded by max_tokens, and by the default when the caller did not say", async () => {
  const local = new LocalProvider({ modelDir: localModelDir, cacheDir: tmpDir("cache") });
  try {
    const model = local.inference("stories260K", "local:stories260K");
    assert.ok(model);
    const [short, unsaid] = await Promise.all([
      model.completeAll([{ messages: [{ role: "user", content: "Once upon a time" }], maxTokens: 3 }], {}),
      model.completeAll(
        [{ messages: [{ role: "user", content: "Once upon a time" }], maxTokens: undefined as unknown as number }],
        {},
      ),
    ]);
    assert.ok(short[0].outputTokens <= 3 && short[0].outputTokens > 0);
    assert.ok(unsaid[0].outputTokens > 3, "a request that did not say still gets an answer");
    assert.ok(unsaid[0].outputTokens <= DEFAULT_MAX_TOKENS);
  } finally {
    await local.close();
  }
});
