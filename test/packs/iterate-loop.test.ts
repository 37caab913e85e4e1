/**
 * The iteration loop on the real local trainer (stories260K, LoRA): a feelings task whose training set has no
 * "angry" rows; the tuned model's failures cluster on that answer; a fake teacher (the fake OpenAI-compatible
 * endpoint) writes angry rows in its own words; after approval and a rerun on the new version, that cluster's
 * accuracy rises with p < 0.01 on the cluster's eval rows the teacher never saw, and the recorded hypothesis is
 * decided. Without a teacher, propose gives a file to fill in, and `dataset upload --append-to` makes the version.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { runVerdict } from "../../commands/run.ts";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { createLogger } from "../../src/log.ts";
import { startFakeOpenAI, type FakeEndpoint } from "../fakes/openai-compatible.ts";
import { tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";
import { summarizeLedger } from "../../src/core/costs/ledger.ts";
import { verdictCard } from "../../src/core/runs/cards.ts";
import { ctxFor } from "../engine/engine-helpers.ts";

const NAMES = ["Quinn", "Rory", "Nell", "Otto", "Bea", "Cody", "Dora", "Gus", "Hugo", "Iris", "Jude", "Lena"];
const THINGS = ["kite", "drawing", "sandcastle", "cookie", "crown", "puppet", "marble", "sticker"];
/** The teacher's own wordings of "someone did something mean to them" (none is an eval template). */
const MEAN = [
  "{f} grabbed {n}'s {o} without asking.",
  "{f} smashed {n}'s {o} on purpose.",
  "{f} shoved {n} and laughed at {n}.",
  "{f} tossed {n}'s {o} into the mud.",
  "{f} snatched {n}'s {o} and ran off.",
  "{f} stepped on {n}'s {o} on purpose.",
  "{f} tore {n}'s {o} and laughed.",
  "{f} hid {n}'s {o} and would not give it back.",
];
const QUESTIONS = ["How did {n} feel?", "How did {n} feel then?", "How do you think {n} felt?"];

/** The fake teacher: reads how many rows it is asked for and writes that many angry rows as JSONL. */
function teacher(messages: Array<{ role: string; content: string }>): string {
  const want = Number(/Write (\d+) NEW training rows/.exec(messages.at(-1)?.content ?? "")?.[1] ?? 0);
  const rows: string[] = [];
  for (let i = 0; i < want; i++) {
    const n = NAMES[i % NAMES.length];
    const f = NAMES[(i + 1 + Math.floor(i / NAMES.length)) % NAMES.length];
    const o = THINGS[(i + Math.floor(i / MEAN.length)) % THINGS.length];
    const event = MEAN[i % MEAN.length].replaceAll("{n}", n).replaceAll("{f}", f).replaceAll("{o}", o);
    const q = QUESTIONS[Math.floor(i / MEAN.length) % QUESTIONS.length].replaceAll("{n}", n);
    rows.push(
      JSON.stringify({
        messages: [
          { role: "user", content: `${event} ${q}` },
          { role: "assistant", content: "angry" },
        ],
      }),
    );
  }
  return `\`\`\`jsonl\n${rows.join("\n")}\n\`\`\``;
}

let fake: FakeEndpoint;
let app: App;
before(async () => {
  fake = await startFakeOpenAI({ answer: (m) => teacher(m) });
  const config = loadConfig({
    TUNELOOP_DATA: tmpDir("iterate"),
    LOG_LEVEL: "silent",
    TUNELOOP_LOCAL_MODEL_DIR: localModelDir,
    TUNELOOP_ENDPOINTS: JSON.stringify({
      teach: { baseUrl: fake.baseUrl, prices: { "*": { inputPer1M: 1, outputPer1M: 2 } } },
    }),
  });
  app = createApp(config, createLogger(config));
});
after(async () => {
  await app.close();
  await fake.close();
});

test("failures cluster on the missing category; teacher rows, approved and trained on, raise it (p < 0.01 on unseen rows)", {
  timeout: 600_000,
}, async (t) => {
  const task = makeDemoTask({ seed: 11, trainRows: 200, evalRows: 160 });
  const dir = tmpDir("iterate-task");
  const write = (name: string, rows: unknown[]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    return file;
  };
  const train = task.train.filter((r) => r.messages[1].content !== "angry");
  const angryEval = task.eval.filter((r) => r.messages[1].content === "angry").length;
  const cli = ctxFor(app, "cli");
  const up = async (file: string, name: string) => {
    const o = await runCommand(["dataset", "upload", file, "--name", name], cli);
    assert.equal(o.exitCode, 0, o.error?.message);
  };
  await up(write("train.jsonl", train), "feelings");
  await up(write("eval.jsonl", task.eval), "feelings-eval");
  const made = await runCommand(["experiment", "new", "feel", "--eval", "feelings-eval", "--metric", "exact"], cli);
  assert.equal(made.exitCode, 0, made.error?.message);

  const first = await runCommand(["run", "start", "feelings", "--experiment", "feel", "--yes", "--wait"], cli);
  assert.equal(first.exitCode, 0, first.error?.message);
  const run1 = (first.data as { run: { id: number } }).run.id;

  // 1. the failures, grouped: the biggest cluster is the answer the training set never had
  const c = await runCommand(["iterate", "clusters", String(run1)], cli);
  const clusters = (c.data as { clusters: Array<{ k: number; label: string; size: number; trainSameAnswer: number }> })
    .clusters;
  assert.equal(clusters[0].label, 'answer "angry"');
  assert.ok(clusters[0].size >= angryEval - 2, `${clusters[0].size} of ${angryEval} angry rows fail`);
  assert.equal(clusters[0].trainSameAnswer, 0, "no training row near it");

  // 2. without a teacher: a file to fill in, then dataset upload --append-to makes the new version
  const blank = await runCommand(["iterate", "propose", String(run1), "--cluster", "1", "--rows", "5"], cli);
  assert.equal(blank.exitCode, 0, blank.error?.message);
  assert.deepEqual((blank.data as { files: string[] }).files, [
    `run-${run1}-cluster-1-new-rows.jsonl`,
    `run-${run1}-cluster-1-failures.jsonl`,
  ]);
  const filled = write(
    "filled.jsonl",
    teacher([{ role: "user", content: "Write 5 NEW training rows" }])
      .split("\n")
      .slice(1, -1)
      .map((l) => JSON.parse(l)),
  );
  const appended = await runCommand(
    ["dataset", "upload", filled, "--name", "angry-extra", "--append-to", "feelings"],
    cli,
  );
  assert.equal(appended.exitCode, 0, appended.error?.message);
  assert.deepEqual((appended.data as { appended: unknown }).appended, {
    ref: "feelings@v2",
    rows: train.length + 5,
    added: 5,
  });

  // 3. a teacher writes rows from a few of the cluster's failures; cost booked
  const asked = fake.requests.length;
  const prop = await runCommand(
    ["iterate", "propose", String(run1), "--cluster", "1", "--rows", "60", "--teacher", "teach:writer"],
    cli,
  );
  assert.equal(prop.exitCode, 0, prop.error?.message);
  const pd = prop.data as { proposal: { id: number; rows: number; shown: number }; usd: number };
  assert.equal(fake.requests.length, asked + 1);
  assert.equal(pd.proposal.rows, 60);
  assert.equal(pd.proposal.shown, 5);
  assert.ok(pd.usd > 0);
  const shownPrompt = fake.requests.at(-1)?.messages.at(-1)?.content ?? "";
  assert.equal((shownPrompt.match(/ideal answer: "angry"/g) ?? []).length, 5, "the teacher saw five failing rows");
  assert.deepEqual(
    prop.card.actions?.map((a) => a.command),
    [`iterate approve ${pd.proposal.id}`, `iterate reject ${pd.proposal.id}`],
  );

  // 4. approve: a new version and a hypothesis; its button trains on it
  const ok = await runCommand(["iterate", "approve", String(pd.proposal.id), "--expect", "+10pts"], cli);
  assert.equal(ok.exitCode, 0, ok.error?.message);
  const od = ok.data as { dataset: string; rows: number; hypothesis: { text: string } };
  assert.equal(od.dataset, "feelings@v3");
  assert.equal(od.rows, train.length + 60);
  assert.match(
    od.hypothesis.text,
    /^adding 60 rows on cluster 1 \(answer "angry"\) raises exact on that cluster by >= 10 pts$/,
  );
  const trainCmd = ok.card.actions?.[0].command ?? "";
  assert.equal(trainCmd, "run start feelings@v3 --experiment feel");

  // 5. the rerun's verdict: the cluster before and after, on the rows the teacher never saw
  const second = await runCommand([...trainCmd.split(" "), "--yes", "--wait"], cli);
  assert.equal(second.exitCode, 0, second.error?.message);
  const run2 = app.runs.get((second.data as { run: { id: number } }).run.id);
  const v = runVerdict(app, run2);
  const m = v?.clusters?.[0];
  assert.ok(m, "the verdict measures the cluster");
  assert.equal(m.leftOut, 5);
  assert.equal(m.n, clusters[0].size - 5);
  assert.ok(m.after.mean > m.before.mean, JSON.stringify(m));
  assert.ok(m.pValue < 0.01, `p = ${m.pValue}: ${JSON.stringify(m)}`);
  const h = v?.hypotheses.find((x) => x.text === od.hypothesis.text);
  assert.ok(h, "the hypothesis is decided by this run");
  assert.notEqual(h.verdict.outcome, "not_supported");
  const card = verdictCard(run2, v, summarizeLedger(app.engine.ledger({ runId: run2.id })));
  const before = card.blocks.find((b) => b.type === "list" && b.title?.startsWith("Clusters the added rows were for"));
  assert.match(
    before?.type === "list" ? before.items[0] : "",
    new RegExp(
      `^cluster 1 of run ${run1} \\(answer "angry"\\): [\\d.]+% \\(run ${run1}\\) → [\\d.]+% \\(this run\\), \\+[\\d.]+ pts \\(95% CI .*mcnemar-exact p .*n = ${m.n}; 5 rows shown to the teacher left out\\)$`,
    ),
  );
  t.diagnostic(
    `cluster "angry": ${(m.before.mean * 100).toFixed(1)}% -> ${(m.after.mean * 100).toFixed(1)}% on ${m.n} unseen rows, p = ${m.pValue.toExponential(2)}; hypothesis ${h.verdict.outcome}`,
  );
});
