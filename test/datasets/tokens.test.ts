import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encode } from "gpt-tokenizer/encoding/o200k_base";
import { nearestRank, summarize } from "../../src/core/datasets/summary.ts";
import { mulberry32 } from "../../src/lib/rng.ts";
import {
  countAssistantTokens,
  countRowTokenDetail,
  countRowTokens,
  countTextTokens,
} from "../../src/core/datasets/tokens.ts";
import type { NormalizedRow } from "../../src/core/datasets/types.ts";

const t = countTextTokens;

describe("countTextTokens (o200k_base)", () => {
  it("counts like encode().length", () => {
    for (const s of ["hello world", "Hello, world! How are you?", "数据集 🙂 naïve café", "x".repeat(1000)]) {
      assert.equal(t(s), encode(s).length);
    }
    assert.equal(t("hello world"), 2);
    assert.equal(t(""), 0);
  });

  it("a piece longer than 256 characters (no word) is counted in 256-character slices, so its work is bounded", () => {
    // Byte-pair merging one 200,000-letter piece whole takes minutes; sliced it is milliseconds.
    const rand = mulberry32(7);
    const blob = Array.from({ length: 200_000 }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join("");
    let sliced = 0;
    for (let i = 0; i < blob.length; i += 256) sliced += encode(blob.slice(i, i + 256)).length;
    assert.equal(t(blob), sliced);
    assert.equal(t("a".repeat(100_000)), encode("a".repeat(256)).length * 390 + encode("a".repeat(160)).length);
  });

  it("counts special-token strings in data as plain text instead of throwing", () => {
    const n = t("before <|endoftext|> after");
    assert.ok(n > 3, `got ${n}`);
    assert.equal(t("<|im_start|>"), encode("<|im_start|>", { disallowedSpecial: new Set() }).length);
  });
});

describe("countRowTokens (cookbook rule)", () => {
  it("3 per message + tokens of role and content, +3 per conversation", () => {
    const row: NormalizedRow = {
      kind: "chat",
      messages: [
        { role: "system", content: "You are a helpful assistant." },
        { role: "user", content: "What is 2 + 2?" },
        { role: "assistant", content: "4" },
      ],
    };
    const expected =
      3 +
      (3 + t("system") + t("You are a helpful assistant.")) +
      (3 + t("user") + t("What is 2 + 2?")) +
      (3 + t("assistant") + t("4"));
    assert.equal(countRowTokens(row), expected);
    // by hand (o200k): system 1 + "You| are| a| helpful| assistant|." 6; user 1 + "What| is| |2| +| |2|?" 8;
    // assistant 1 + "4" 1  ->  3 + (3+1+6) + (3+1+8) + (3+1+1) = 30
    assert.equal(countRowTokens(row), 30);
  });

  it("name adds its tokens + 1; tool_call_id, tool calls and tools are counted as text/JSON", () => {
    const toolCalls = [
      { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
    ];
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
    const row: NormalizedRow = {
      kind: "chat",
      tools,
      messages: [
        { role: "user", content: "Weather?", name: "alice" },
        { role: "assistant", content: null, tool_calls: toolCalls },
        { role: "tool", content: "sunny", tool_call_id: "call_1" },
        { role: "assistant", content: "Sunny.", weight: 1 },
      ],
    };
    const expected =
      3 +
      (3 + t("user") + t("Weather?") + t("alice") + 1) +
      (3 + t("assistant") + t(JSON.stringify(toolCalls))) +
      (3 + t("tool") + t("sunny") + t("call_1")) +
      (3 + t("assistant") + t("Sunny.")) +
      t(JSON.stringify(tools));
    assert.equal(countRowTokens(row), expected);
    assert.equal(countAssistantTokens(row), t(JSON.stringify(toolCalls)) + t("Sunny."));
    assert.deepEqual(countRowTokenDetail(row), { total: expected, assistant: countAssistantTokens(row) });
  });

  it("text rows count their text (all of it is trained on)", () => {
    const row: NormalizedRow = { kind: "text", text: "SELECT name FROM users WHERE id = 3" };
    assert.equal(countRowTokens(row), t(row.text as string));
    assert.equal(countAssistantTokens(row), t(row.text as string));
  });

  it("the cookbook's toy file: every row counts consistently", async () => {
    const { readFileSync } = await import("node:fs");
    const lines = readFileSync("/work/shared/datasets/openai-cookbook/toy_chat_fine_tuning.jsonl", "utf8")
      .split("\n")
      .filter((l) => l.trim());
    for (const line of lines) {
      const row: NormalizedRow = { kind: "chat", messages: JSON.parse(line).messages };
      let expected = 3;
      for (const m of row.messages ?? []) expected += 3 + t(m.role) + t(m.content ?? "");
      assert.equal(countRowTokens(row), expected);
    }
  });
});

describe("summarize (nearest rank)", () => {
  it("empty input gives zeros", () => {
    assert.deepEqual(summarize([]), { total: 0, min: 0, median: 0, p95: 0, max: 0, mean: 0 });
  });

  it("one value", () => {
    assert.deepEqual(summarize([7]), { total: 7, min: 7, median: 7, p95: 7, max: 7, mean: 7 });
  });

  it("odd and even counts (median is the lower middle value for even n)", () => {
    // sorted 1 2 3 4 5: median rank ceil(2.5)=3 -> 3; p95 rank ceil(4.75)=5 -> 5
    assert.deepEqual(summarize([5, 1, 4, 2, 3]), { total: 15, min: 1, median: 3, p95: 5, max: 5, mean: 3 });
    // sorted 10 20 30 40: median rank ceil(2)=2 -> 20 (not 25); p95 rank ceil(3.8)=4 -> 40
    assert.deepEqual(summarize([40, 10, 30, 20]), { total: 100, min: 10, median: 20, p95: 40, max: 40, mean: 25 });
  });

  it("p95 of 1..20 is 19 and of 1..100 is 95 (ranks 19 and 95)", () => {
    const a = Array.from({ length: 20 }, (_, i) => i + 1);
    assert.equal(summarize(a).p95, 19);
    const b = Array.from({ length: 100 }, (_, i) => 100 - i);
    const s = summarize(b);
    assert.equal(s.p95, 95);
    assert.equal(s.median, 50);
    assert.equal(s.mean, 50.5);
    assert.equal(nearestRank(Float64Array.from(a), 100), 20);
    assert.equal(nearestRank(Float64Array.from(a), 1), 1);
  });

  it("sorts numerically, not as strings", () => {
    assert.deepEqual(summarize([100, 9, 25]).median, 25);
  });
});
