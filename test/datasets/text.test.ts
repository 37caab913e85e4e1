import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  canonicalRowKey,
  dedupeText,
  hashRow,
  normalizeText,
  promptText,
  rowText,
  stableStringify,
} from "../../src/core/datasets/text.ts";
import type { NormalizedRow } from "../../src/core/datasets/types.ts";

const chat = (...messages: NonNullable<NormalizedRow["messages"]>): NormalizedRow => ({ kind: "chat", messages });

describe("rowText / promptText / dedupeText", () => {
  const row = chat(
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello" },
    { role: "user", content: "Bye" },
  );

  it("rowText joins every message, role-tagged", () => {
    assert.equal(rowText(row), "system: Be brief.\nuser: Hi\nassistant: Hello\nuser: Bye");
  });

  it("rowText of a text row is the text", () => {
    assert.equal(rowText({ kind: "text", text: "plain" }), "plain");
  });

  it("rowText renders tool calls as JSON when content is null", () => {
    const r = chat({ role: "assistant", content: null, tool_calls: [{ id: "1", type: "function" }] });
    assert.equal(rowText(r), 'assistant: [{"id":"1","type":"function"}]');
  });

  it("promptText keeps user messages only", () => {
    assert.equal(promptText(row), "Hi\nBye");
    assert.equal(promptText(chat({ role: "developer", content: "x" }, { role: "assistant", content: "y" })), "");
    assert.equal(promptText({ kind: "text", text: "whole" }), "whole");
  });

  it("dedupeText drops system/developer messages, unless that is all there is", () => {
    assert.equal(dedupeText(row), "user: Hi\nassistant: Hello\nuser: Bye");
    assert.equal(dedupeText(chat({ role: "system", content: "only" })), "system: only");
  });
});

describe("normalizeText", () => {
  it("lower-cases, strips punctuation/symbols and collapses whitespace", () => {
    assert.equal(normalizeText("  Hello,   WORLD!!\n\tHow's it — going?  "), "hello world how s it going");
  });

  it("applies NFKC (ligatures, full-width, math letters)", () => {
    assert.equal(normalizeText("ﬁle ＡＢＣ１２ 𝐁𝐨𝐥𝐝"), "file abc12 bold");
  });

  it("keeps letters of every script and combining marks; drops emoji and symbols", () => {
    assert.equal(normalizeText("Café 中文 Ελληνικά 😀 $5 + 3 = 8"), "café 中文 ελληνικά 5 3 8");
    assert.equal(normalizeText("e\u0301"), "é"); // NFKC composes
  });

  it("is idempotent and empty for punctuation-only input", () => {
    const s = normalizeText("A -- b ... C");
    assert.equal(normalizeText(s), s);
    assert.equal(normalizeText(" !?. "), "");
  });
});

describe("canonicalRowKey / hashRow", () => {
  it("ignores key order and undefined members", () => {
    const a: NormalizedRow = { kind: "chat", messages: [{ role: "user", content: "x", name: undefined }] };
    const b = { messages: [{ content: "x", role: "user" }], kind: "chat" } as NormalizedRow;
    assert.equal(canonicalRowKey(a), canonicalRowKey(b));
    assert.equal(hashRow(a), hashRow(b));
  });

  it("canonicalises nested tool calls and tools (sorted keys)", () => {
    const a = chat({
      role: "assistant",
      content: null,
      tool_calls: [{ function: { name: "f", arguments: "{}" }, id: "1" }],
    });
    const b = chat({
      role: "assistant",
      content: null,
      tool_calls: [{ id: "1", function: { arguments: "{}", name: "f" } }],
    });
    assert.equal(hashRow(a), hashRow(b));
    const withTools = { ...a, tools: [{ type: "function", function: { name: "f" } }] };
    assert.notEqual(hashRow(a), hashRow(withTools));
  });

  it("distinguishes every difference: whitespace, case, role, null vs 'null', weight, kind", () => {
    const base = chat({ role: "user", content: "Hello" }, { role: "assistant", content: "Hi" });
    const variants: NormalizedRow[] = [
      chat({ role: "user", content: "Hello " }, { role: "assistant", content: "Hi" }),
      chat({ role: "user", content: "hello" }, { role: "assistant", content: "Hi" }),
      chat({ role: "system", content: "Hello" }, { role: "assistant", content: "Hi" }),
      chat({ role: "user", content: "Hello" }, { role: "assistant", content: "Hi", weight: 0 }),
      chat({ role: "user", content: "Hello" }, { role: "assistant", content: "Hi" }, { role: "user", content: "" }),
      chat({ role: "user", content: "Hello" }),
      { kind: "text", text: "Hello" },
    ];
    const hashes = new Set([hashRow(base), ...variants.map(hashRow)]);
    assert.equal(hashes.size, variants.length + 1);
    assert.notEqual(
      hashRow(chat({ role: "assistant", content: null, tool_calls: [] })),
      hashRow(chat({ role: "assistant", content: "null", tool_calls: [] })),
    );
  });

  it("is not fooled by contents that look like the encoding's delimiters", () => {
    const a = chat({ role: "user", content: 'a"role"=4:user' });
    const b = chat({ role: "user", content: "a" }, { role: "user", content: "" });
    assert.notEqual(hashRow(a), hashRow(b));
    const c = chat({ role: "user", content: "x|{" }, { role: "user", content: "y" });
    const d = chat({ role: "user", content: "x" }, { role: "user", content: "|{y" });
    assert.notEqual(hashRow(c), hashRow(d));
  });

  it("hashRow is a SHA-256 hex digest", () => {
    assert.match(hashRow({ kind: "text", text: "x" }), /^[0-9a-f]{64}$/);
  });
});

describe("stableStringify", () => {
  it("sorts keys recursively and drops undefined like JSON.stringify", () => {
    assert.equal(stableStringify({ b: 1, a: [{ d: undefined, c: "x" }, undefined] }), '{"a":[{"c":"x"},null],"b":1}');
    assert.equal(stableStringify('q"\n'), JSON.stringify('q"\n'));
    assert.equal(stableStringify(Number.NaN), "null");
  });
});
