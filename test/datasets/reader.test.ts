import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { type Container, type ReaderItem, readRecords } from "../../src/core/datasets/reader.ts";
import type { RowIssue } from "../../src/core/datasets/types.ts";
import { cpuMsSince, retainedMemory, sharedDataset } from "../helpers.ts";

/** Yields `data` in chunks of `size` bytes. */
async function* chunked(data: string | Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function read(
  data: string | Uint8Array,
  container: Container,
  opts: { maxLineBytes?: number; chunk?: number } = {},
) {
  const items: ReaderItem[] = [];
  for await (const item of readRecords(chunked(data, opts.chunk), {
    container,
    maxLineBytes: opts.maxLineBytes ?? 1 << 20,
  }))
    items.push(item);
  const records = items.flatMap((i) => (i.type === "record" ? [i] : []));
  const issues = items.flatMap((i) => (i.type === "issue" ? [{ ...i.issue, index: i.index }] : []));
  return { items, records, issues };
}

/** The issue of `kind` (there must be exactly one). */
function only(issues: Array<RowIssue & { index: number | null }>, kind: string) {
  const found = issues.filter((i) => i.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind} issue, got ${JSON.stringify(issues)}`);
  return found[0];
}

const CHUNK_SIZES = [1, 2, 3, 7, 64, 64 * 1024];

describe("readRecords: JSON Lines", () => {
  it("reads records with their line and index, with LF or CRLF, and a last line without LF", async () => {
    for (const nl of ["\n", "\r\n"]) {
      const { records, issues } = await read(`{"a":1}${nl}{"b":"x"}${nl}[1,2]${nl}"s"`, "jsonl");
      assert.deepEqual(issues, []);
      assert.deepEqual(
        records.map((r) => [r.line, r.index, r.value]),
        [
          [1, 0, { a: 1 }],
          [2, 1, { b: "x" }],
          [3, 2, [1, 2]],
          [4, 3, "s"],
        ],
      );
    }
  });

  it("gives the same items whatever the chunk size", async () => {
    const text = '\uFEFF{"a":"é😀"}\n\n{"b":\n{"c":[1,{"d":"]"}]}\r\n  \n{"e":"' + "x".repeat(40) + '"}\n{"f":2}\n\n';
    const reference = await read(text, "jsonl", { maxLineBytes: 30, chunk: 1 << 20 });
    assert.equal(reference.records.length, 3);
    for (const chunk of CHUNK_SIZES)
      assert.deepEqual(
        (await read(text, "jsonl", { maxLineBytes: 30, chunk })).items,
        reference.items,
        `chunk ${chunk}`,
      );
  });

  it("a UTF-8 BOM: a 'bom' issue on line 1, and line 1 is still read", async () => {
    for (const chunk of [1, 2, 1024]) {
      const { items } = await read('\uFEFF{"a":1}\n{"b":2}\n', "jsonl", { chunk });
      assert.equal(items.length, 3);
      const [bom, first] = items;
      assert.equal(bom.type, "issue");
      if (bom.type === "issue") {
        assert.equal(bom.index, null);
        assert.equal(bom.issue.kind, "bom");
        assert.equal(bom.issue.line, 1);
        assert.match(bom.issue.message, /UTF-8 without BOM/);
      }
      assert.deepEqual(first, { type: "record", line: 1, index: 0, value: { a: 1 } });
    }
  });

  it("a BOM in the middle of the file (concatenated files) is reported on its line", async () => {
    const { records, issues } = await read('{"a":1}\n\uFEFF{"b":2}\n', "jsonl");
    assert.equal(records.length, 2);
    assert.deepEqual(records[1].value, { b: 2 });
    assert.deepEqual(
      issues.map((i) => [i.kind, i.line, i.index]),
      [["bom", 2, null]],
    );
  });

  it("blank lines in the middle are reported; blank lines at the end are not", async () => {
    const { records, issues } = await read('\n{"a":1}\n\n \t\r\n{"b":2}\r\n\r\n\n  \n', "jsonl");
    assert.deepEqual(
      records.map((r) => [r.line, r.index]),
      [
        [2, 0],
        [5, 1],
      ],
    );
    assert.deepEqual(
      issues.map((i) => [i.kind, i.line, i.index]),
      [
        ["blank_line", 1, null],
        ["blank_line", 3, null],
        ["blank_line", 4, null],
      ],
    );
    assert.match(issues[1].message, /Line 3 is blank/);
  });

  it("invalid JSON: the parser's reason, and the record keeps its index", async () => {
    const { records, issues } = await read('{"a":1}\n{"a": nope}\n{"c":3}\n', "jsonl");
    const bad = only(issues, "invalid_json");
    assert.equal(bad.line, 2);
    assert.equal(bad.index, 1);
    assert.match(bad.message, /^Line 2 is not valid JSON \(Unexpected token/);
    assert.match(bad.message, /fix or remove this line/);
    assert.deepEqual(
      records.map((r) => r.index),
      [0, 2],
    );
  });

  it("a truncated line (cut off in the middle) says so", async () => {
    for (const cut of ['{"messages": [{"role": "user", "content": "hel', '{"a": 1, "b": [1, 2', '{"a": 1', "{"]) {
      const { issues } = await read(`{"ok":true}\n${cut}`, "jsonl");
      const bad = only(issues, "invalid_json");
      assert.equal(bad.line, 2, cut);
      assert.match(bad.message, /cut off \(truncated\)/, cut);
    }
    const { issues } = await read('{"a":1} trailing\n', "jsonl");
    assert.doesNotMatch(only(issues, "invalid_json").message, /truncated/);
  });

  it("invalid UTF-8 names the byte and where it is", async () => {
    const latin1 = Buffer.concat([
      Buffer.from('{"a":1}\n{"text": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}\n{"b":2}\n'),
    ]);
    const { records, issues } = await read(latin1, "jsonl");
    const bad = only(issues, "invalid_utf8");
    assert.equal(bad.line, 2);
    assert.equal(bad.index, 1);
    assert.match(bad.message, /byte 0xE9 at byte 14 of the line/);
    assert.match(bad.message, /save it as UTF-8/);
    assert.equal(records.length, 2);
  });

  it("overlong encodings and lone surrogates are invalid UTF-8 too", async () => {
    for (const bad of [
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
    ]) {
      const { issues } = await read(
        Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bad), Buffer.from('"}')]),
        "jsonl",
      );
      assert.match(only(issues, "invalid_utf8").message, /at byte 7 of the line/);
    }
  });

  it("a line longer than maxLineBytes is skipped with its size and the limit", async () => {
    const big = `{"text": "${"x".repeat(5000)}"}`;
    for (const chunk of [7, 100, 64 * 1024]) {
      const { records, issues } = await read(`{"a":1}\n${big}\n{"b":2}\n${big}`, "jsonl", {
        maxLineBytes: 1000,
        chunk,
      });
      assert.deepEqual(
        records.map((r) => [r.line, r.index]),
        [
          [1, 0],
          [3, 2],
        ],
        `chunk ${chunk}`,
      );
      assert.deepEqual(
        issues.map((i) => [i.kind, i.line, i.index]),
        [
          ["line_too_long", 2, 1],
          ["line_too_long", 4, 3],
        ],
      );
      assert.match(issues[0].message, /Line 2 is 4\.9 KB, over the limit of 1000 B for one record/);
    }
  });

  it("the limit is exact, and a CR before the LF does not count", async () => {
    const line = `{"t":"${"x".repeat(12)}"}`; // 20 bytes
    assert.equal((await read(`${line}\r\n`, "jsonl", { maxLineBytes: 20, chunk: 3 })).issues.length, 0);
    assert.equal((await read(`${line}\n`, "jsonl", { maxLineBytes: 19, chunk: 3 })).issues[0].kind, "line_too_long");
  });

  it("an enormous line is not buffered: memory stays flat", async () => {
    // 64 MiB of one line, from one reused 1 MiB buffer: if the reader kept the line, array buffers would grow by it.
    const piece = Buffer.alloc(1 << 20, 0x61);
    async function* source() {
      yield Buffer.from('{"a":1}\n{"text": "');
      for (let i = 0; i < 64; i++) yield piece;
      yield Buffer.from('"}\n{"b":2}\n');
    }
    const before = retainedMemory().arrayBuffers;
    let peak = 0;
    const items: ReaderItem[] = [];
    for await (const item of readRecords(source(), { container: "jsonl", maxLineBytes: 1 << 20 })) {
      items.push(item);
      peak = Math.max(peak, retainedMemory().arrayBuffers - before);
    }
    assert.deepEqual(
      items.map((i) => (i.type === "record" ? i.line : i.issue.kind)),
      [1, "line_too_long", 3],
    );
    assert.ok(peak < 16 * 1024 * 1024, `array buffers grew by ${peak} bytes`);
  });

  it("stops reading the source when the consumer stops", async () => {
    let closed = false;
    async function* source() {
      try {
        for (;;) yield Buffer.from('{"a":1}\n');
      } finally {
        closed = true;
      }
    }
    for await (const item of readRecords(source(), { container: "jsonl", maxLineBytes: 100 })) {
      if (item.type === "record" && item.index === 5) break;
    }
    assert.equal(closed, true);
  });

  it("streams ~50 MB with flat memory, quickly", async (t) => {
    const line = Buffer.from(
      `${JSON.stringify({
        messages: [
          { role: "system", content: "You are a helpful assistant." },
          { role: "user", content: "What is the capital of France? Answer in one word, please." },
          {
            role: "assistant",
            content: `Paris. ${"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(6)}`,
          },
        ],
      })}\n`,
    );
    const perChunk = Math.floor((1 << 20) / line.length);
    const chunk = Buffer.concat(Array.from({ length: perChunk }, () => line));
    const chunks = Math.ceil((50 * 1024 * 1024) / chunk.length);
    async function* source() {
      for (let i = 0; i < chunks; i++) yield Buffer.from(chunk); // a fresh buffer each time, like a file stream
    }
    const baseline = retainedMemory().heapUsed;
    let peak = 0;
    let records = 0;
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    for await (const item of readRecords(source(), { container: "jsonl", maxLineBytes: 1 << 20 })) {
      assert.equal(item.type, "record");
      // What the reader holds on to, measured every 10,000 records (a reader keeping the file would grow by it).
      if (++records % 10_000 === 0) peak = Math.max(peak, retainedMemory().heapUsed - baseline);
    }
    const seconds = (performance.now() - started) / 1000;
    const mb = (chunks * chunk.length) / 1e6;
    assert.equal(records, chunks * perChunk);
    t.diagnostic(
      `JSONL: ${mb.toFixed(0)} MB in ${seconds.toFixed(2)} s = ${(mb / seconds).toFixed(0)} MB/s; retained heap grew by at most ${(peak / 1e6).toFixed(1)} MB`,
    );
    assert.ok(peak < 60 * 1024 * 1024, `retained heap grew by ${peak} bytes`);
    // Typically about 1 s; the bound (CPU time, which a busy machine does not stretch) only catches a pathological
    // (e.g. quadratic) slowdown.
    const cpuSeconds = cpuMsSince(cpu0) / 1000;
    assert.ok(cpuSeconds < 30, `took ${cpuSeconds} s of CPU`);
  });
});

describe("readRecords: JSON array", () => {
  const alpaca = [
    { instruction: "Say hi", input: "", output: "Hi! [not a bracket] {nor a brace}" },
    { instruction: 'Quote "this"', input: "a\\b", output: "done\n" },
    { instruction: "Nested", input: "", output: "x", history: [["q", "a"]] },
  ];
  const pretty = `${JSON.stringify(alpaca, null, 2)}\n`;

  it("splits a pretty-printed array into its elements, with the line each starts on", async () => {
    const { records, issues } = await read(pretty, "json-array");
    assert.deepEqual(issues, []);
    assert.deepEqual(
      records.map((r) => r.value),
      alpaca,
    );
    const starts = pretty.split("\n").flatMap((l, i) => (l === "  {" ? [i + 1] : []));
    assert.deepEqual(
      records.map((r) => r.line),
      starts,
    );
    assert.deepEqual(
      records.map((r) => r.index),
      [0, 1, 2],
    );
  });

  it("gives the same items whatever the chunk size", async () => {
    const text = `\uFEFF[ {"a": "x\\"]}\\\\"}, 12, -3.5e2 , true,null,"s\\"t",[1,[2]],\n{"b":${"[".repeat(5)}${"]".repeat(5)}}, {"c": "é😀"} ]`;
    const reference = await read(text, "json-array", { chunk: 1 << 20 });
    assert.deepEqual(
      reference.records.map((r) => r.value),
      JSON.parse(text.slice(1)),
    );
    for (const chunk of CHUNK_SIZES)
      assert.deepEqual((await read(text, "json-array", { chunk })).items, reference.items, `chunk ${chunk}`);
  });

  it("an empty array has no records and no issues", async () => {
    assert.deepEqual((await read(" [ ] \n", "json-array")).items, []);
  });

  it("a BOM before the array is reported and skipped", async () => {
    const { records, issues } = await read('\uFEFF[{"a":1}]', "json-array");
    assert.equal(records.length, 1);
    assert.deepEqual(
      issues.map((i) => [i.kind, i.line, i.index]),
      [["bom", 1, null]],
    );
  });

  it("a truncated file: the unfinished element is an issue at the line it starts", async () => {
    const cut = pretty.slice(0, pretty.indexOf('"Nested"') + 4);
    for (const chunk of [5, 1 << 20]) {
      const { records, issues } = await read(cut, "json-array", { chunk });
      assert.equal(records.length, 2);
      const bad = only(issues, "invalid_json");
      assert.equal(bad.line, 12);
      assert.equal(bad.index, 2);
      assert.match(bad.message, /ends inside element 3 of the array, which starts at line 12/);
      assert.match(bad.message, /truncated/);
      assert.equal(issues.length, 1);
    }
  });

  it("a truncated file: the array is never closed", async () => {
    const { records, issues } = await read('[\n  {"a": 1},\n  {"b": 2},\n', "json-array");
    assert.equal(records.length, 2);
    const bad = only(issues, "invalid_json");
    assert.equal(bad.line, 3);
    assert.equal(bad.index, null);
    assert.match(bad.message, /ends before the array's closing '\]' \(after 2 elements\)/);
  });

  it("text after the closing ']' is reported once, on its line", async () => {
    const { records, issues } = await read('[{"a": 1}]\n\n{"b": 2}\n[{"c": 3}]\n', "json-array");
    assert.equal(records.length, 1);
    const bad = only(issues, "invalid_json");
    assert.equal(bad.line, 3);
    assert.equal(bad.index, null);
    assert.match(bad.message, /unexpected text after the closing '\]' of the array: "\{"b": 2\}/);
  });

  it("a trailing comma, a missing comma and an extra comma are reported, and every element is still read", async () => {
    const { records, issues } = await read('[\n{"a": 1}\n{"b": 2},,\n{"c": 3},\n]', "json-array");
    assert.deepEqual(
      records.map((r) => [r.line, r.index]),
      [
        [2, 0],
        [3, 1],
        [4, 2],
      ],
    );
    assert.deepEqual(
      issues.map((i) => [i.line, i.index, i.message.replace(/\..*/, "")]),
      [
        [3, null, "Line 3: missing comma between elements 1 and 2 of the array"],
        [3, null, "Line 3: an extra comma with no element before it"],
        [5, null, "Line 5: a comma before the closing ']' is not allowed in JSON"],
      ],
    );
  });

  it("an element that is not valid JSON: at the element's start line, naming the line of the error", async () => {
    const { records, issues } = await read(
      '[\n  {"a": 1},\n  {\n    "b": 2,\n    "c" 3\n  },\n  {"d": 4}\n]',
      "json-array",
    );
    assert.equal(records.length, 2);
    const bad = only(issues, "invalid_json");
    assert.equal(bad.line, 3);
    assert.equal(bad.index, 1);
    assert.match(
      bad.message,
      /Element 2 of the array \(starting at line 3\) is not valid JSON on line 5 \(Unexpected number in JSON at position 22\)/,
    );
    // Some parser messages give no position: the message then quotes the text instead.
    const { issues: other } = await read('[{"a": 1}, {"b": oops}]', "json-array");
    assert.match(
      only(other, "invalid_json").message,
      /^Element 2 of the array \(starting at line 1\) is not valid JSON \(Unexpected token 'o'/,
    );
  });

  it("a file that does not start with '['", async () => {
    const { records, issues } = await read('{"a": 1}\n', "json-array");
    assert.equal(records.length, 0);
    assert.match(only(issues, "invalid_json").message, /expected a JSON array starting with '\['/);
  });

  it("an element larger than maxLineBytes is skipped without being kept", async () => {
    const big = { text: "y".repeat(10_000) };
    const text = JSON.stringify([{ a: 1 }, big, { b: 2 }], null, 1);
    for (const chunk of [3, 1000, 1 << 20]) {
      const { records, issues } = await read(text, "json-array", { maxLineBytes: 2000, chunk });
      assert.deepEqual(
        records.map((r) => r.value),
        [{ a: 1 }, { b: 2 }],
      );
      assert.deepEqual(
        records.map((r) => r.index),
        [0, 2],
      );
      const bad = only(issues, "line_too_long");
      assert.equal(bad.index, 1);
      assert.equal(bad.line, 5);
      assert.match(
        bad.message,
        /Element 2 of the array \(starting at line 5\) is 9\.8 KB, over the limit of 2\.0 KB for one record/,
      );
    }
  });

  it("invalid UTF-8 inside an element names the element and the line of the bad byte", async () => {
    const bytes = Buffer.concat([
      Buffer.from('[\n  {"a": 1},\n  {\n    "t": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"\n  },\n  {"b": 2}\n]'),
    ]);
    const { records, issues } = await read(bytes, "json-array");
    assert.equal(records.length, 2);
    const bad = only(issues, "invalid_utf8");
    assert.equal(bad.line, 3);
    assert.equal(bad.index, 1);
    assert.match(
      bad.message,
      /Element 2 of the array \(starting at line 3\) is not valid UTF-8 \(byte 0xE9 on line 4\)/,
    );
  });

  it("splits a large array quickly", async (t) => {
    const element = JSON.stringify(
      {
        conversations: [
          { from: "human", value: 'Say "hi" \\ [now]\n' },
          { from: "gpt", value: "Hi! {there}\n".repeat(30) },
        ],
      },
      null,
      2,
    );
    const count = 40_000;
    const text = Buffer.from(`[\n${Array.from({ length: count }, () => element).join(",\n")}\n]\n`);
    const started = performance.now();
    let records = 0;
    for await (const item of readRecords(chunked(text, 1 << 20), { container: "json-array", maxLineBytes: 1 << 20 })) {
      assert.equal(item.type, "record");
      records++;
    }
    const seconds = (performance.now() - started) / 1000;
    assert.equal(records, count);
    t.diagnostic(
      `JSON array: ${(text.length / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s = ${(text.length / 1e6 / seconds).toFixed(0)} MB/s`,
    );
  });
});

describe("readRecords: the real shared files", () => {
  it("reads every record of each file, with no issue", async () => {
    const expected: Array<[string, Container, number]> = [
      ["openai-cookbook/toy_chat_fine_tuning.jsonl", "jsonl", 5],
      ["together-cookbook/small_coqa_10.jsonl", "jsonl", 10],
      ["llama-factory/alpaca_en_demo.json", "json-array", 999],
      ["llama-factory/identity.json", "json-array", 91],
      ["llama-factory/glaive_toolcall_en_demo.json", "json-array", 300],
      ["mlx-examples-lora/train.jsonl", "jsonl", 1000],
    ];
    for (const [file, container, count] of expected) {
      const path = sharedDataset(file);
      const items: ReaderItem[] = [];
      for await (const item of readRecords(fs.createReadStream(path, { highWaterMark: 4096 }), {
        container,
        maxLineBytes: 1 << 20,
      }))
        items.push(item);
      assert.deepEqual(
        items.filter((i) => i.type === "issue"),
        [],
        file,
      );
      assert.equal(items.length, count, file);
      if (container === "json-array") {
        assert.deepEqual(
          items.map((i) => (i.type === "record" ? i.value : null)),
          JSON.parse(fs.readFileSync(path, "utf8")),
          file,
        );
      }
    }
  });
});
