import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { cpuMsSince } from "../helpers.ts";
import {
  DuplicateFinder,
  estimateSimilarity,
  findOverlap,
  groupNearPrompts,
  promptKey,
  rowSignature,
  signature,
} from "../../src/core/datasets/dedupe.ts";
import { normalizeText } from "../../src/core/datasets/text.ts";
import type { NormalizedRow } from "../../src/core/datasets/types.ts";

const qa = (user: string, assistant: string, system?: string): NormalizedRow => ({
  kind: "chat",
  messages: [
    ...(system ? [{ role: "system" as const, content: system }] : []),
    { role: "user" as const, content: user },
    { role: "assistant" as const, content: assistant },
  ],
});
const text = (s: string): NormalizedRow => ({ kind: "text", text: s });
const hash32 = (x: number) => {
  let h = Math.imul(x ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};

const FORTY =
  "The committee met on Tuesday to review the proposed budget for next year and agreed that spending on " +
  "roads schools and parks should rise while administrative costs are cut by a modest amount as revenue from the new levy grows";

function find(rows: NormalizedRow[], threshold?: number) {
  const f = new DuplicateFinder({ threshold });
  for (let i = 0; i < rows.length; i++) f.add(i + 1, rows[i]);
  return f.result();
}

describe("DuplicateFinder", () => {
  it("identical rows are exact duplicates of the first occurrence", () => {
    const a = qa("What is the capital of France?", "Paris.");
    const res = find([a, qa("Other", "Thing"), structuredClone(a), structuredClone(a)]);
    assert.deepEqual(res.exact, [
      { line: 3, duplicateOf: 1 },
      { line: 4, duplicateOf: 1 },
    ]);
    assert.deepEqual(res.near, []);
  });

  it("whitespace / case / punctuation-only differences are near duplicates (similarity 1), not exact", () => {
    const res = find([qa("What is the capital of France?", "Paris."), qa("what is the   capital of france", "PARIS")]);
    assert.deepEqual(res.exact, []);
    assert.deepEqual(res.near, [{ line: 2, similarTo: 1, similarity: 1 }]);
  });

  it("one word changed in a 40-word row is a near duplicate", () => {
    assert.equal(FORTY.split(" ").length, 40);
    const words = FORTY.split(" ");
    words[20] = "libraries"; // in the middle: changes two bigrams
    const res = find([text(FORTY), text(words.join(" "))]);
    assert.equal(res.exact.length, 0);
    assert.equal(res.near.length, 1);
    assert.equal(res.near[0].line, 2);
    assert.equal(res.near[0].similarTo, 1);
    assert.ok(res.near[0].similarity >= 0.85 && res.near[0].similarity < 1, String(res.near[0].similarity));
  });

  it("one word changed anywhere in random 40-word texts is detected (500 trials)", () => {
    const vocab =
      "time person year way day thing man world life hand part child eye woman place work week case point government company number group problem fact river stone light water music paper money story".split(
        " ",
      );
    let seed = 42;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed % n;
    };
    let missed = 0;
    for (let trial = 0; trial < 500; trial++) {
      const w = Array.from({ length: 40 }, () => vocab[rnd(vocab.length)]);
      const v = w.slice();
      v[rnd(40)] = `changed${trial}`;
      const s = estimateSimilarity(signature(w.join(" ")), signature(v.join(" ")));
      if (s < 0.85) missed++;
    }
    assert.equal(missed, 0);
  });

  it("unrelated rows, and rows sharing only a long system prompt, are not duplicates", () => {
    const system = "You are a meticulous assistant. ".repeat(60);
    const res = find([
      qa("Summarise the plot of Hamlet in two sentences.", "A prince avenges his father.", system),
      qa("Convert 3 miles to kilometres.", "About 4.83 km.", system),
      qa("Write a haiku about rain.", "Soft rain on the roof / ...", system),
      text(FORTY),
      text("A completely different paragraph about astronomy, telescopes and the night sky over the desert."),
    ]);
    assert.deepEqual(res, { exact: [], near: [] });
  });

  it("reports against the earliest matching row", () => {
    const w = FORTY.split(" ");
    const v1 = w.slice();
    v1[10] = "Wednesday";
    const res = find([
      text("unrelated first row with enough words to be shingled by words not chars"),
      text(FORTY),
      text(v1.join(" ")),
      text(FORTY.toUpperCase()),
    ]);
    assert.deepEqual(
      res.near.map((n) => [n.line, n.similarTo]),
      [
        [3, 2],
        [4, 2],
      ],
    );
  });

  it("short texts use character shingles", () => {
    const a = signature("Tell me a joke");
    assert.equal(estimateSimilarity(a, signature("tell me a joke!")), 1);
    assert.ok(estimateSimilarity(a, signature("Tell me a story")) < 0.85);
  });

  it("templated data does not blow up (bucket and candidate caps)", () => {
    const rows: NormalizedRow[] = [];
    for (let i = 0; i < 4000; i++) {
      rows.push(
        qa(
          `Translate the following sentence into French, keeping the tone formal and polite: item number ${i % 50}`,
          `Voici la traduction demandée, dans un registre formel et poli : article numéro ${i % 50}`,
        ),
      );
    }
    const t0 = process.cpuUsage();
    const res = find(rows);
    const ms = cpuMsSince(t0);
    assert.equal(res.exact.length, 4000 - 50);
    assert.ok(ms < 5000, `took ${ms} ms`);
    for (const n of res.near) assert.ok(n.similarTo < n.line);
  });

  it("near-duplicate and almost-near templated rows stay fast (caps)", (t) => {
    const template = (i: number, j: number) =>
      `Please write a short formal letter to customer number ${i} explaining that the delivery of order ` +
      `${j} will be delayed by two days because of the storm, apologise for the inconvenience, offer a ` +
      `discount code for the next purchase and thank them for their patience and continued trust in our shop`;
    for (const [name, make] of [
      ["all near each other", (i: number) => template(i, 7)],
      [
        "similar but under the threshold",
        (i: number) =>
          `${template(1, 7)} ${Array.from({ length: 14 }, (_, k) => `w${hash32(i * 16 + k) % 100000}`).join(" ")}`,
      ],
    ] as const) {
      const rows = Array.from({ length: 5000 }, (_, i) => text(make(i)));
      // a real near duplicate of row 2501 at the end must still be found past the full buckets
      rows.push(text(make(2500).replace("storm", "snow")));
      const t0 = process.cpuUsage();
      const res = find(rows);
      const ms = cpuMsSince(t0);
      t.diagnostic(`${name}: ${res.near.length} near in ${ms.toFixed(0)} ms of CPU`);
      assert.ok(ms < 5000, `${name}: took ${ms} ms`);
      for (const n of res.near) assert.ok(n.similarTo < n.line);
      const last = res.near.find((n) => n.line === 5001);
      assert.ok(last, "near duplicate of row 2501 missed");
      if (name !== "all near each other") assert.equal(last.similarTo, 2501);
    }
  });

  it("the real alpaca_en_demo.json has exact duplicates", (t) => {
    const data: Array<{ instruction: string; input: string; output: string }> = JSON.parse(
      readFileSync("/work/shared/datasets/llama-factory/alpaca_en_demo.json", "utf8"),
    );
    const rows = data.map((d) => qa(d.input ? `${d.instruction}\n\n${d.input}` : d.instruction, d.output));
    // "line" = 1-based record number in the JSON array
    const res = find(rows);
    assert.ok(res.exact.length > 0);
    for (const { line, duplicateOf } of res.exact) {
      assert.ok(duplicateOf < line);
      assert.deepEqual(data[line - 1], data[duplicateOf - 1]);
    }
    // every record identical to an earlier one is reported exactly once
    const seen = new Map<string, number>();
    let expected = 0;
    for (const d of data) {
      const k = JSON.stringify([d.instruction, d.input, d.output]);
      if (seen.has(k)) expected++;
      else seen.set(k, 1);
    }
    assert.equal(res.exact.length, expected);
    for (const n of res.near) assert.ok(n.similarTo < n.line && n.similarity >= 0.85);
    t.diagnostic(`exact: ${res.exact.map((e) => `${e.line}->${e.duplicateOf}`).join(", ")}`);
    t.diagnostic(`near: ${res.near.map((e) => `${e.line}->${e.similarTo} (${e.similarity})`).join(", ")}`);
  });

  it("rejects a threshold outside (0, 1]", () => {
    assert.throws(() => new DuplicateFinder({ threshold: 0 }), RangeError);
    assert.throws(() => new DuplicateFinder({ threshold: 1.5 }), RangeError);
  });
});

describe("findOverlap", () => {
  const train = [
    qa("What is the capital of France?", "Paris."),
    qa("Name three primary colours.", "Red, blue and yellow."),
    qa("What is the capital of France?", "It is Paris, of course."),
    text(FORTY),
    qa("Unrelated training question about sourdough starters", "Feed it daily."),
  ];
  const evalRows = [
    qa("What is the capital of France?", "Paris."), // exact with train 1; same prompt as train 3
    text(FORTY.replace("Tuesday", "Thursday")), // near train 4
    qa("  name THREE primary colours", "Cyan, magenta and yellow."), // same prompt as train 2
    qa("Completely new evaluation question about volcanoes", "Magma rises."),
  ];
  const lines = (rows: NormalizedRow[], from = 1) => rows.map((row, i) => ({ line: i + from, row }));

  it("finds exact, same-prompt and near pairs", () => {
    const res = findOverlap(lines(train), lines(evalRows, 101));
    assert.deepEqual(res.exact, [{ aLine: 1, bLine: 101 }]);
    assert.deepEqual(
      res.samePrompt.sort((x, y) => x.aLine - y.aLine),
      [
        { aLine: 2, bLine: 103 },
        { aLine: 3, bLine: 101 },
      ],
    );
    assert.equal(res.near.length, 1);
    assert.equal(res.near[0].aLine, 4);
    assert.equal(res.near[0].bLine, 102);
    assert.ok(res.near[0].similarity >= 0.85);
    // Eval rows, not pairs: 101 (exact with 1, same prompt as 3), 102 (near 4), 103 (same prompt as 2).
    assert.deepEqual(res.overlappingB, { exact: 1, samePrompt: 2, near: 1, any: 3 });
  });

  it("counts each overlapping eval row once, however many training rows it pairs with", () => {
    const copies = Array.from({ length: 30 }, () => qa("What is the capital of France?", "Paris."));
    const res = findOverlap(lines(copies), lines(evalRows, 101));
    assert.equal(res.exact.length, 30, "30 pairs");
    assert.deepEqual(res.overlappingB, { exact: 1, samePrompt: 0, near: 0, any: 1 });
  });

  it("disjoint sets have no overlap", () => {
    const res = findOverlap(lines(train.slice(1, 2)), lines(evalRows.slice(3)));
    assert.deepEqual(res, {
      exact: [],
      near: [],
      samePrompt: [],
      overlappingB: { exact: 0, samePrompt: 0, near: 0, any: 0 },
    });
  });

  it("25k x 5k rows in about a second", () => {
    const a: Array<{ line: number; row: NormalizedRow }> = [];
    const b: Array<{ line: number; row: NormalizedRow }> = [];
    const para = (i: number) =>
      `Record ${i}: the quick brown fox ${i % 97} jumps over the lazy dog ${i % 89} while the ${i % 83} cats watch from the warm kitchen window sill ${i}`;
    for (let i = 0; i < 25000; i++) a.push({ line: i + 1, row: qa(`Question ${i} about topic ${i % 1000}?`, para(i)) });
    for (let i = 0; i < 5000; i++)
      b.push({ line: i + 1, row: qa(`Question ${i + 100000} about topic ${i % 1000}?`, para(i + 100000)) });
    b[0] = { line: 1, row: a[123].row };
    const t0 = process.cpuUsage();
    const res = findOverlap(a, b);
    const ms = cpuMsSince(t0);
    assert.deepEqual(res.exact, [{ aLine: 124, bLine: 1 }]);
    assert.ok(ms < 6000, `took ${ms} ms`);
  });
});

describe("promptKey / groupNearPrompts", () => {
  it("promptKey ignores case, whitespace, punctuation and answers", () => {
    assert.equal(promptKey(qa("What is AI?", "x")), promptKey(qa("  what is ai ", "y")));
    assert.notEqual(promptKey(qa("What is AI?", "x")), promptKey(qa("What is ML?", "x")));
    assert.match(promptKey(qa("a", "b")), /^[0-9a-f]{16}$/);
  });

  it("the fused scanner sees exactly normalizeText's words (promptKey(s) == promptKey(normalizeText(s)))", () => {
    const samples = [
      "Hello, World!",
      "ﬁne ＦＵＬＬ-width ｔｅｘｔ",
      "Café crème brûlée — déjà vu",
      "e\u0301cole vs école",
      "中文，日本語、한국어。",
      "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐 and 😀 emoji 👍🏽",
      "Ελληνικά ΚΕΦΑΛΑΙΑ",
      "tabs\tand\nnewlines\r\nand  spaces",
      "x_y-z.w/v\\u",
      "İstanbul ǅemal",
      "\u200bzero\u200dwidth",
      "It’s “quoted” — dash • bullet ← → © 😀 (inert separators)",
      "ellipsis… trademark™ half½ circled① superscript² ﬀ ㎏ Ⅻ",
      "lone \ud800 surrogate \udc00 here",
    ];
    for (const s of samples) {
      assert.equal(promptKey(text(s)), promptKey(text(normalizeText(s))), s);
    }
  });

  it("groups equal and near-duplicate prompts, transitively", () => {
    const w = FORTY.split(" ");
    const v1 = w.slice();
    v1[5] = "Wednesday";
    const v2 = v1.slice();
    v2[30] = "boldly";
    const rows = [
      qa("What is AI?", "a"), // 0
      qa("Explain photosynthesis briefly.", "b"), // 1
      qa("what is ai", "c"), // 2: same as 0
      qa(FORTY, "d"), // 3
      qa(v1.join(" "), "e"), // 4: near 3
      qa(v2.join(" "), "f"), // 5: near 4 (and 3)
      qa("Something else entirely different here.", "g"), // 6
    ].map((row, index) => ({ index, row }));
    assert.deepEqual(groupNearPrompts(rows, 0.85), [0, 1, 0, 2, 2, 2, 3]);
  });

  it("rowSignature of identical dedupe texts is identical", () => {
    assert.deepEqual(rowSignature(qa("Hi there", "Yo")), rowSignature(qa("hi THERE!", "yo", "a system prompt")));
  });
});
