/** Contract tests of the OpenAI provider and its webhooks against the local fake (real HTTP on loopback). */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CancelledError } from "../../src/core/trainer.ts";
import type { TuneError } from "../../src/errors.ts";
import type { ApiDeps } from "../../src/providers/hosted.ts";
import {
  handleOpenAIWebhook,
  mapOpenAIStatus,
  OPENAI_CLOSURE,
  OpenAIProvider,
  signWebhook,
} from "../../src/providers/openai.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai.ts";
import { fast, rows, trainJob } from "./hosted-helpers.ts";

const KEY = "sk-test-openai-0123456789";
const SECRET = `whsec_${Buffer.from("a-test-webhook-secret-32-bytes!!").toString("base64")}`;

describe("OpenAI provider against the fake", () => {
  let fake: FakeOpenAI;
  const retries: number[] = [];
  const deps: ApiDeps = { onRetry: (r) => retries.push(r.delayMs) };
  const provider = (over = {}) => new OpenAIProvider({ ...fast(fake.baseUrl, KEY), ...over }, deps);
  const oaJob = (
    id: number,
    key: string,
    over: Parameters<typeof trainJob>[0] = {},
    hooks: Parameters<typeof trainJob>[1] = {},
  ) =>
    trainJob(
      { ...over, run: { id, idempotencyKey: key, provider: "openai", baseModel: "gpt-4o-mini", ...over.run } },
      hooks,
    );

  before(async () => {
    fake = await startFakeOpenAI({
      apiKey: KEY,
      steps: 4,
      answer: (m, model) => (model.startsWith("ft:") ? "green" : `base: ${m.at(-1)?.content}`),
    });
  });
  after(() => fake.close());

  test("every OpenAI status maps to a run state", () => {
    const want = {
      validating_files: "running",
      queued: "running",
      running: "running",
      succeeded: "succeeded",
      failed: "failed",
      cancelled: "cancelled",
    };
    for (const [s, state] of Object.entries(want)) assert.equal(mapOpenAIStatus(s).state, state, s);
    assert.equal(mapOpenAIStatus("pausing").known, false);
  });

  test("upload with purpose fine-tune; rows OpenAI cannot take are refused before any upload", async () => {
    const f = await provider().uploadFile(rows(3), { filename: "t.jsonl" });
    assert.equal(f.purpose, "fine-tune");
    assert.equal(fake.files.get(f.id)?.content.split("\n").filter(Boolean).length, 3);
    const bad = rows(2);
    bad[0] = { kind: "text", text: "just text", line: 1, index: 0 };
    const n = fake.count("POST", /^\/files$/);
    await assert.rejects(provider().uploadFile(bad, { filename: "b.jsonl" }), /line 1: a plain text row/);
    assert.equal(fake.count("POST", /^\/files$/), n);
  });

  test("the whole life of a supervised job: statuses, metrics, checkpoints, events paging, tokens and cost", async () => {
    const r = oaJob(10, "life", { hyper: { epochs: 2, batchSize: 4, learningRate: 0.5 } });
    const out = await provider().train(r.job);
    const s = fake.jobs.get(out.jobId ?? "");
    assert.ok(s);
    const req = fake.requests.find(
      (q) =>
        q.method === "POST" &&
        q.path === "/fine_tuning/jobs" &&
        (q.body as { metadata?: { tuneloop_run?: string } }).metadata?.tuneloop_run === "10",
    );
    const body = req?.body as Record<string, unknown>;
    assert.equal(body.model, "gpt-4o-mini-2024-07-18", "the dated snapshot");
    assert.match(String(body.suffix), /^tuneloop-r10-[0-9a-f]{8}$/);
    assert.equal(body.seed, 7);
    assert.deepEqual(body.method, {
      type: "supervised",
      supervised: { hyperparameters: { n_epochs: 2, batch_size: 4, learning_rate_multiplier: 0.5 } },
    });
    assert.deepEqual(s.served, ["validating_files", "queued", "running", "running", "running", "running", "succeeded"]);
    assert.deepEqual(
      r.progress.map((p) => [p.step, p.totalSteps]),
      [
        [1, 4],
        [2, 4],
        [3, 4],
        [4, 4],
      ],
    );
    assert.ok(
      r.events.some((e) => /created: .*OpenAI is validating the training file/.test(e)),
      r.events.join("\n"),
    );
    assert.ok(
      r.events.some((e) => /queued at OpenAI/.test(e)),
      "queued",
    );
    assert.equal(r.events.filter((e) => /OpenAI: Fine-tuning job started/.test(e)).length, 1, "each event once");
    const cps = r.events.filter((e) => /OpenAI checkpoint at step/.test(e));
    assert.equal(cps.length, 2);
    assert.match(
      cps[0],
      /step 2: ft:.*:ckpt-step-2 · train loss 0\.6667, token accuracy 0\.7778 · valid loss 0\.7334, valid token accuracy 0\.7389/,
    );
    assert.equal(out.tunedModelId, s.job.fine_tuned_model);
    assert.equal(out.trainingTokens, s.job.trained_tokens);
    assert.equal(out.usd, ((s.job.trained_tokens ?? 0) * 3) / 1e6);
    assert.equal(out.steps, 4);
    assert.deepEqual(r.created, [out.jobId]);
  });

  test("events paging: newest first, `after` walks back to the last seen event", async () => {
    const p = provider();
    const r = oaJob(11, "paging");
    const out = await p.train(r.job);
    const all = fake.jobs.get(out.jobId ?? "")?.events ?? [];
    assert.ok(all.length > 6);
    const seen = new Set(all.slice(0, 2).map((e) => e.id));
    const before = fake.requests.length;
    const fresh = await p.newEvents(out.jobId ?? "", seen, undefined, 3);
    assert.deepEqual(
      fresh.map((e) => e.id),
      all.slice(2).map((e) => e.id),
      "oldest first, nothing seen twice",
    );
    const calls = fake.requests.slice(before).filter((q) => q.path.endsWith("/events"));
    assert.ok(calls.length >= 3, "several pages");
    assert.equal(calls[0].query.get("after"), null);
    assert.equal(calls[0].query.get("limit"), "3");
    assert.ok(calls.slice(1).every((q) => q.query.get("after")?.startsWith("ftevent-")));
  });

  test("cancel: the user's cancel cancels the OpenAI job", async () => {
    const r = oaJob(
      20,
      "cancel",
      {},
      {
        onProgress: (p, rec) => {
          if (p.step === 1) rec.ac.abort(new CancelledError());
        },
      },
    );
    await assert.rejects(provider().train(r.job), CancelledError);
    assert.equal(fake.jobs.get(r.created[0])?.job.status, "cancelled");
  });

  test("a job OpenAI fails shows OpenAI's error (a bad file is OpenAI's own check)", async () => {
    fake.plans.push({ failAt: { step: 2, code: "server_error", message: "The job failed due to an internal error." } });
    await assert.rejects(provider().train(oaJob(30, "fail").job), (e: TuneError) => {
      assert.equal(e.code, "provider_job_failed");
      assert.match(
        e.message,
        /OpenAI job ftjob-.* failed: The job failed due to an internal error\. \(code server_error\)/,
      );
      return true;
    });
    class Trusting extends OpenAIProvider {
      override checkRows() {
        return [];
      }
    }
    const noAssistant = rows(3);
    noAssistant[2].messages = [{ role: "user", content: "no answer here" }];
    const p = new Trusting(fast(fake.baseUrl, KEY));
    await assert.rejects(p.train(oaJob(31, "badfile", { rows: noAssistant }).job), (e: TuneError) => {
      assert.match(
        e.message,
        /invalid training file\. line 3: no assistant message\. \(code invalid_training_file, param training_file\)/,
      );
      return true;
    });
  });

  test("a refused new job says OpenAI is closing fine-tuning; evals of tuned models keep working", async () => {
    const closed = await startFakeOpenAI({ apiKey: KEY, refuseNewJobs: true, answer: () => "still here" });
    try {
      const p = new OpenAIProvider(fast(closed.baseUrl, KEY));
      await assert.rejects(p.train(oaJob(40, "closed").job), (e: TuneError) => {
        assert.equal(e.code, "provider_refused");
        assert.match(
          e.message,
          /HTTP 403\): Fine-tuning is no longer available for new jobs in this organization\. \(fine_tuning_unavailable\)/,
        );
        assert.ok(e.message.includes(OPENAI_CLOSURE));
        return true;
      });
      const [res] = await p
        .inference("gpt-4o-mini", "openai:gpt-4o-mini")
        .completeAll([{ messages: [{ role: "user", content: "x" }], maxTokens: 4 }], {});
      assert.equal(res.text, "still here");
    } finally {
      await closed.close();
    }
  });

  test("429 then success", async () => {
    retries.length = 0;
    fake.faults.push({ method: "POST", path: /^\/files$/, status: 429, headers: { "retry-after": "0.02" } });
    const out = await provider().train(oaJob(50, "429").job);
    assert.ok(out.tunedModelId);
    assert.equal(retries[0], 20);
  });

  test("a restart resumes the job by id; a lost id is found again by metadata; never two jobs", async () => {
    const r = oaJob(
      60,
      "restart",
      {},
      {
        onProgress: (p, rec) => {
          if (p.step === 2) rec.ac.abort(new Error("worker stopping"));
        },
      },
    );
    await assert.rejects(provider().train(r.job), /worker stopping/);
    const id = r.created[0];
    assert.equal(fake.jobs.get(id)?.job.status, "running");
    const creates = fake.count("POST", /^\/fine_tuning\/jobs$/);
    const again = oaJob(60, "restart", { jobId: id, run: { attempts: 2, progress: { phase: "training", step: 2 } } });
    const out = await provider().train(again.job);
    assert.equal(out.jobId, id);
    assert.deepEqual(
      again.progress.map((p) => p.step),
      [3, 4],
    );
    const lost = oaJob(
      61,
      "lost",
      {},
      {
        onProgress: (p, rec) => {
          if (p.step === 1) rec.ac.abort(new Error("lease lost"));
        },
      },
    );
    await assert.rejects(provider().train(lost.job), /lease lost/);
    const retry = oaJob(61, "lost", { run: { attempts: 2 } });
    const out2 = await provider().train(retry.job);
    assert.equal(out2.jobId, lost.created[0]);
    assert.equal(fake.count("POST", /^\/fine_tuning\/jobs$/), creates + 1, "only the lost-id run's first create");
    const list = fake.requests.filter((q) => q.method === "GET" && q.path === "/fine_tuning/jobs").at(-1);
    assert.equal(list?.query.get("metadata[tuneloop_key]")?.startsWith("r61-"), true);
  });

  test("an outage marks the run stalled, then recovered", async () => {
    const r = oaJob(
      70,
      "outage",
      {},
      {
        onProgress: (p) => {
          if (p.step === 1)
            fake.faults.push({ method: "GET", path: /^\/fine_tuning\/jobs\/[^/]+$/, status: 502, times: 3 });
        },
      },
    );
    const out = await provider().train(r.job);
    assert.ok(out.tunedModelId);
    assert.equal(r.stalls.length, 1);
    assert.match(r.stalls[0], /HTTP 502/);
    assert.equal(r.recoveries, 1);
  });

  test("eval through chat completions: fine-tuned and base models with token usage and prices", async () => {
    const p = provider();
    const out = await p.train(oaJob(80, "eval").job);
    const tuned = p.inference(out.tunedModelId, "run:80");
    assert.deepEqual(tuned.pricing, { inputPer1M: 0.3, outputPer1M: 1.2 });
    const [a] = await tuned.completeAll(
      [{ messages: [{ role: "user", content: "What colour is item 1?" }], maxTokens: 8 }],
      {},
    );
    assert.equal(a.text, "green");
    assert.ok(a.inputTokens > 0 && a.outputTokens > 0);
    const base = p.inference("gpt-4o-mini", "openai:gpt-4o-mini");
    assert.deepEqual(base.pricing, { inputPer1M: 0.15, outputPer1M: 0.6 });
    const [b] = await base.completeAll([{ messages: [{ role: "user", content: "hi" }], maxTokens: 8 }], {});
    assert.equal(b.text, "base: hi");
  });
});

describe("OpenAI webhooks", () => {
  const body = JSON.stringify({
    id: "evt_1",
    object: "event",
    created_at: 1,
    type: "fine_tuning.job.succeeded",
    data: { id: "ftjob-abc" },
  });
  const now = 1_800_000_000;
  const headers = (over: Record<string, string> = {}) => ({
    "webhook-id": "wh_1",
    "webhook-timestamp": String(now),
    "webhook-signature": signWebhook(SECRET, "wh_1", now, body),
    ...over,
  });

  test("a signed fine_tuning.job.* event is accepted and names the job", () => {
    const r = handleOpenAIWebhook(headers(), Buffer.from(body), SECRET, { nowSec: now + 10 });
    assert.deepEqual(r, { ok: true, id: "wh_1", event: "fine_tuning.job.succeeded", jobId: "ftjob-abc" });
    // several signatures (key rotation): any valid one passes
    const multi = handleOpenAIWebhook(
      headers({ "webhook-signature": `v1,AAAA ${signWebhook(SECRET, "wh_1", now, body)}` }),
      body,
      SECRET,
      { nowSec: now },
    );
    assert.equal(multi.ok, true);
  });

  test("bad signatures, tampered bodies, stale or missing timestamps are refused", () => {
    const bad = handleOpenAIWebhook(headers({ "webhook-signature": "v1,Zm9vYmFy" }), body, SECRET, { nowSec: now });
    assert.deepEqual(bad, { ok: false, status: 401, error: "bad webhook-signature" });
    const tampered = handleOpenAIWebhook(headers(), body.replace("abc", "xyz"), SECRET, { nowSec: now });
    assert.equal(tampered.ok, false);
    const stale = handleOpenAIWebhook(headers(), body, SECRET, { nowSec: now + 301 });
    assert.deepEqual(stale, { ok: false, status: 401, error: "stale webhook-timestamp" });
    const missing = handleOpenAIWebhook({ "webhook-id": "wh_1" }, body, SECRET, { nowSec: now });
    assert.equal(missing.ok, false);
    const otherSecret = handleOpenAIWebhook(
      headers(),
      body,
      `whsec_${Buffer.from("another-secret-of-32-bytes-long!").toString("base64")}`,
      { nowSec: now },
    );
    assert.equal(otherSecret.ok, false);
  });

  test("a finished job's webhook wakes the poller at once (long poll interval)", async () => {
    const fake = await startFakeOpenAI({
      apiKey: KEY,
      steps: 2,
      autoAdvanceMs: 5,
      webhook: {
        secret: SECRET,
        deliver: (h, b) => {
          const r = handleOpenAIWebhook(h, b, SECRET);
          assert.equal(r.ok, true);
        },
      },
    });
    try {
      const p = new OpenAIProvider(fast(fake.baseUrl, KEY, { pollIntervalMs: 60_000, pollMaxMs: 60_000 }));
      const t0 = Date.now();
      const r = trainJob({ run: { id: 90, idempotencyKey: "webhook", provider: "openai", baseModel: "gpt-4o-mini" } });
      const out = await p.train(r.job);
      assert.ok(out.tunedModelId.startsWith("ft:gpt-4o-mini-2024-07-18:"));
      assert.ok(Date.now() - t0 < 5_000, `noticed within seconds, not at the 60 s poll (${Date.now() - t0} ms)`);
    } finally {
      await fake.close();
    }
  });
});
