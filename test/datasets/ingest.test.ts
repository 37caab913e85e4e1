/**
 * The ingest pass itself (ingestFile) and the token counting behind it: the memoised counter against
 * gpt-tokenizer, rows packed for the counting thread, the context-limit bound, and rows taken in file order
 * whether or not they wait for their exact count.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import { countBatch } from "../../src/core/datasets/batch-count.ts";
import { type DedupeFeatures, DuplicateFinder } from "../../src/core/datasets/dedupe.ts";
import { ingestFile, type IngestOptions, tokenBound } from "../../src/core/datasets/ingest.ts";
import { packRows } from "../../src/core/datasets/token-plan.ts";
import {
  countPacked,
  countRowTokenDetail,
  countRowTokens,
  countTextTokens,
  MEMOISED,
} from "../../src/core/datasets/tokens.ts";
import { hashRow } from "../../src/core/datasets/text.ts";
import type { NormalizedRow } from "../../src/core/datasets/types.ts";
import { bundleWorker, startWorker } from "../../src/lib/worker.ts";
import { tmpDir } from "../helpers.ts";
import { readShared } from "./shared-rows.ts";

const PLAIN = { disallowedSpecial: new Set<string>() };

const SHARED_FILES = [
  "openai-cookbook/toy_chat_fine_tuning.jsonl",
  "together-cookbook/small_coqa_10.jsonl",
  "mlx-examples-lora/train.jsonl",
  "mlx-examples-lora/valid.jsonl",
  "llama-factory/alpaca_en_demo.json",
  "llama-factory/glaive_toolcall_en_demo.json",
  "llama-factory/identity.json",
];

function allStrings(v: unknown, out: string[]): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) allStrings(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) allStrings(x, out);
  return out;
}

describe("token counting", () => {
  /** Every valid row of the shared datasets, normalised, and every value read. */
  const rows: NormalizedRow[] = [];
  const values: unknown[] = [];
  before(async () => {
    for (const rel of SHARED_FILES) {
      const read = await readShared(rel);
      rows.push(...read.rows.map(({ line: _line, ...row }) => row as NormalizedRow));
      values.push(...read.values);
    }
  });

  it("counts every string of the shared datasets exactly as gpt-tokenizer's countTokens does", () => {
    assert.equal(MEMOISED, true, "the memoised path is in use with this gpt-tokenizer");
    const strings = allStrings(values, []);
    assert.ok(strings.length > 5000, `${strings.length} strings`);
    // twice: the second pass answers from the memo
    for (let pass = 0; pass < 2; pass++) {
      for (const s of strings) assert.equal(countTextTokens(s), s ? countTokens(s, PLAIN) : 0, s.slice(0, 80));
    }
  });

  it("counts edge cases like countTokens: special tokens as text, long pieces, numbers, whitespace, scripts", () => {
    const cases = [
      "<|endoftext|><|im_start|>user<|im_end|>",
      "supercalifragilisticexpialidocious antidisestablishmentarianism",
      "12345678901234567890 3.14159 1,000,000",
      "  \n\n\t\t  trailing   \r\n",
      "日本語のテキストと中文文本和한국어",
      "emoji 🎉🎉🎉 👩‍👩‍👧‍👦 flags 🇫🇷",
      "I'M WE'RE they'll you've o'clock",
      `${"a".repeat(5000)} ${"ab ".repeat(3000)}`,
      JSON.stringify({ tool: "get_weather", arguments: { city: "Paris", units: ["C", "F"] } }),
    ];
    for (const s of cases) assert.equal(countTextTokens(s), countTokens(s, PLAIN), s.slice(0, 60));
  });

  it("packed rows (what the counting thread receives) count the same as the rows", () => {
    for (let i = 0; i < rows.length; i += 64) {
      const batch = rows.slice(i, i + 64);
      const { totals, assistant } = countPacked(packRows(batch));
      batch.forEach((row, j) => {
        const want = countRowTokenDetail(row);
        assert.equal(totals[j], want.total, `row ${i + j} total`);
        assert.equal(assistant[j], want.assistant, `row ${i + j} assistant`);
      });
    }
  });

  it("the counting thread's near-duplicate features find the same duplicates as DuplicateFinder.add", () => {
    // the shared rows, then each again with one word changed (near), or as it is (exact), plus rows that only
    // have a system message and short rows (character shingles)
    const more: NormalizedRow[] = [...rows];
    rows.forEach((row, i) => {
      if (i % 3 === 0) more.push(row);
      else if (row.messages && i % 3 === 1) {
        more.push({
          ...row,
          messages: row.messages.map((m, j) =>
            j === row.messages!.length - 1 && typeof m.content === "string"
              ? { ...m, content: m.content.replace(/\b(\w+)\b/, "Changed") }
              : m,
          ),
        });
      }
    });
    more.push({ kind: "chat", messages: [{ role: "system", content: "Only a system prompt here." }] });
    more.push({ kind: "chat", messages: [{ role: "system", content: "Only a system prompt here!" }] });
    more.push({ kind: "text", text: "short one" }, { kind: "text", text: "Short one." });
    const byRow = new DuplicateFinder();
    const byFeatures = new DuplicateFinder();
    for (let i = 0; i < more.length; i += 100) {
      const batch = more.slice(i, i + 100);
      const { features } = countBatch(packRows(batch));
      batch.forEach((row, j) => {
        byRow.add(i + j + 1, row);
        byFeatures.addFeatures(i + j + 1, hashRow(row), features as DedupeFeatures, j);
      });
    }
    const want = byRow.result();
    assert.ok(want.exact.length > 100 && want.near.length > 100, JSON.stringify([want.exact.length, want.near.length]));
    assert.deepEqual(byFeatures.result(), want);
  });

  it("tokenBound is never below a row's count", () => {
    for (const row of rows) assert.ok(tokenBound(row) >= countRowTokens(row));
  });
});

describe("ingestFile", () => {
  const dir = tmpDir("tuneloop-ingest");
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const chat = (user: string, answer: string) =>
    JSON.stringify({
      messages: [
        { role: "user", content: user },
        { role: "assistant", content: answer },
      ],
    });

  function options(file: string, tag: string, over: Partial<IngestOptions> = {}): IngestOptions {
    const out = (k: string) => path.join(dir, `${tag}.${k}`);
    return {
      filePath: file,
      maxRows: 100_000,
      maxLineBytes: 1 << 20,
      maxUploadBytes: 100 << 20,
      contextModel: "test-model",
      contextTokens: 400,
      nearDupThreshold: 0.85,
      out: { original: out("orig"), normalized: out("norm"), tokens: out("tokens"), report: out("report") },
      ...over,
    };
  }

  // 600 rows: short ones, now and then one far over 400 tokens or one under it but too long to tell without
  // counting, each followed by short rows (which then wait for its count) and by exact duplicates of earlier rows (line n repeats line n - 49).
  const file = path.join(dir, "mixed.jsonl");
  const lines: string[] = [];
  for (let i = 1; i <= 600; i++) {
    if (i % 150 === 0) lines.push(chat(`long question ${i}`, `word${i} `.repeat(600)));
    // within the limit, but too many characters to know that without counting: waits for its count
    else if (i % 100 === 0) lines.push(chat(`medium question ${i}`, "ok ".repeat(150)));
    else if (i % 97 === 0) lines.push(lines[i - 50]);
    else lines.push(chat(`question number ${i} about invoices`, `answer ${i}: please check the billing page`));
  }
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  const overLines = [150, 300, 450, 600];

  it("reports rows over the context limit by line, and keeps every other row, in file order", async () => {
    const r = await ingestFile(options(file, "a"));
    const over = r.issues.filter((x) => x.kind === "over_context_limit");
    assert.deepEqual(
      over.map((x) => x.line),
      overLines,
    );
    assert.match(over[0].message, /tokens, over the 400-token limit of test-model/);
    assert.equal(r.validRows, 600 - overLines.length);
    assert.equal(r.overContext, overLines.length);

    const norm = fs
      .readFileSync(path.join(dir, "a.norm"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as NormalizedRow & { line: number });
    const normLines = norm.map((n) => n.line);
    assert.deepEqual(
      normLines,
      Array.from({ length: 600 }, (_, i) => i + 1).filter((l) => !overLines.includes(l)),
    );
    // the token file holds each kept row's cookbook count, in the same order
    const tok = new Uint32Array(Uint8Array.from(fs.readFileSync(path.join(dir, "a.tokens"))).buffer);
    assert.deepEqual(
      Array.from(tok),
      norm.map(({ line: _l, index: _i, ...row }: NormalizedRow & { line: number; index?: number }) =>
        countRowTokens(row as NormalizedRow),
      ),
    );
    assert.equal(
      r.tokens.total,
      Array.from(tok).reduce((a, b) => a + b, 0),
    );
    assert.ok(norm.some((n) => n.line === 100 && tokenBound(n) > 400 && countRowTokens(n) <= 400));
    // duplicates point at the earliest line, also for rows that waited behind a long one
    assert.ok(r.duplicates.exact.length >= 5);
    for (const d of r.duplicates.exact) assert.equal(d.duplicateOf, d.line - 49);
  });

  it("gives the same result counting on a second thread or on this one", async () => {
    const threaded = await ingestFile(options(file, "b"));
    const inline = await ingestFile(options(file, "c", { tokenThread: false }));
    for (const k of ["normSha256", "tokensSha256", "validRows", "overContext", "assistantTokens"] as const) {
      assert.equal(threaded[k], inline[k], k);
    }
    assert.deepEqual(threaded.tokens, inline.tokens);
    assert.deepEqual(threaded.duplicates, inline.duplicates);
  });
});

describe("bundled workers", () => {
  it("runs a TypeScript worker from a plain-JS bundle in node_modules/.cache, without tsx", async () => {
    const module = new URL("../../src/core/datasets/count-worker.ts", import.meta.url);
    const bundle = bundleWorker(module);
    assert.ok(bundle, "bundled");
    assert.match(
      bundle,
      /node_modules[\\/]\.cache[\\/]tuneloop-workers[\\/]count-worker-[0-9a-f]{16}[\\/]count-worker\.mjs$/,
    );
    assert.equal(bundleWorker(module), bundle, "once per process");
    const w = startWorker(module, {}, { bundle: true });
    try {
      const packed = packRows([{ kind: "text", text: "hello world" }]);
      const reply = await new Promise<{ counts: { totals: Uint32Array } }>((resolve, reject) => {
        w.once("message", resolve);
        w.once("error", reject);
        w.postMessage({ id: 1, packed });
      });
      assert.equal(reply.counts.totals[0], 2);
    } finally {
      await w.terminate();
    }
  });
});
