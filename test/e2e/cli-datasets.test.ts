/**
 * End to end through the CLI (real SQLite, real blobs) on the real datasets in ../shared. The first upload runs the
 * real bin as a child process; the rest run the same code in this process (runCliInProcess), which skips only the
 * ~0.3 s start of a process per call.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import { runCliInProcess, runCliJson, runCliJsonInProcess, sharedDataset, testEnv, tmpDir } from "../helpers.ts";

interface UploadJson {
  stored: boolean;
  existing: boolean;
  dataset: { name: string; version: number | null; ref: string | null; sha256: string; format: string; rows: number };
  errors: Array<{ line: number; field: string | null; kind: string; message: string }>;
  errorCounts: Record<string, number>;
  warnings: Array<{ kind: string; message: string }>;
  tokens: { total: number; min: number; median: number; p95: number; max: number };
  duplicates: { exact: number; near: number };
  pii: Array<{ line: number; kind: string }>;
  estimates: Array<{ provider: string; model: string; epochs: number; billedTokens: number; usd: number }>;
}

describe("CLI: datasets on the real shared files", () => {
  const data = tmpDir();
  const env = testEnv(data);

  test("uploads the OpenAI cookbook toy chat file with stats and estimates", async () => {
    const r = await runCliJson<UploadJson>(
      ["dataset", "upload", sharedDataset("openai-cookbook/toy_chat_fine_tuning.jsonl"), "--name", "toy"],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const j = r.json;
    assert.equal(j.stored, true);
    assert.equal(j.dataset.ref, "toy@v1");
    assert.equal(j.dataset.format, "openai-chat");
    assert.equal(j.dataset.rows, 5);
    assert.match(j.dataset.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(j.errors, []);
    assert.ok(
      j.tokens.total > 0 &&
        j.tokens.min <= j.tokens.median &&
        j.tokens.median <= j.tokens.p95 &&
        j.tokens.p95 <= j.tokens.max,
    );
    const local = j.estimates.find((e) => e.provider === "local");
    assert.ok(local, "local trainer is priced");
    assert.equal(local.usd, 0);
    // 5 rows: the cookbook rule raises epochs to min(25, floor(100 / 5)) = 20.
    assert.ok(
      j.estimates.every((e) => e.epochs === 20),
      JSON.stringify(j.estimates),
    );
    const paid = j.estimates.find((e) => e.provider === "openai" && e.model === "gpt-4.1-mini");
    assert.ok(paid && paid.usd > 0 && paid.billedTokens === 20 * j.tokens.total);
  });

  test("the same file again is recognised, not stored twice", async () => {
    const r = await runCliJsonInProcess<UploadJson>(
      ["dataset", "upload", sharedDataset("openai-cookbook/toy_chat_fine_tuning.jsonl"), "--name", "toy"],
      env,
    );
    assert.equal(r.code, 0);
    assert.equal(r.json.stored, false);
    assert.equal(r.json.existing, true);
    assert.equal(r.json.dataset.ref, "toy@v1");
  });

  test("Alpaca JSON array with exact duplicates", async () => {
    const r = await runCliJsonInProcess<UploadJson>(
      ["dataset", "upload", sharedDataset("llama-factory/alpaca_en_demo.json")],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.dataset.ref, "alpaca_en_demo@v1");
    assert.equal(r.json.dataset.format, "alpaca");
    assert.equal(r.json.dataset.rows, 999);
    assert.ok(r.json.duplicates.exact > 0);
    assert.ok(r.json.warnings.some((w) => w.kind === "exact_duplicates" && /line \d+ = line \d+/.test(w.message)));
  });

  test("ShareGPT with tool turns, CoQA chat, text rows and Alpaca placeholders", async () => {
    const cases: Array<[string, string, number]> = [
      ["llama-factory/glaive_toolcall_en_demo.json", "sharegpt", 300],
      ["together-cookbook/small_coqa_10.jsonl", "openai-chat", 10],
      ["mlx-examples-lora/train.jsonl", "text", 1000],
      ["llama-factory/identity.json", "alpaca", 91],
    ];
    for (const [file, format, rows] of cases) {
      const r = await runCliJsonInProcess<UploadJson>(["dataset", "upload", sharedDataset(file)], env);
      assert.equal(r.code, 0, `${file}: ${r.stdout.slice(0, 500)}`);
      assert.equal(r.json.dataset.format, format, file);
      assert.equal(r.json.dataset.rows, rows, file);
    }
  });

  test("list and show", async () => {
    const list = await runCliJsonInProcess<
      Array<{ name: string; version: number; rows: number; sha256: string; createdAt: string }>
    >(["dataset", "list"], env);
    assert.equal(list.code, 0);
    const names = list.json.map((d) => d.name);
    for (const n of ["toy", "alpaca_en_demo", "glaive_toolcall_en_demo", "small_coqa_10", "train", "identity"])
      assert.ok(names.includes(n), n);
    assert.ok(list.json.every((d) => !Number.isNaN(Date.parse(d.createdAt))));
    const show = await runCliInProcess(["dataset", "show", "toy@v1"], env);
    assert.equal(show.code, 0);
    assert.match(show.stdout, /toy@v1/);
    assert.match(show.stdout, /Tokens per row/);
    assert.match(show.stdout, /gpt-4\.1-mini/);
  });

  test("a second upload under the same name is v2, and diff reports what changed", async () => {
    const dir = tmpDir("edit");
    const lines = fs
      .readFileSync(sharedDataset("openai-cookbook/toy_chat_fine_tuning.jsonl"), "utf8")
      .trim()
      .split("\n");
    const rows = lines.map((l) => JSON.parse(l));
    // change the answer of row 1, drop row 5, add a new row
    rows[0].messages[rows[0].messages.length - 1].content = "Exercise outdoors is the best kind!";
    rows.pop();
    rows.push({
      messages: [
        { role: "user", content: "My cat ignored me." },
        { role: "assistant", content: "Cats show love in subtle ways!" },
      ],
    });
    const file = path.join(dir, "toy.jsonl");
    fs.writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const up = await runCliJsonInProcess<UploadJson>(["dataset", "upload", file, "--name", "toy"], env);
    assert.equal(up.json.dataset.ref, "toy@v2");
    const d = await runCliJsonInProcess<{
      added: number[];
      removed: number[];
      changed: Array<{ aLine: number; bLine: number }>;
      unchanged: number;
    }>(["dataset", "diff", "toy@v1", "toy@v2"], env);
    assert.equal(d.code, 0);
    assert.deepEqual(d.json.added, [5]);
    assert.deepEqual(d.json.removed, [5]);
    assert.deepEqual(d.json.changed, [{ aLine: 1, bLine: 1 }]);
    assert.equal(d.json.unchanged, 3);
  });

  test("split is deterministic and leaves no overlap; check-overlap names rows", async () => {
    const s1 = await runCliJsonInProcess<{
      train: { ref: string; rows: number; sha256: string };
      eval: { ref: string; rows: number; sha256: string };
      overlap: Record<string, number>;
    }>(["dataset", "split", "alpaca_en_demo", "--eval", "20%", "--seed", "7"], env);
    assert.equal(s1.code, 0, s1.stdout);
    assert.equal(s1.json.train.rows + s1.json.eval.rows, 999);
    assert.ok(Math.abs(s1.json.eval.rows - 200) <= 10, `eval rows ${s1.json.eval.rows}`);
    assert.equal(s1.json.overlap.exact, 0);
    assert.equal(s1.json.overlap.samePrompt, 0);
    const s2 = await runCliJsonInProcess<typeof s1.json>(
      ["dataset", "split", "alpaca_en_demo", "--eval", "20%", "--seed", "7"],
      env,
    );
    assert.equal(s2.json.train.sha256, s1.json.train.sha256, "same seed, same split");
    assert.equal(s2.json.eval.ref, s1.json.eval.ref, "identical content is not stored again");
    const s3 = await runCliJsonInProcess<typeof s1.json>(
      ["dataset", "split", "alpaca_en_demo", "--eval", "20%", "--seed", "8"],
      env,
    );
    assert.notEqual(s3.json.eval.sha256, s1.json.eval.sha256, "another seed, another split");

    const o = await runCliJsonInProcess<{
      exact: Array<{ aLine: number; bLine: number }>;
      near: unknown[];
      samePrompt: unknown[];
    }>(["dataset", "check-overlap", s1.json.train.ref, s1.json.eval.ref], env);
    assert.equal(o.code, 0);
    assert.deepEqual(o.json.exact, []);
    assert.deepEqual(o.json.samePrompt, []);
    const self = await runCliJsonInProcess<{ exact: Array<{ aLine: number; bLine: number }> }>(
      ["dataset", "check-overlap", "toy@v1", "toy@v2"],
      env,
    );
    assert.deepEqual(
      self.json.exact.map((p) => [p.aLine, p.bLine]),
      [
        [2, 2],
        [3, 3],
        [4, 4],
      ],
    );
  });

  test("--eval takes a percent (20% or 20, and 1 is 1%) or a fraction below 1, and says how it read it", async () => {
    for (const [given, share] of [
      ["1", 0.01],
      ["1%", 0.01],
      ["20", 0.2],
      ["0.2", 0.2],
      ["2.5%", 0.025],
    ] as const) {
      const r = await runCliJsonInProcess<{ evalShare: number; eval: { rows: number } }>(
        ["dataset", "split", "alpaca_en_demo", "--eval", given, "--seed", "3"],
        env,
      );
      assert.equal(r.code, 0, `${given}: ${r.stdout}`);
      assert.ok(Math.abs(r.json.evalShare - share) < 1e-12, `${given} -> ${r.json.evalShare}`);
      assert.ok(Math.abs(r.json.eval.rows - 999 * share) <= 3, `${given}: ${r.json.eval.rows} eval rows`);
    }
    const card = await runCliInProcess(["dataset", "split", "alpaca_en_demo", "--eval", "1", "--seed", "3"], env);
    assert.match(card.stdout, /Eval\s+alpaca_en_demo-eval@v\d+: 10 rows \(1\.0%\)/);
    for (const bad of ["0", "100", "150%", "abc"]) {
      const r = await runCliInProcess(["dataset", "split", "alpaca_en_demo", "--eval", bad], env);
      assert.equal(r.code, 1, bad);
      assert.match(
        r.stderr,
        /--eval: ".*" is not a share of rows: write a percent \(20% or 20; 1 is 1%\) or a fraction/,
      );
    }
  });

  test("overlap is counted in eval rows, not pairs: one leaked row copied four times in train is one eval row", async () => {
    const dir = tmpDir("pairs");
    const row = (q: string, a: string) =>
      JSON.stringify({
        messages: [
          { role: "user", content: q },
          { role: "assistant", content: a },
        ],
      });
    const leaked = row("What is the boiling point of water at sea level?", "100 degrees Celsius.");
    const train = [leaked, leaked, leaked, leaked, row("Name a primary colour.", "Red."), row("What is 2 + 2?", "4.")];
    const evalRows = [
      row("Which planet is closest to the sun?", "Mercury."),
      leaked,
      row("How many legs has a spider?", "Eight."),
    ];
    fs.writeFileSync(path.join(dir, "ptrain.jsonl"), `${train.join("\n")}\n`);
    fs.writeFileSync(path.join(dir, "peval.jsonl"), `${evalRows.join("\n")}\n`);
    for (const f of ["ptrain", "peval"]) {
      const up = await runCliInProcess(["dataset", "upload", path.join(dir, `${f}.jsonl`)], env);
      assert.equal(up.code, 0, up.stderr);
    }
    const card = await runCliInProcess(["dataset", "check-overlap", "ptrain", "peval"], env);
    assert.match(card.stdout, /Overlapping\s+1 row of peval@v1's 3 \(33\.3%\)/);
    assert.match(card.stdout, /Exact \(identical rows\)\s+1 row of peval@v1 \(4 pairs with ptrain@v1\)/);
    const j = await runCliJsonInProcess<{ exact: unknown[]; overlappingRows: Record<string, number> }>(
      ["dataset", "check-overlap", "ptrain", "peval"],
      env,
    );
    assert.equal(j.json.exact.length, 4, "the pairs are all listed");
    assert.deepEqual(j.json.overlappingRows, { exact: 1, samePrompt: 0, near: 0, any: 1, of: 3 });
    // A run on it is refused, naming the eval row once.
    assert.equal((await runCliInProcess(["experiment", "new", "pairs", "--eval", "peval"], env)).code, 0);
    const run = await runCliInProcess(["run", "start", "ptrain", "--experiment", "pairs"], env);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /ptrain@v1 overlaps the eval set peval@v1: 1 eval row identical to a training row \(eval line 2 = line 1\)\./,
    );
  });

  test("export in each format", async () => {
    const out = path.join(tmpDir("export"), "toy.alpaca.jsonl");
    const a = await runCliJsonInProcess<{ rows: number; path: string }>(
      ["dataset", "export", "toy@v1", "--format", "alpaca", "--out", out],
      env,
    );
    assert.equal(a.code, 0, a.stdout);
    const rows = fs
      .readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 5);
    assert.equal(rows[0].instruction, "I fell off my bike today.");
    assert.equal(rows[0].output, "It's great that you're getting exercise outdoors!");
    assert.equal(rows[0].system, "You are a happy assistant that puts a positive spin on everything.");
    const t = await runCliJsonInProcess<{ rows: number; path: string }>(
      ["dataset", "export", "train", "--format", "together", "--out", `${out}.t`],
      env,
    );
    assert.equal(t.json.rows, 1000);
    assert.ok(JSON.parse(fs.readFileSync(`${out}.t`, "utf8").split("\n")[0]).text.startsWith("table:"));
    const bad = await runCliJsonInProcess<{ error: { code: string; message: string } }>(
      ["dataset", "export", "train", "--format", "openai"],
      env,
    );
    assert.equal(bad.code, 1);
    assert.equal(bad.json.error.code, "dataset_export_unsupported");
    assert.match(bad.json.error.message, /Export as together instead\.$/);
    // Text rows as Alpaca: the suggestion is a format that takes them (together), never openai, which fails too.
    const alpaca = await runCliInProcess(["dataset", "export", "train", "--format", "alpaca"], env);
    assert.equal(alpaca.code, 1);
    assert.match(alpaca.stderr, /1,000 rows of train@v1 cannot be written as alpaca: line 1: a plain text row/);
    assert.match(alpaca.stderr, /Export as together instead\./);
    assert.doesNotMatch(alpaca.stderr, /openai/);
  });

  test("text rows: the cost tables price only models that can train on them, and say which are left out", async () => {
    const show = await runCliJsonInProcess<{ format: string; estimates: Array<{ provider: string }> }>(
      ["dataset", "show", "train"],
      env,
    );
    assert.equal(show.json.format, "text");
    assert.deepEqual([...new Set(show.json.estimates.map((e) => e.provider))], ["local", "together"]);
    const card = await runCliInProcess(["dataset", "show", "train"], env);
    assert.match(card.stdout, /together\s+meta-llama\/Meta-Llama-3\.1-8B-Instruct-Reference/);
    assert.doesNotMatch(card.stdout, /^openai\s/m);
    assert.match(
      card.stdout,
      /Not priced: openai:gpt-4\.1-nano, .*\(OpenAI fine-tunes chat rows only, and these are plain text rows\)/,
    );
    // A chat dataset still prices OpenAI.
    const toy = await runCliJsonInProcess<{ estimates: Array<{ provider: string }> }>(["dataset", "show", "toy"], env);
    assert.ok(toy.json.estimates.some((e) => e.provider === "openai"));
    // And a run on OpenAI with text rows is refused before anything is created or spent.
    const keyed = { ...env, OPENAI_API_KEY: "sk-test-not-a-real-key-123", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" };
    assert.equal((await runCliInProcess(["experiment", "new", "sqlexp", "--eval", "toy"], keyed)).code, 0);
    const run = await runCliInProcess(
      ["run", "start", "train", "--experiment", "sqlexp", "--provider", "openai"],
      keyed,
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /openai:gpt-4o-mini cannot train on train@v1: OpenAI fine-tunes chat rows only/);
    const list = await runCliJsonInProcess<unknown[]>(["run", "list"], keyed);
    assert.deepEqual(list.json, []);
  });

  test("unknown dataset and unknown command are user errors with what to do", async () => {
    const r = await runCliInProcess(["dataset", "show", "nope"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No dataset named "nope"\. Known: /);
    const u = await runCliInProcess(["dataset", "explode"], env);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /Unknown command.*dataset commands: dataset upload/s);
  });
});

describe("CLI: bad inputs get a clear error and store nothing", () => {
  const data = tmpDir();
  const env = testEnv(data, { TUNELOOP_MAX_LINE_BYTES: "4096" });
  const dir = tmpDir("bad");
  const good = (i: number) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `Question number ${i} about invoices?` },
        { role: "assistant", content: `Answer ${i}.` },
      ],
    });
  const write = (name: string, content: string | Buffer) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };
  const blobCount = () => {
    const root = path.join(data, "blobs");
    if (!fs.existsSync(root)) return 0;
    return fs.readdirSync(root, { recursive: true }).filter((f) => fs.statSync(path.join(root, String(f))).isFile())
      .length;
  };
  const nothingStored = async () => {
    assert.equal(blobCount(), 0, "no blobs written");
    const tmp = path.join(data, "tmp");
    assert.deepEqual(fs.existsSync(tmp) ? fs.readdirSync(tmp) : [], [], "no temporary files left");
    const list = await runCliJsonInProcess<unknown[]>(["dataset", "list"], env);
    assert.deepEqual(list.json, []);
  };

  before(() => fs.mkdirSync(data, { recursive: true }));

  const refusals: Array<[string, () => string, string, RegExp]> = [
    [
      "a zip renamed .jsonl",
      () => write("data.jsonl", Buffer.concat([Buffer.from("PK\x03\x04"), Buffer.alloc(200, 7)])),
      "dataset_archive",
      /zip/i,
    ],
    [
      "a binary file",
      () =>
        write(
          "img.jsonl",
          Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(300, 0)]),
        ),
      "dataset_binary",
      /binary|PNG/i,
    ],
    [
      "UTF-16 text",
      () => write("u16.jsonl", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${good(1)}\n`, "utf16le")])),
      "dataset_wrong_encoding",
      /UTF-8/,
    ],
    ["an empty file", () => write("empty.jsonl", ""), "dataset_empty_file", /empty/i],
    ["not JSON at all", () => write("notes.jsonl", "hello there\nthis is prose\n"), "dataset_not_json", /JSON/],
  ];
  for (const [label, make, code, msg] of refusals) {
    test(`refuses ${label}`, async () => {
      const r = await runCliJsonInProcess<{ error: { code: string; message: string } }>(
        ["dataset", "upload", make()],
        env,
      );
      assert.equal(r.code, 1, r.stdout);
      assert.equal(r.json.error.code, code);
      assert.match(r.json.error.message, msg);
      await nothingStored();
    });
  }

  test("a truncated line, invalid UTF-8, a blank line, a BOM and an enormous line are named by line", async () => {
    const content = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(`${good(1)}\n${good(2)}\n\n`),
      Buffer.from('{"messages": [{"role": "user", "content": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"}, {"role": "assistant", "content": "x"}]}\n'),
      Buffer.from(
        `{"messages": [{"role": "user", "content": "${"a".repeat(6000)}"}, {"role": "assistant", "content": "x"}]}\n`,
      ),
      Buffer.from(`${good(3)}\n`),
      Buffer.from('{"messages": [{"role": "user", "content": "cut off'),
    ]);
    const file = write("broken.jsonl", content);
    const r = await runCliJsonInProcess<UploadJson>(["dataset", "upload", file], env);
    assert.equal(r.code, 1);
    assert.equal(r.json.stored, false);
    const at = (kind: string) => r.json.errors.filter((e) => e.kind === kind).map((e) => e.line);
    assert.deepEqual(at("bom"), [1]);
    assert.deepEqual(at("blank_line"), [3]);
    assert.deepEqual(at("invalid_utf8"), [4]);
    assert.deepEqual(at("line_too_long"), [5]);
    assert.deepEqual(at("invalid_json"), [7]);
    await nothingStored();

    const human = await runCliInProcess(["dataset", "upload", file], env);
    assert.match(human.stderr, /Upload refused/);
    assert.match(human.stderr, /--drop-bad-rows/);
    assert.match(human.stderr, /line 7/);
  });

  test("schema problems name the line and field; --drop-bad-rows stores the good rows", async () => {
    const rows = [
      good(1),
      JSON.stringify({
        messages: [
          { role: "bot", content: "hi" },
          { role: "assistant", content: "x" },
        ],
      }),
      JSON.stringify({ messages: [{ role: "user", content: "hi" }, { role: "assistant" }] }),
      JSON.stringify({ messages: [] }),
      JSON.stringify({ messages: [{ role: "user", content: "only a question" }] }),
      JSON.stringify({
        messages: [
          { role: "user", content: "q" },
          { role: "assistant", content: "a" },
        ],
        extra: 1,
      }),
      JSON.stringify([1, 2]),
      good(2),
    ];
    const file = write("schema.jsonl", `${rows.join("\n")}\n`);
    const r = await runCliJsonInProcess<UploadJson>(["dataset", "upload", file, "--name", "schema"], env);
    assert.equal(r.code, 1);
    const find = (kind: string) => r.json.errors.find((e) => e.kind === kind);
    assert.equal(find("unrecognized_role")?.line, 2);
    assert.equal(find("unrecognized_role")?.field, "messages[0].role");
    assert.equal(find("message_missing_key")?.line, 3);
    assert.match(find("message_missing_key")?.field ?? "", /messages\[1\]/);
    assert.equal(find("empty_conversation")?.line, 4);
    assert.equal(find("example_missing_assistant_message")?.line ?? find("last_message_not_assistant")?.line, 5);
    assert.equal(find("unknown_key")?.line, 6);
    assert.equal(find("data_type")?.line, 7);
    await nothingStored();

    const kept = await runCliJsonInProcess<UploadJson>(
      ["dataset", "upload", file, "--name", "schema", "--drop-bad-rows"],
      env,
    );
    assert.equal(kept.code, 0);
    assert.equal(kept.json.stored, true);
    assert.equal(kept.json.dataset.rows, 2);
  });

  test("names with path tricks are refused; a file's path never becomes a name with slashes", async () => {
    const file = write("ok.jsonl", `${good(1)}\n${good(2)}\n`);
    for (const name of ["../../etc/passwd", "a/b", "..", "UPPER", "x@v2"]) {
      const r = await runCliJsonInProcess<{ error: { code: string } }>(
        ["dataset", "upload", file, "--name", name],
        env,
      );
      assert.equal(r.code, 1, name);
      assert.equal(r.json.error.code, "dataset_invalid_name", name);
    }
    const nested = path.join(dir, "sub");
    fs.mkdirSync(nested, { recursive: true });
    const r = await runCliJsonInProcess<UploadJson>(["dataset", "upload", path.join(nested, "..", "ok.jsonl")], env);
    assert.equal(r.json.dataset.name, "ok");
  });

  test("limits: too many rows, a file over the size limit, a bad setting", async () => {
    const file = write("five.jsonl", `${[1, 2, 3, 4, 5].map(good).join("\n")}\n`);
    const many = await runCliJsonInProcess<{ error: { code: string; message: string } }>(
      ["dataset", "upload", file, "--name", "five"],
      { ...env, TUNELOOP_MAX_ROWS: "3" },
    );
    assert.equal(many.code, 1);
    assert.equal(many.json.error.code, "dataset_too_many_rows");
    assert.match(many.json.error.message, /TUNELOOP_MAX_ROWS/);
    const big = write("big.jsonl", `${Array.from({ length: 30000 }, (_, i) => good(i)).join("\n")}\n`);
    const large = await runCliJsonInProcess<{ error: { code: string; message: string } }>(
      ["dataset", "upload", big, "--name", "big"],
      { ...env, TUNELOOP_MAX_UPLOAD_MB: "1" },
    );
    assert.equal(large.code, 1);
    assert.equal(large.json.error.code, "dataset_too_large");
    assert.match(large.json.error.message, /TUNELOOP_MAX_UPLOAD_MB/);
    const setting = await runCliInProcess(["dataset", "list"], { ...env, TUNELOOP_MAX_ROWS: "lots" });
    assert.equal(setting.code, 1);
    assert.match(setting.stderr, /TUNELOOP_MAX_ROWS="lots"/);
  });
});
