import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_JUDGE_RUBRIC,
  extractLabel,
  extractNumber,
  type Grade,
  type GraderSpec,
  type JudgeClient,
  type JudgeRequest,
  majorityLabelBaseline,
  makeGrader,
  normalizeText,
  parseGraderSpec,
  parseJudgeReply,
  stripJsonFence,
  validateJsonSchema,
} from "../../src/core/evals/graders.ts";
import { GradePool } from "../../src/core/evals/grade-pool.ts";
import { GRADER_KINDS, GRADERS } from "../../src/core/evals/graders.ts";
import { helpCard, registry } from "../../commands/index.ts";
import { renderCard } from "../../src/adapters/console/render.ts";

async function grade(spec: GraderSpec | string, output: string, expected = "", row?: unknown): Promise<Grade> {
  const s = typeof spec === "string" ? parseGraderSpec(spec) : spec;
  return makeGrader(s)({ output, expected, row });
}

async function passes(spec: GraderSpec | string, output: string, expected = ""): Promise<void> {
  const g = await grade(spec, output, expected);
  assert.equal(g.pass, true, `expected pass: ${JSON.stringify({ spec, output, expected, g })}`);
  assert.equal(g.score, 1);
}

async function fails(spec: GraderSpec | string, output: string, expected = "", detail?: RegExp): Promise<Grade> {
  const g = await grade(spec, output, expected);
  assert.equal(g.pass, false, `expected fail: ${JSON.stringify({ spec, output, expected, g })}`);
  assert.equal(g.score, 0);
  if (detail) assert.match(g.detail ?? "", detail);
  return g;
}

function invalidGrader(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.equal((err as { code?: string }).code, "invalid_grader");
    if (message) assert.match((err as Error).message, message);
    return true;
  });
}

describe("exact", () => {
  it("ignores trailing whitespace only", async () => {
    await passes("exact", "Paris", "Paris");
    await passes("exact", "Paris\n", "Paris");
    await passes("exact", "Paris  \r\n", "Paris\n");
    await fails("exact", " Paris", "Paris", /expected "Paris"/);
    await fails("exact", "paris", "Paris");
    await fails("exact", "Paris.", "Paris");
  });
});

describe("normalized", () => {
  it("case, whitespace, NFKC, surrounding quotes and punctuation", async () => {
    await passes("normalized", "  **Paris**.\n", "paris");
    await passes("normalized", '"New   York"', "new york");
    await passes("normalized", "“Ｈｅｌｌｏ”!", "hello"); // fullwidth letters fold under NFKC
    await passes("normalized", "The Answer", "the answer"); // articles are kept, on both sides
    await passes("normalized", "(B)", "b");
    await passes("normalized", "caf\u00e9", "cafe\u0301"); // NFC vs NFD
  });

  it("keeps signs and inner punctuation", async () => {
    await fails("normalized", "-5", "5");
    await fails("normalized", "Paris, France", "Paris France");
    await fails("normalized", "a dog", "dog");
    assert.equal(normalizeText("  ¡Hola!  "), "¡hola");
    assert.equal(normalizeText("x\u200By"), "xy");
  });
});

describe("contains", () => {
  it("normalized substring", async () => {
    await passes("contains", "The capital of France is PARIS.", "Paris");
    await passes("contains", "I think it's   new york city", "New York");
    await fails("contains", "The capital is Lyon", "Paris", /does not contain "paris"/);
    await fails("contains", "anything", "", /expected is empty/);
  });
});

describe("regex", () => {
  it("matches the trimmed output", async () => {
    await passes("regex:^A\\d+$", "A123\n");
    await fails("regex:^A\\d+$", "A12b", "", /no match/);
    await passes("regex:/^yes$/i", "YES");
    await fails("regex:^yes$", "YES");
    await passes({ kind: "regex", pattern: "colou?r", flags: "gi" }, "COLOR"); // g dropped: no state between rows
    const g = makeGrader({ kind: "regex", pattern: "a", flags: "g" });
    assert.equal((await g({ output: "a", expected: "" })).pass, true);
    assert.equal((await g({ output: "a", expected: "" })).pass, true);
  });

  it("an invalid pattern is an error when the grader is made", () => {
    invalidGrader(() => parseGraderSpec("regex:(unclosed"), /invalid regex/);
    invalidGrader(() => makeGrader({ kind: "regex", pattern: "[a-" }), /invalid regex/);
    invalidGrader(() => makeGrader({ kind: "regex", pattern: "a", flags: "q" }), /flags/);
    invalidGrader(() => parseGraderSpec("regex:"), /needs a pattern/);
  });

  it("a slash form only when the tail is real flags", () => {
    assert.deepEqual(parseGraderSpec("regex:/usr/bin"), { kind: "regex", pattern: "/usr/bin" });
    assert.deepEqual(parseGraderSpec("regex:/a:b/m"), { kind: "regex", pattern: "a:b", flags: "m" });
    assert.deepEqual(parseGraderSpec("regex:a:b"), { kind: "regex", pattern: "a:b" });
  });
});

describe("label", () => {
  const yn = "label:yes,no,maybe";

  it("takes the first label in the output, case-insensitive and word-bounded", async () => {
    await passes(yn, "Yes.", "yes");
    await passes(yn, "I would say YES, definitely", "yes");
    await passes(yn, "No, because maybe later", "no");
    await fails(yn, "Maybe yes", "yes", /predicted "maybe", expected "yes"/);
    await fails(yn, "Yesterday I said nothing", "yes", /^no label$/);
    await fails(yn, "", "yes", /^no label$/);
  });

  it("the expected label is compared case-insensitively", async () => {
    await passes("label:Positive,Negative", "negative", "Negative");
    await passes("label:positive,negative", "NEGATIVE sentiment", "Negative");
  });

  it("multi-word labels and overlaps: the longer one wins at the same place", () => {
    assert.equal(extractLabel("Not sure, honestly", ["sure", "not sure"]), "not sure");
    assert.equal(extractLabel("I am sure, not sure", ["sure", "not sure"]), "sure");
    assert.equal(extractLabel("not   sure", ["not sure", "sure"]), "not sure");
  });

  it("single-letter choices are not confused with the article 'a'", () => {
    const abcd = ["A", "B", "C", "D"];
    assert.equal(extractLabel("a dog would choose C", abcd), "C");
    assert.equal(extractLabel("(b)", abcd), "B");
    assert.equal(extractLabel("I pick (d) because", abcd), "D");
    assert.equal(extractLabel("The answer is b", abcd), "B");
    assert.equal(extractLabel("A good case can be made, but the answer is C.", abcd), "C");
    assert.equal(extractLabel("Answer: c", abcd), "C");
    assert.equal(extractLabel("d.", abcd), "D");
    assert.equal(extractLabel("it is a matter of taste", abcd), null);
  });

  it("majority baseline", () => {
    assert.deepEqual(majorityLabelBaseline(["yes", "no", "Yes", "yes", "maybe"]), { label: "yes", accuracy: 0.6 });
    assert.deepEqual(majorityLabelBaseline(["b", "a", "a", "b"]), { label: "a", accuracy: 0.5 }); // tie: sorts first
    assert.deepEqual(majorityLabelBaseline([]), { label: "", accuracy: 0 });
  });

  it("label lists are parsed and validated", () => {
    assert.deepEqual(parseGraderSpec("label: yes , no,,yes"), { kind: "label", labels: ["yes", "no"] });
    invalidGrader(() => parseGraderSpec("label:"), /needs the labels/);
    invalidGrader(() => makeGrader({ kind: "label", labels: [] }));
  });
});

describe("json-valid", () => {
  it("parses, tolerating one fence around the whole output", async () => {
    await passes("json", '{"a": 1}');
    await passes("json", '```json\n{"a": [1, 2]}\n```');
    await passes("json-valid", "```\n[1, 2]\n```\n");
    await passes("json", "  42 ");
    await fails("json", "{'a': 1}", "", /not valid JSON/);
    await fails("json", 'Here you go: {"a": 1}', "", /not valid JSON/);
    await fails("json", "", "", /empty output/);
    assert.equal(stripJsonFence('\uFEFF```JSON\n{"x":1}\n```'), '{"x":1}');
  });
});

describe("json-schema (ajv)", () => {
  const schema = {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 10 },
      age: { type: "integer", minimum: 0, maximum: 150 },
      tags: { type: "array", items: { type: "string", enum: ["a", "b"] }, maxItems: 3 },
      kind: { const: "person" },
      address: {
        type: "object",
        properties: { city: { type: "string" }, zip: { type: ["string", "null"] } },
        required: ["city"],
        additionalProperties: false,
      },
    },
    required: ["name", "age"],
    additionalProperties: false,
  };
  const spec: GraderSpec = { kind: "json-schema", schema };

  it("valid documents pass", async () => {
    await passes(spec, '{"name": "Ada", "age": 36}');
    await passes(
      spec,
      '```json\n{"name": "Ada", "age": 36, "tags": ["a"], "kind": "person", "address": {"city": "London", "zip": null}}\n```',
    );
  });

  it("reports the first violation with its path", async () => {
    await fails(spec, '{"name": "Ada"}', "", /^\$\.age: required property is missing$/);
    await fails(spec, '{"name": "Ada", "age": "36"}', "", /^\$\.age: expected integer, got string$/);
    await fails(spec, '{"name": "Ada", "age": 36.5}', "", /^\$\.age: expected integer, got non-integer number$/);
    await fails(spec, '{"name": "Ada", "age": -1}', "", /^\$\.age: must be >= 0$/);
    await fails(spec, '{"name": "Ada", "age": 200}', "", /^\$\.age: must be <= 150$/);
    await fails(spec, '{"name": "", "age": 3}', "", /^\$\.name: must NOT have fewer than 1 characters/);
    await fails(spec, '{"name": "Abcdefghijk", "age": 3}', "", /^\$\.name: must NOT have more than 10 characters/);
    await fails(
      spec,
      '{"name": "Ada", "age": 3, "tags": ["a", "c"]}',
      "",
      /^\$\.tags\[1\]: must be one of \["a","b"\], got "c"/,
    );
    await fails(
      spec,
      '{"name": "Ada", "age": 3, "tags": ["a", "a", "a", "b"]}',
      "",
      /^\$\.tags: must NOT have more than 3 items/,
    );
    await fails(spec, '{"name": "Ada", "age": 3, "kind": "cat"}', "", /^\$\.kind: must be "person"/);
    await fails(spec, '{"name": "Ada", "age": 3, "extra": 1}', "", /^\$\.extra: additional property is not allowed$/);
    await fails(
      spec,
      '{"name": "Ada", "age": 3, "address": {"zip": "1"}}',
      "",
      /^\$\.address\.city: required property is missing$/,
    );
    await fails(
      spec,
      '{"name": "Ada", "age": 3, "address": {"city": "X", "zip": 1}}',
      "",
      /^\$\.address\.zip: expected string or null, got number$/,
    );
    await fails(spec, "[1]", "", /^\$: expected object, got array$/);
    await fails(spec, "{nope", "", /not valid JSON/);
  });

  it("anyOf / oneOf / allOf / not, tuples, $ref inside the schema, odd keys", () => {
    const anyOf = { anyOf: [{ type: "string" }, { type: "number", minimum: 10 }] };
    assert.equal(validateJsonSchema("x", anyOf), null);
    assert.equal(validateJsonSchema(12, anyOf), null);
    assert.match(
      validateJsonSchema(5, anyOf) ?? "",
      /^\$: must match a schema in anyOf \(first: \$: expected string, got number\)$/,
    );
    const oneOf = { oneOf: [{ type: "integer" }, { type: "number" }] };
    assert.match(validateJsonSchema(1, oneOf) ?? "", /^\$: must match exactly one schema in oneOf/);
    assert.equal(validateJsonSchema(1.5, oneOf), null);
    const allOf = { allOf: [{ type: "number" }, { maximum: 3 }] };
    assert.match(validateJsonSchema(4, allOf) ?? "", /must be <= 3/);
    assert.match(validateJsonSchema("a", { not: { type: "string" } }) ?? "", /must NOT be valid/);
    assert.match(
      validateJsonSchema([1, "x"], { items: [{ type: "number" }, { type: "number" }] }) ?? "",
      /^\$\[1\]: expected number/,
    );
    assert.match(
      validateJsonSchema({ "a b": 1 }, { properties: { "a b": { type: "string" } } }) ?? "",
      /^\$\["a b"\]: expected string/,
    );
    assert.match(validateJsonSchema([1, 2, 1], { uniqueItems: true }) ?? "", /^\$: must NOT have duplicate items/);
    assert.match(
      validateJsonSchema({ a: "x" }, { additionalProperties: { type: "number" } }) ?? "",
      /^\$\.a: expected number/,
    );
    assert.match(validateJsonSchema(7, { multipleOf: 2 }) ?? "", /must be multiple of 2/);
    assert.match(validateJsonSchema(0, { exclusiveMinimum: 0 }) ?? "", /must be > 0/);
    assert.equal(validateJsonSchema("😀😀", { maxLength: 2 }), null); // code points, not UTF-16 units
    // What the hand-written subset refused, ajv does: a $ref inside the schema, if/then.
    const withRef = { definitions: { id: { type: "integer" } }, properties: { id: { $ref: "#/definitions/id" } } };
    assert.match(validateJsonSchema({ id: "x" }, withRef) ?? "", /^\$\.id: expected integer, got string$/);
    // (parsed, as users type it: the linter reads an object literal with a "then" key as a thenable)
    const ifThen = JSON.parse('{"if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}}');
    assert.match(validateJsonSchema({ a: 1 }, ifThen) ?? "", /^\$\.b: required property is missing/);
    assert.equal(validateJsonSchema({ a: 2 }, ifThen), null);
  });

  it("from the command line; bad schemas are refused up front with ajv's reason", () => {
    assert.deepEqual(parseGraderSpec('json-schema:{"type":"object","required":["a"]}'), {
      kind: "json-schema",
      schema: { type: "object", required: ["a"] },
    });
    invalidGrader(() => parseGraderSpec("json-schema:{type: object}"), /not valid JSON/);
    invalidGrader(() => parseGraderSpec("json-schema:[1]"), /must be a JSON object/);
    invalidGrader(
      () => parseGraderSpec('json-schema:{"type":"strnig"}'),
      /invalid schema: schema is invalid: data\/type/,
    );
    invalidGrader(() => parseGraderSpec('json-schema:{"typ":"string"}'), /invalid schema: unknown keyword: "typ"/);
    invalidGrader(
      () => parseGraderSpec('json-schema:{"properties":{"a":{"pattern":"("}}}'),
      /invalid schema: Invalid regular expression/,
    );
    invalidGrader(
      () => makeGrader({ kind: "json-schema", schema: { $ref: "#/$defs/x" } }),
      /can't resolve reference #\/\$defs\/x/,
    );
  });

  it("a recursive schema cannot be driven into a stack overflow: deep answers fail, endless $ref loops are refused", async () => {
    // an answer nested 100,000 levels deep against {"items": {"$ref": "#"}} overflowed ajv's stack (an internal error)
    const nested = "json-schema:" + JSON.stringify({ items: { $ref: "#" } });
    await fails(nested, `${"[".repeat(100_000)}${"]".repeat(100_000)}`, "", /nested more than 64 levels deep/);
    await passes(nested, "[[[]]]");
    // a schema that refers to itself without reading the answer loops for any answer: refused when it is made
    const loop = {
      definitions: { a: { anyOf: [{ $ref: "#/definitions/a" }, { type: "string" }] } },
      $ref: "#/definitions/a",
    };
    invalidGrader(() => parseGraderSpec(`json-schema:${JSON.stringify(loop)}`), /refers to itself without end/);
  });

  it("a schema's patterns never run on the bot's thread: they are graded on the pool, with its deadline", async () => {
    const withPattern: GraderSpec = { kind: "json-schema", schema: { properties: { name: { pattern: "^[A-Z]" } } } };
    // Made without a pool, on this thread, the pattern is compiled (checked) but refuses to run.
    const here = makeGrader(withPattern);
    await assert.rejects(here({ output: '{"name": "ada"}', expected: "" }), /must run on the grade pool/);
    const pool = new GradePool({ timeoutMs: 5_000 });
    try {
      const g = makeGrader(withPattern, { patterns: pool });
      assert.deepEqual(await g({ output: '{"name": "Ada"}', expected: "" }), { score: 1, pass: true });
      const bad = await g({ output: '{"name": "ada"}', expected: "" });
      assert.equal(bad.pass, false);
      assert.equal(bad.detail, '$.name: "ada" does not match the pattern ^[A-Z]');
    } finally {
      await pool.close();
    }
  });
});

describe("numeric", () => {
  it("absolute tolerance", async () => {
    await passes("numeric:0.01", "The answer is 3.14159", "3.14");
    await fails("numeric:0.001", "3.14159", "3.14", /got 3.14159, expected 3.14/);
    await passes("numeric:0.1", "1.1", "1.0"); // binary rounding does not make 0.1 exceed 0.1
    await passes("numeric", "42", "42.0");
    await fails("numeric", "42.5", "42");
  });

  it("relative tolerance from a percentage", async () => {
    assert.deepEqual(parseGraderSpec("numeric:5%"), { kind: "numeric", tolerance: 0.05, relative: true });
    await passes("numeric:5%", "about 104", "100");
    await fails("numeric:5%", "106", "100", /> 5%/);
    await passes("numeric:5%", "-1,020", "-1000");
    await fails("numeric:5%", "0.001", "0"); // relative to 0 means exactly 0
  });

  it("extracts negatives, decimals, thousands separators, percentages", () => {
    assert.equal(extractNumber("It is -12.5 degrees")?.value, -12.5);
    assert.equal(extractNumber("−7")?.value, -7); // U+2212 minus
    assert.equal(extractNumber("$1,234,567.89 total")?.value, 1234567.89);
    assert.equal(extractNumber("1,2,3")?.value, 1);
    assert.equal(extractNumber(".5 of it")?.value, 0.5);
    assert.equal(extractNumber("about 1e-3")?.value, 0.001);
    assert.deepEqual(extractNumber("grew 45 %"), { value: 45, raw: "45 %", percent: true });
    assert.equal(extractNumber("COVID-19 cases")?.value, 19); // a hyphen after a letter is not a minus
    assert.equal(extractNumber("no digits here"), null);
  });

  it("prefers the number after an answer marker", () => {
    assert.equal(extractNumber("Step 1: 5 * 3 = 15. Step 2: 15 + 2 = 17.\n#### 17")?.value, 17);
    assert.equal(extractNumber("We have 3 apples and 4 pears, so the answer is 7.")?.value, 7);
    assert.equal(extractNumber("Final answer: -2")?.value, -2);
  });

  it("missing numbers and bad tolerances", async () => {
    await fails("numeric:1", "no idea", "4", /no number in output/);
    await fails("numeric:1", "4", "four", /is not a number/);
    invalidGrader(() => parseGraderSpec("numeric:abc"), /tolerance/);
    invalidGrader(() => parseGraderSpec("numeric:-1"), /tolerance/);
    invalidGrader(() => makeGrader({ kind: "numeric", tolerance: Number.NaN }), /tolerance/);
  });
});

describe("judge", () => {
  function fakeJudge(reply: string, seen: JudgeRequest[] = []): JudgeClient {
    return async (req) => {
      seen.push(req);
      return { text: reply, usage: { inputTokens: 120, outputTokens: 15 } };
    };
  }
  const spec: GraderSpec = { kind: "judge", model: "openai:gpt-4.1-mini", rubric: "Is it correct?" };
  const row = {
    messages: [
      { role: "system", content: "sys" },
      { role: "user", content: "What is 2+2?" },
      { role: "assistant", content: "4" },
    ],
  };

  it("builds a rubric prompt and parses a JSON reply", async () => {
    const seen: JudgeRequest[] = [];
    const g = await makeGrader(spec, { judge: fakeJudge('{"score": 8, "reason": "Mostly right."}', seen) })({
      output: "four",
      expected: "4",
      row,
    });
    assert.deepEqual(g, {
      score: 0.8,
      pass: true,
      detail: "Mostly right.",
      usage: { inputTokens: 120, outputTokens: 15 },
    });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].model, "openai:gpt-4.1-mini");
    assert.equal(seen[0].temperature, 0);
    assert.equal(seen[0].messages[0].role, "system");
    assert.match(seen[0].messages[0].content, /strict/);
    assert.match(seen[0].messages[0].content, /"score"/);
    const user = seen[0].messages[1].content;
    assert.match(user, /Is it correct\?/);
    assert.match(user, /<input>\nWhat is 2\+2\?\n<\/input>/);
    assert.match(user, /<reference_answer>\n4\n<\/reference_answer>/);
    assert.match(user, /<response>\nfour\n<\/response>/);
  });

  it('reads "Score: 8/10", fenced JSON, 0-1 scores, and applies the threshold', async () => {
    const run = async (reply: string, passThreshold?: number) =>
      makeGrader({ ...spec, passThreshold }, { judge: fakeJudge(reply) })({ output: "x", expected: "y" });
    assert.equal((await run("The response is good.\nScore: 8/10")).score, 0.8);
    assert.equal((await run('```json\n{"score": 3, "reason": "weak"}\n```')).pass, false);
    assert.equal((await run('{"score": 0.75, "reason": "ok"}')).score, 0.75);
    assert.equal((await run('{"score": "9/10"}')).score, 0.9);
    assert.equal((await run("Score: **4** out of 5")).score, 0.8);
    assert.equal((await run("I'd give it 6/10.")).score, 0.6);
    assert.equal((await run("Score: 7", 0.8)).pass, false);
    assert.equal((await run("Score: 8", 0.8)).pass, true);
    assert.equal((await run('Thinking {"draft": true} ... {"score": 10, "reason": "perfect"}')).score, 1);
  });

  it("garbage is score 0 with a detail, not a crash, and the usage is still booked", async () => {
    const g = await makeGrader(spec, { judge: fakeJudge("I cannot grade this.") })({ output: "x", expected: "y" });
    assert.equal(g.score, 0);
    assert.equal(g.pass, false);
    assert.match(g.detail ?? "", /unparseable judge reply/);
    assert.deepEqual(g.usage, { inputTokens: 120, outputTokens: 15 });
    assert.equal(parseJudgeReply('{"score": 42000}'), null);
    assert.equal(parseJudgeReply(""), null);
  });

  it("client errors propagate; a judge without a client is refused", async () => {
    const broken: JudgeClient = async () => {
      throw new Error("503");
    };
    await assert.rejects(makeGrader(spec, { judge: broken })({ output: "x", expected: "y" }), /503/);
    invalidGrader(() => makeGrader(spec), /needs a judge client/);
  });

  it("from the command line", () => {
    assert.deepEqual(parseGraderSpec("judge:openai:gpt-4.1-mini"), {
      kind: "judge",
      model: "openai:gpt-4.1-mini",
      rubric: DEFAULT_JUDGE_RUBRIC,
    });
    assert.deepEqual(parseGraderSpec("judge:together:meta/llama", { rubric: "R", passThreshold: 0.7 }), {
      kind: "judge",
      model: "together:meta/llama",
      rubric: "R",
      passThreshold: 0.7,
    });
    invalidGrader(() => parseGraderSpec("judge:"), /needs the judge model/);
    invalidGrader(() => parseGraderSpec("judge:m", { passThreshold: 2 }), /passThreshold/);
  });
});

describe("parseGraderSpec", () => {
  it("simple kinds", () => {
    assert.deepEqual(parseGraderSpec("exact"), { kind: "exact" });
    assert.deepEqual(parseGraderSpec(" Normalized "), { kind: "normalized" });
    assert.deepEqual(parseGraderSpec("contains"), { kind: "contains" });
    assert.deepEqual(parseGraderSpec("json"), { kind: "json-valid" });
    assert.deepEqual(parseGraderSpec("json-valid"), { kind: "json-valid" });
    assert.deepEqual(parseGraderSpec("numeric"), { kind: "numeric", tolerance: 0 });
    assert.deepEqual(parseGraderSpec("numeric:0.01"), { kind: "numeric", tolerance: 0.01 });
  });

  it("unknown kinds list the valid ones", () => {
    invalidGrader(
      () => parseGraderSpec("fuzzy"),
      /unknown grader "fuzzy".*exact.*normalized.*contains.*regex.*label.*json.*numeric.*judge/,
    );
    invalidGrader(() => parseGraderSpec(""), /unknown grader/);
    invalidGrader(() => parseGraderSpec("exact:foo"), /takes no argument/);
    invalidGrader(() => makeGrader({ kind: "bogus" } as unknown as GraderSpec), /unknown grader "bogus"/);
  });
});

describe("the grader registry", () => {
  it("every grader's example parses to its kind and makes a grader; checks refuse a spec of another shape", () => {
    const judge: JudgeClient = async () => ({ text: '{"score": 10}', usage: { inputTokens: 1, outputTokens: 1 } });
    for (const kind of GRADER_KINDS) {
      const spec = parseGraderSpec(GRADERS[kind].example);
      assert.equal(spec.kind, kind, GRADERS[kind].example);
      assert.equal(typeof makeGrader(spec, { judge }), "function");
      assert.ok(GRADERS[kind].help.length > 10, `${kind} has a help line`);
    }
    invalidGrader(() => parseGraderSpec("nope"), /unknown grader "nope"\. Valid graders: exact, normalized/);
    invalidGrader(() => makeGrader({ kind: "numeric", tolerance: -1 }), /tolerance must be a finite number/);
  });

  it("help and option descriptions are generated from it", () => {
    const help = renderCard(helpCard("graders"));
    for (const kind of GRADER_KINDS) {
      assert.ok(help.includes(GRADERS[kind].form), `${kind} in /tune help graders`);
      assert.ok(help.includes(GRADERS[kind].help), `${kind}'s help line`);
    }
    // The --metric of experiment new and --graders of eval list every grader (Slack, Discord and the console render these).
    for (const [path, field] of [
      ["experiment new", "metric"],
      ["eval", "graders"],
    ]) {
      const def = registry.find((d) => d.path.join(" ") === path);
      assert.ok(def, path);
      const described = (def.options.shape as Record<string, { description?: string }>)[field]?.description ?? "";
      for (const kind of GRADER_KINDS)
        assert.ok(described.includes(GRADERS[kind].example), `${kind} in ${path} --${field}`);
    }
  });
});
