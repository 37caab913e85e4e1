/**
 * `/tune migrate openai list|start|show` end to end: the OpenAI fake holds the team's finished jobs (paginated, with
 * and without a validation file, a DPO job, a vision job), the target trains on the Together fake or the local
 * stories260K trainer, and the verdict is checked against Newcombe's published interval.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { renderCard } from "../../src/adapters/console/render.ts";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import type { Card } from "../../src/core/cards.ts";
import { createLogger } from "../../src/log.ts";
import { createProviders } from "../../src/providers/index.ts";
import { ctxFor } from "../engine/engine-helpers.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai.ts";
import { startFakeTogether, type FakeTogether } from "../fakes/together.ts";
import { tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";

const KEY = "migrate-test-key-0123456789";
const COLOURS = ["red", "green", "blue", "yellow"];
const colourOf = (i: number) => COLOURS[i % 4];
const itemOf = (m: Array<{ role: string; content: string }>) => {
  const user = [...m].reverse().find((x) => x.role === "user")?.content ?? "";
  const hit = /item (\d+)/.exec(user);
  return hit ? Number(hit[1]) : -1;
};
const jsonl = (items: number[]) =>
  `${items
    .map((i) =>
      JSON.stringify({
        messages: [
          { role: "user", content: `What colour is item ${i}?` },
          { role: "assistant", content: colourOf(i) },
        ],
      }),
    )
    .join("\n")}\n`;
const range = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);

/**
 * The validation file of the "published" job: 50 rows (items 1000-1049). Newcombe (1998) Table III's example
 * (e, f, g, h) = (20, 12, 2, 16): both pass 20, only the target 12, only the source 2, both fail 16.
 */
const VALID = range(1000, 50);
const BOTH = new Set(range(1000, 20));
const TARGET_ONLY = new Set(range(1020, 12));
const SOURCE_ONLY = new Set(range(1032, 2));

function sourceRight(i: number, mirrored: boolean) {
  if (i < 1000) return true;
  return BOTH.has(i) || (mirrored ? TARGET_ONLY : SOURCE_ONLY).has(i);
}
function targetRight(i: number, mirrored: boolean) {
  if (i < 1000) return true;
  return BOTH.has(i) || (mirrored ? SOURCE_ONLY : TARGET_ONLY).has(i);
}

/** An app whose providers come from settings, as a user's: OpenAI (and Together) on the fakes, the local trainer. */
function appOn(label: string, openai: FakeOpenAI, extra: Record<string, string>): App {
  const env = {
    TUNELOOP_DATA: tmpDir(label),
    LOG_LEVEL: "silent",
    OPENAI_API_KEY: KEY,
    OPENAI_BASE_URL: openai.baseUrl,
    TUNELOOP_POLL_INTERVAL_MS: "1",
    TUNELOOP_POLL_MAX_MS: "5",
    TUNELOOP_PROVIDER_RETRIES: "1",
    TUNELOOP_LOCAL_MODEL_DIR: localModelDir,
    ...extra,
  };
  const config = loadConfig(env);
  return createApp(config, createLogger(config), { providers: createProviders(config, env) });
}

interface Env {
  openai: FakeOpenAI;
  together: FakeTogether;
  app: App;
  jobs: Record<string, { id: string; fine_tuned_model: string | null }>;
  mirrored: { value: boolean };
}

async function setup(): Promise<Env> {
  const mirrored = { value: false };
  const openai = await startFakeOpenAI({
    apiKey: KEY,
    answer: (m, model) => {
      const i = itemOf(m);
      if (!model.startsWith("ft:")) return "I don't know";
      return sourceRight(i, mirrored.value) ? colourOf(i) : "purple";
    },
  });
  const together = await startFakeTogether({
    apiKey: KEY,
    steps: 2,
    answer: (m, model) => {
      const i = itemOf(m);
      if (!model.startsWith("fakeuser/")) return "I don't know";
      return targetRight(i, mirrored.value) ? colourOf(i) : "purple";
    },
  });
  const jobs: Env["jobs"] = {};
  // 22 older jobs first (the list is newest first, 20 a page): the oldest pages out.
  jobs.old = openai.seedJob({ suffix: "old", training: { filename: "old.jsonl", content: jsonl(range(0, 30)) } });
  for (let i = 0; i < 21; i++)
    openai.seedJob({ suffix: `filler${i}`, training: { filename: `f${i}.jsonl`, content: jsonl(range(0, 10)) } });
  jobs.published = openai.seedJob({
    suffix: "support",
    training: { filename: "support-train.jsonl", content: jsonl(range(0, 60)) },
    validation: { filename: "support-valid.jsonl", content: jsonl(VALID) },
    hyperparameters: { n_epochs: 2, batch_size: 4, learning_rate_multiplier: 0.5 },
  });
  jobs.noValid = openai.seedJob({
    suffix: "novalid",
    training: { filename: "colours.jsonl", content: jsonl(range(0, 60)) },
    hyperparameters: { n_epochs: "auto", batch_size: "auto", learning_rate_multiplier: "auto" },
  });
  jobs.dpo = openai.seedJob({
    suffix: "prefs",
    method: "dpo",
    training: {
      filename: "prefs.jsonl",
      content: `${JSON.stringify({
        input: { messages: [{ role: "user", content: "Hi" }] },
        preferred_output: [{ role: "assistant", content: "Hello!" }],
        non_preferred_output: [{ role: "assistant", content: "What?" }],
      })}\n`,
    },
  });
  jobs.vision = openai.seedJob({
    suffix: "vision",
    training: {
      filename: "photos.jsonl",
      content: `${jsonl([1]).trim()}\n${JSON.stringify({
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What colour is this?" },
              { type: "image_url", image_url: { url: "https://example.com/a.png" } },
            ],
          },
          { role: "assistant", content: "red" },
        ],
      })}\n`,
    },
  });
  jobs.running = openai.seedJob({
    suffix: "busy",
    status: "running",
    training: { filename: "busy.jsonl", content: jsonl(range(0, 10)) },
  });
  const app = appOn("migrate", openai, { TOGETHER_API_KEY: KEY, TOGETHER_BASE_URL: together.baseUrl });
  return { openai, together, app, jobs, mirrored };
}

const TARGET = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";

describe("migrate openai", () => {
  let env: Env;
  before(async () => {
    env = await setup();
  });
  after(async () => {
    await env.app.close();
    await env.openai.close();
    await env.together.close();
  });
  const run = (words: string[]) => runCommand(words, ctxFor(env.app));

  test("list: the jobs page by page (has_more + after), with model, base, files, hyperparameters, created, status", async () => {
    const first = await run(["migrate", "openai", "list"]);
    assert.equal(first.exitCode, 0, JSON.stringify(first.error));
    const d = first.data as { jobs: Array<Record<string, unknown>>; hasMore: boolean; next: string };
    assert.equal(d.jobs.length, 20);
    assert.equal(d.hasMore, true);
    const pub = d.jobs.find((j) => j.id === env.jobs.published.id) as Record<string, unknown>;
    assert.equal(pub.tunedModel, env.jobs.published.fine_tuned_model);
    assert.equal(pub.baseModel, "gpt-4o-mini-2024-07-18");
    assert.match(String(pub.validationFile), /^file-/);
    assert.deepEqual(pub.hyper, { epochs: 2, learningRateMultiplier: 0.5, batchSize: 4 });
    const text = renderCard(first.card);
    assert.match(text, /OpenAI fine-tuning jobs/);
    assert.match(text, new RegExp(`${env.jobs.published.id}.*epochs 2, lr x0\\.5, batch 4`));
    assert.match(text, /dpo/);
    assert.match(text, new RegExp(`More jobs: /tune migrate openai list --after ${d.next}`));
    const second = await run(["migrate", "openai", "list", "--after", d.next]);
    const d2 = second.data as { jobs: Array<{ id: string }>; hasMore: boolean };
    assert.equal(d2.hasMore, false);
    assert.ok(
      d2.jobs.some((j) => j.id === env.jobs.old.id),
      "the oldest job is on the second page",
    );
    assert.equal(d.jobs.length + d2.jobs.length, env.openai.jobs.size);
  });

  test("a DPO job is refused by name with the reason, before anything is downloaded", async () => {
    const before = env.openai.count("GET", /^\/files\//);
    const out = await run(["migrate", "openai", "start", env.jobs.dpo.id, "--to", TARGET]);
    assert.equal(out.exitCode, 1);
    assert.equal(out.error?.code, "migrate_unsupported_data");
    assert.match(out.error?.message ?? "", new RegExp(`OpenAI job ${env.jobs.dpo.id} \\(ft:[^)]*prefs[^)]*\\)`));
    assert.match(out.error?.message ?? "", /DPO .*preference pairs/);
    assert.equal(env.openai.count("GET", /^\/files\//), before);
    assert.equal(env.app.engine.experimentByName(env.jobs.dpo.id), null);
  });

  test("a training file with images is refused by name, line and reason; nothing is stored", async () => {
    const out = await run(["migrate", "openai", "start", env.jobs.vision.id, "--to", TARGET]);
    assert.equal(out.exitCode, 1);
    assert.equal(out.error?.code, "migrate_file_refused");
    assert.match(out.error?.message ?? "", /training file file-\S+ \(photos\.jsonl\)/);
    assert.match(out.error?.message ?? "", /images .*line 2/);
    assert.deepEqual(env.app.datasets.names(), []);
  });

  test("a job still running, an unknown model, a bad target and a bad margin are refused with what to do", async () => {
    const busy = await run(["migrate", "openai", "start", env.jobs.running.id, "--to", TARGET]);
    assert.match(busy.error?.message ?? "", /is running: only a job that succeeded has a tuned model/);
    const unknown = await run(["migrate", "openai", "start", "ft:gpt-4o-mini-2024-07-18:nobody::x", "--to", TARGET]);
    assert.equal(unknown.error?.code, "migrate_job_not_found");
    const bad = await run(["migrate", "openai", "start", env.jobs.published.id, "--to", "together"]);
    assert.match(bad.error?.message ?? "", /is not <provider>:<base model>/);
    const back = await run(["migrate", "openai", "start", env.jobs.published.id, "--to", "openai:gpt-4o-mini"]);
    assert.match(back.error?.message ?? "", /leave OpenAI fine-tuning/);
    const margin = await run(["migrate", "openai", "start", env.jobs.published.id, "--to", TARGET, "--margin", "lots"]);
    assert.match(margin.error?.message ?? "", /--margin lots is not a margin in points/);
  });

  test("by its tuned model (found on page 2), with its validation file as the eval set: the verdict matches Newcombe's published interval", async () => {
    const out = await run([
      "migrate",
      "openai",
      "start",
      env.jobs.published.fine_tuned_model as string,
      "--to",
      TARGET,
      "--yes",
      "--wait",
    ]);
    assert.equal(out.exitCode, 0, JSON.stringify(out.error ?? out.data));
    const d = out.data as {
      migration: { evalFrom: string; training: string; evalSet: string; source: string; marginPts: number };
      verdict: { outcome: string; ciPts: [number, number]; diffPts: number; regressions: number[]; n: number };
      run: { id: number; state: string; jobId: string; experiment: string };
    };
    assert.equal(d.run.state, "succeeded");
    assert.equal(d.run.experiment, env.jobs.published.id);
    assert.equal(d.migration.evalFrom, "validation");
    assert.equal(d.migration.marginPts, 2, "the default margin is TUNELOOP_MIGRATE_MARGIN_PTS (2)");
    assert.equal(d.migration.training, `${env.jobs.published.id}@v1`);
    assert.equal(d.migration.evalSet, `${env.jobs.published.id}-valid@v1`);
    // The same recipe: 2 epochs, batch 4, multiplier 0.5 x Together's default 1e-4.
    const job = env.together.jobs.get(d.run.jobId);
    assert.equal(job?.n_epochs, 2);
    assert.equal(job?.batch_size, 4);
    assert.equal(job?.learning_rate, 5e-5);
    // Newcombe 1998, Table III, (20, 12, 2, 16): difference 0.2, 95% CI 0.0562 to 0.3292 (method 10).
    assert.equal(d.verdict.n, 50);
    assert.equal(d.verdict.diffPts, 20);
    assert.ok(Math.abs(d.verdict.ciPts[0] - 5.62) < 0.051, String(d.verdict.ciPts));
    assert.ok(Math.abs(d.verdict.ciPts[1] - 32.92) < 0.051, String(d.verdict.ciPts));
    assert.equal(d.verdict.outcome, "non-inferior");
    // The two rows only the source got right are the regressions (eval lines 33 and 34).
    assert.deepEqual(d.verdict.regressions, [33, 34]);
    // The source's answers were recorded on every eval row, with their cost.
    const exp = env.app.engine.experimentByName(env.jobs.published.id);
    assert.ok(exp);
    const src = env.app.engine.evals({ experimentId: exp.id, model: d.migration.source, state: "succeeded" })[0];
    assert.equal(src.n, 50);
    assert.ok((src.summary?.usd ?? 0) > 0, "the source's answers are booked at OpenAI's tuned rates");
    assert.equal(env.app.engine.evalRows(src.id).filter((r) => r.output === "purple").length, 28);
    // What the user reads: the steps, then the verdict in the thread with the regressed rows and the costs.
    const card = renderCard(out.card);
    assert.match(card, /Training file stored as .*validation file as/);
    assert.match(card, /learning rate: multiplier 0\.5 x together's default 0\.0001 = 0\.00005/);
    assert.match(card, /Non-inferior: run:\d+ scores \+20\.0 pts against openai:ft:/);
    const thread = renderCard((out.card.thread as Card[])[0]);
    assert.match(thread, /Migration verdict · ftjob-\S+: non-inferior/);
    assert.match(thread, /Rows where the target regressed \(2\): lines 33, 34/);
    assert.match(thread, /line 33: What colour is item 1032\? \| expected "red" \| source "red" \| target "purple"/);
    assert.match(thread, /Per 1,000 requests: openai:ft:\S+ \$[\d.]+; run:\d+ \$[\d.]+/);
    assert.ok((out.card.thread as Card[])[0].files?.some((f) => f.name.endsWith("-answers.jsonl")));
  });

  test("the mirrored table is inferior at 2 pts and inconclusive at 10 pts (with the MDE); asking again finds the same run", async () => {
    env.mirrored.value = true;
    try {
      // A new experiment is needed for new answers: the published job's eval set under --eval, margin 2 pts.
      const evalRef = `${env.jobs.published.id}-valid@v1`;
      const [job] = [...env.openai.jobs.values()].filter((s) => s.job.id === env.jobs.published.id);
      const again = env.openai.seedJob({
        suffix: "mirror",
        training: { filename: "m.jsonl", content: jsonl(range(0, 60)) },
        hyperparameters: job.job.hyperparameters,
      });
      const first = await run(["migrate", "openai", "start", again.id, "--to", TARGET, "--eval", evalRef, "--yes"]);
      assert.equal(first.exitCode, 0, JSON.stringify(first.error));
      const second = await run(["migrate", "openai", "start", again.id, "--to", TARGET, "--eval", evalRef, "--yes"]);
      assert.equal((second.data as { run: { id: number } }).run.id, (first.data as { run: { id: number } }).run.id);
      assert.match(renderCard(second.card), /This migration was started before: here is its run/);
      const id = (first.data as { run: { id: number } }).run.id;
      const ran = await env.app.worker.runNext(id);
      assert.equal(ran?.state, "succeeded", JSON.stringify(ran));
      const shown = await run(["migrate", "openai", "show", again.id]);
      const v = (shown.data as { verdict: { outcome: string; ciPts: number[] } }).verdict;
      assert.equal(v.outcome, "inferior");
      assert.ok(Math.abs(v.ciPts[0] + 32.92) < 0.051 && Math.abs(v.ciPts[1] + 5.62) < 0.051, String(v.ciPts));
      assert.match(renderCard(shown.card), /Inferior: .*worse by more than the margin/);
      assert.equal(shown.exitCode, 1, "an inferior migration exits 1 in the CLI");
      // The same evals judged at a 10-point margin (show --margin spends nothing): -32.9 < -10 < -5.6.
      const wide = await run(["migrate", "openai", "show", again.id, "--margin", "10pts"]);
      const w = (wide.data as { verdict: { outcome: string; mdePts: number } }).verdict;
      assert.equal(w.outcome, "inconclusive");
      assert.ok(w.mdePts > 0);
      assert.match(renderCard(wide.card), /Inconclusive: .*at 50 rows it detects differences of about \d+\.\d pts/);
    } finally {
      env.mirrored.value = false;
    }
  });

  test("an --eval that shares prompts with the training file is refused before the experiment is made", async () => {
    const train = `${env.jobs.published.id}@v1`;
    const out = await run(["migrate", "openai", "start", env.jobs.old.id, "--to", TARGET, "--eval", train]);
    assert.equal(out.error?.code, "run_overlap");
    assert.match(
      out.error?.message ?? "",
      /overlaps the eval set .*: 30 eval rows share a prompt with a training row \(eval line 1 ~ line 1/,
    );
    assert.equal(env.app.engine.experimentByName(env.jobs.old.id), null, "no experiment left behind");
  });

  test("a budget too small for the source's answers and the training is refused before anything is spent", async () => {
    const out = await run(["migrate", "openai", "start", env.jobs.old.id, "--to", TARGET, "--budget", "0.000001"]);
    assert.equal(out.exitCode, 1);
    assert.match(out.error?.message ?? "", /budget/);
    assert.equal(env.app.engine.listRuns({}).filter((r) => r.state === "queued").length, 0);
  });

  test("without a validation file, to the local trainer (stories260K): a held-out split, no overlap, a verdict and costs", async () => {
    const out = await run(["migrate", "openai", "start", env.jobs.noValid.id, "--to", "local:stories260K", "--wait"]);
    assert.equal(out.exitCode === 0 || out.exitCode === 1, true);
    const d = out.data as {
      migration: { evalFrom: string; training: string; evalSet: string };
      verdict: { outcome: string; ciPts: [number, number]; marginPts: number; cost: { target: { per1kUsd: number } } };
      run: { state: string; hyper: { epochs: number; learningRate: number } };
    };
    assert.equal(d.run.state, "succeeded", JSON.stringify(out.error ?? d.run));
    assert.equal(d.migration.evalFrom, "held-out");
    assert.equal(d.migration.training, `${env.jobs.noValid.id}-train@v1`);
    assert.equal(d.migration.evalSet, `${env.jobs.noValid.id}-eval@v1`);
    const overlap = await env.app.datasets.checkOverlap(d.migration.training, d.migration.evalSet);
    assert.equal(overlap.exact.length + overlap.samePrompt.length, 0);
    assert.equal(d.run.hyper.learningRate, 3e-3, "auto multiplier: the local trainer's default rate");
    const want = d.verdict.ciPts[0] > -2 ? "non-inferior" : d.verdict.ciPts[1] < -2 ? "inferior" : "inconclusive";
    assert.equal(d.verdict.outcome, want);
    assert.equal(d.verdict.cost.target.per1kUsd, 0);
    assert.match(renderCard(out.card), /OpenAI's model trained on the held-out rows, so its score there is optimistic/);
    assert.match(renderCard((out.card.thread as Card[])[0]), /of compute per 1,000/);
  });
});

describe("migrate openai: OpenAI refusing, failing and stalling", () => {
  let openai: FakeOpenAI;
  let app: App;
  const run = (words: string[]) => runCommand(words, ctxFor(app));
  before(async () => {
    openai = await startFakeOpenAI({ apiKey: KEY });
    // The stalled download below never sends its rest: any deadline ends it; a short one ends the test sooner.
    app = appOn("migrate-faults", openai, { TUNELOOP_PROVIDER_TIMEOUT_MS: "1000", TUNELOOP_MAX_UPLOAD_MB: "1" });
  });
  after(async () => {
    await app.close();
    await openai.close();
  });

  test("a refused key and an outage are coded errors that say what to do; the key is never shown", async () => {
    openai.faults.push({
      path: /^\/fine_tuning\/jobs$/,
      status: 401,
      body: {
        error: {
          message: `Incorrect API key provided: ${KEY}.`,
          type: "invalid_request_error",
          code: "invalid_api_key",
        },
      },
    });
    const denied = await run(["migrate", "openai", "list"]);
    assert.equal(denied.error?.code, "provider_refused");
    assert.match(
      denied.error?.message ?? "",
      /OpenAI refused the list of fine-tuning jobs: HTTP 401: .*Check OPENAI_API_KEY/,
    );
    assert.ok(!(denied.error?.message ?? "").includes(KEY), denied.error?.message);
    openai.faults.push({ path: /^\/fine_tuning\/jobs$/, status: 503, times: 5 });
    const down = await run(["migrate", "openai", "list"]);
    assert.equal(down.error?.code, "provider_unavailable");
    assert.match(down.error?.message ?? "", /Try again later/);
    openai.faults.length = 0;
  });

  test("a training file over TUNELOOP_MAX_UPLOAD_MB, a stalled download and bad rows: refused, nothing stored", async () => {
    const big = openai.seedJob({
      training: { filename: "big.jsonl", content: jsonl(range(0, 40)).repeat(700) },
    });
    const tooBig = await run(["migrate", "openai", "start", big.id, "--to", "local:stories260K"]);
    assert.equal(tooBig.error?.code, "dataset_too_large");
    assert.match(tooBig.error?.message ?? "", /larger than 1 MB \(TUNELOOP_MAX_UPLOAD_MB\)/);

    const slow = openai.seedJob({ training: { filename: "slow.jsonl", content: jsonl(range(0, 40)) } });
    openai.stalledFiles.add(slow.training_file);
    const stalled = await run(["migrate", "openai", "start", slow.id, "--to", "local:stories260K"]);
    assert.equal(stalled.error?.code, "provider_unavailable");
    assert.match(stalled.error?.message ?? "", /OpenAI stopped sending file file-\S+ for 1000 ms \(10 bytes in\)/);

    const broken = openai.seedJob({
      training: { filename: "broken.jsonl", content: `${jsonl(range(0, 40))}{"messages": [{"role": "user"\n` },
    });
    const bad = await run(["migrate", "openai", "start", broken.id, "--to", "local:stories260K"]);
    assert.equal(bad.error?.code, "migrate_file_refused");
    assert.match(
      bad.error?.message ?? "",
      /training file file-\S+ \(broken\.jsonl\) .* did not pass the upload checks \(1 bad row of 41\): line 41/,
    );
    assert.match(bad.error?.message ?? "", /Add --drop-bad-rows/);
    assert.deepEqual(app.datasets.names(), []);
    assert.deepEqual(fs.readdirSync(path.join(app.config.dataDir, "tmp")).length, 0, "no temporary file left");
    const kept = await run(["migrate", "openai", "start", broken.id, "--to", "local:stories260K", "--drop-bad-rows"]);
    assert.equal(kept.exitCode, 0, JSON.stringify(kept.error));
    assert.equal(app.datasets.get(`${broken.id}-train`).rows + app.datasets.get(`${broken.id}-eval`).rows, 40);
  });
});
