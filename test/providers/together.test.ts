/** Contract tests of the Together provider against the local fake (real HTTP on loopback). */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CancelledError } from "../../src/core/trainer.ts";
import type { TuneError } from "../../src/errors.ts";
import type { ApiDeps } from "../../src/providers/hosted.ts";
import type { TogetherDefaults } from "../../src/providers/settings.ts";
import { mapTogetherStatus, TogetherProvider } from "../../src/providers/together.ts";
import { startFakeTogether, type FakeTogether } from "../fakes/together.ts";
import { fast, rows, trainJob } from "./hosted-helpers.ts";

const KEY = "tg-test-key-0123456789";
const BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";
const DEFAULTS: TogetherDefaults = {
  trainingType: "lora",
  loraDropout: 0.05,
  warmupRatio: 0.1,
  nCheckpoints: 1,
  nEvals: 0,
  trainOnInputs: "auto",
};

describe("Together provider against the fake", () => {
  let fake: FakeTogether;
  const retries: number[] = [];
  const deps: ApiDeps = { onRetry: (r) => retries.push(r.delayMs) };
  const provider = (over: Partial<TogetherDefaults> = {}, d: ApiDeps = deps) =>
    new TogetherProvider({ ...fast(fake.baseUrl, KEY), defaults: { ...DEFAULTS, ...over } }, d);

  before(async () => {
    fake = await startFakeTogether({
      apiKey: KEY,
      steps: 4,
      answer: (m, model) => (model.startsWith("fakeuser/") ? "blue" : `base says ${m.at(-1)?.content}`),
    });
  });
  after(() => fake.close());

  test("every Together status maps to a run state", () => {
    const want: Record<string, string> = {
      pending: "running",
      queued: "running",
      running: "running",
      compressing: "running",
      uploading: "running",
      cancel_requested: "running",
      cancelled: "cancelled",
      error: "failed",
      completed: "succeeded",
    };
    for (const [status, state] of Object.entries(want)) {
      assert.equal(mapTogetherStatus(status).state, state, status);
      assert.ok(mapTogetherStatus(status).known);
    }
    assert.deepEqual(mapTogetherStatus("paused"), { state: "running", label: "paused", known: false });
  });

  test("upload: multipart with purpose fine-tune, then waits for Together's own check of the file", async () => {
    const before = fake.count("POST", /^\/files\/upload$/);
    const f = await provider().uploadFile(rows(3, 100), { filename: "t.jsonl" });
    assert.equal(f.processing_status, "COMPLETED");
    assert.equal(fake.count("POST", /^\/files\/upload$/), before + 1);
    const stored = fake.files.get(f.id);
    assert.equal(stored?.purpose, "fine-tune");
    assert.equal(stored?.filename, "t.jsonl");
    assert.equal(stored?.LineCount, 3);
    assert.deepEqual(JSON.parse(stored?.content.split("\n")[0] ?? "").messages[1], {
      role: "assistant",
      content: "red",
    });
    assert.ok(fake.count("GET", new RegExp(`^/files/${f.id}$`)) >= 1, "polled the file's processing_status");

    // The local check (Together's check_file rules) refuses before any upload, naming the lines.
    const bad = rows(2, 200);
    bad[1].messages = [
      { role: "user", content: "a" },
      { role: "user", content: "b" },
    ];
    const n = fake.count("POST", /^\/files\/upload$/);
    await assert.rejects(provider().uploadFile(bad, { filename: "bad.jsonl" }), (e: TuneError) => {
      assert.equal(e.code, "provider_file_invalid");
      assert.match(e.message, /line 2: two user messages in a row/);
      return true;
    });
    assert.equal(fake.count("POST", /^\/files\/upload$/), n);

    // What only Together's server check catches is shown from its validation_report.
    class Trusting extends TogetherProvider {
      override checkRows() {
        return [];
      }
    }
    const t = new Trusting({ ...fast(fake.baseUrl, KEY), defaults: DEFAULTS });
    await assert.rejects(t.uploadFile(bad, { filename: "bad.jsonl" }), (e: TuneError) => {
      assert.equal(e.code, "provider_file_invalid");
      assert.match(e.message, /INVALID_FORMAT.*Line 2: conversation roles must alternate/);
      return true;
    });
  });

  test("estimate: Together's /fine-tunes/estimate-price for the uploaded file; train() reuses the upload", async () => {
    const p = provider();
    const data = rows(10, 300);
    const hyper = { epochs: 3, learningRate: 1e-4, batchSize: 8, loraRank: 16, loraAlpha: 32, seed: 1 };
    const q = await p.quote({ trainRows: data, baseModel: BASE, hyper });
    assert.equal(q.available, true);
    assert.ok(q.usd !== null && q.usd > 0);
    assert.ok(q.trainTokens !== null && q.trainTokens > 0);
    assert.equal(q.allowedToProceed, true);
    assert.equal(q.userLimitUsd, 100);
    const req = fake.requests.filter((r) => r.path === "/fine-tunes/estimate-price").at(-1)?.body as Record<
      string,
      unknown
    >;
    assert.equal(req.training_file, q.fileId);
    assert.equal(req.model, BASE);
    assert.equal(req.n_epochs, 3);
    assert.deepEqual(req.training_method, { method: "sft", train_on_inputs: "auto" });
    assert.equal((req.training_type as { lora_r: number }).lora_r, 16);
    // an outage during a quote is an error at once (no run to mark stalled)
    fake.faults.push({ method: "POST", path: /^\/fine-tunes\/estimate-price$/, status: 503, times: 3 });
    await assert.rejects(p.quote({ trainRows: data, baseModel: BASE, hyper }), (e: TuneError) => {
      assert.equal(e.code, "provider_unavailable");
      assert.match(e.message, /did not answer POST \/fine-tunes\/estimate-price after 3 tries \(last: HTTP 503/);
      return true;
    });
    const uploads = fake.count("POST", /^\/files\/upload$/);
    const r = trainJob({ rows: data, hyper, run: { id: 30, idempotencyKey: "estimate" } });
    await p.train(r.job);
    assert.equal(fake.count("POST", /^\/files\/upload$/), uploads, "the quoted upload is reused");
    const job = [...fake.jobs.values()].at(-1);
    assert.equal(job?.training_file, q.fileId);
  });

  test("the whole life of a LoRA job: every status, events, checkpoints, metrics, provider tokens and cost", async () => {
    const r = trainJob({ run: { id: 40, idempotencyKey: "life" } });
    const out = await provider().train(r.job);
    const job = fake.jobs.get(out.jobId ?? "");
    assert.ok(job);
    // request body: LoRA with the engine's hyperparameters and the settings' extras
    const b = job.body;
    assert.equal(b.model, BASE);
    assert.equal(b.n_epochs, 2);
    assert.equal(b.batch_size, 8);
    assert.equal(b.learning_rate, 1e-4);
    assert.equal(b.warmup_ratio, 0.1);
    assert.equal(b.n_checkpoints, 1);
    assert.match(String(b.suffix), /^tuneloop-r40-[0-9a-f]{8}$/);
    assert.deepEqual(b.training_type, {
      type: "Lora",
      lora_r: 8,
      lora_alpha: 16,
      lora_dropout: 0.05,
      lora_trainable_modules: "all-linear",
    });
    assert.deepEqual(b.training_method, { method: "sft", train_on_inputs: "auto" });
    // every status of a successful job was seen: pending (the create's answer), then one per poll
    assert.deepEqual(job.served, [
      "pending",
      "queued",
      "running",
      "running",
      "running",
      "running",
      "compressing",
      "uploading",
      "completed",
    ]);
    assert.deepEqual(r.created, [out.jobId]);
    assert.ok(
      r.events.some((e) => /is pending|is queued/.test(e)),
      r.events.join("\n"),
    );
    assert.ok(r.events.some((e) => /compressing the model/.test(e)));
    assert.ok(r.events.some((e) => /uploading the model/.test(e)));
    assert.equal(r.events.filter((e) => /Epoch completed/.test(e)).length, 2, "each event told once");
    assert.equal(r.events.filter((e) => /checkpoint at step 4/.test(e)).length, 1);
    assert.deepEqual(
      r.progress.map((p) => p.step),
      [1, 2, 3, 4],
    );
    assert.equal(r.progress.at(-1)?.totalSteps, 4);
    assert.ok(r.progress.every((p) => Number.isFinite(p.loss) && p.loss > 0));
    // outcome: the provider's output model and token count, cost from the price table
    assert.equal(out.tunedModelId, job.model_output_name);
    assert.equal(out.trainingTokens, job.token_count);
    assert.ok(out.trainingTokens > 0);
    assert.equal(out.usd, (job.token_count * 0.48) / 1e6);
    assert.equal(out.steps, 4);
    assert.equal(out.finalLoss, r.progress.at(-1)?.loss);
    assert.ok(r.events.some((e) => /Together reports \$/.test(e)));
  });

  test("full fine-tuning is asked for with training_type Full and booked at the full rate", async () => {
    const r = trainJob({ run: { id: 41, idempotencyKey: "full" }, hyper: { trainingType: "full" } });
    const out = await provider().train(r.job);
    const job = fake.jobs.get(out.jobId ?? "");
    assert.deepEqual(job?.body.training_type, { type: "Full" });
    assert.equal(out.usd, ((job?.token_count ?? 0) * 0.54) / 1e6);
  });

  test("a job Together fails shows Together's error; a billing limit says so", async () => {
    fake.plans.push({ failAt: { step: 2, message: "CUDA out of memory: reduce batch_size for this model" } });
    const r = trainJob({ run: { id: 50, idempotencyKey: "fail" } });
    await assert.rejects(provider().train(r.job), (e: TuneError) => {
      assert.equal(e.code, "provider_job_failed");
      assert.match(e.message, /Together job ft-.* failed: CUDA out of memory: reduce batch_size for this model/);
      return true;
    });
    fake.plans.push({ billingLimitAt: 1 });
    const r2 = trainJob({ run: { id: 51, idempotencyKey: "billing" } });
    await assert.rejects(provider().train(r2.job), /billing limit/);
    assert.ok(r2.events.some((e) => /billing limit reached/.test(e)));
  });

  test("cancel: the user's cancel cancels the Together job; a job cancelled at Together cancels the run", async () => {
    const r = trainJob(
      { run: { id: 60, idempotencyKey: "cancel" } },
      {
        onProgress: (p, rec) => {
          if (p.step === 1) rec.ac.abort(new CancelledError());
        },
      },
    );
    await assert.rejects(provider().train(r.job), CancelledError);
    const id = r.created[0];
    assert.equal(fake.count("POST", new RegExp(`^/fine-tunes/${id}/cancel$`)), 1);
    assert.equal(fake.jobs.get(id)?.status, "cancel_requested");

    const r2 = trainJob(
      { run: { id: 61, idempotencyKey: "cancel-there" } },
      {
        onProgress: (p, rec) => {
          if (p.step === 1) fake.jobs.get(rec.created[0])!.status = "cancel_requested";
        },
      },
    );
    await assert.rejects(
      provider().train(r2.job),
      (e: Error) => e instanceof CancelledError && /cancelled at Together/.test(e.message),
    );
  });

  test("429 with Retry-After, then success (one job created)", async () => {
    retries.length = 0;
    const jobsBefore = fake.jobs.size;
    fake.faults.push({
      method: "POST",
      path: /^\/fine-tunes$/,
      status: 429,
      headers: { "retry-after": "0.05" },
      body: { error: { message: "Rate limit exceeded", type: "rate_limit", code: null } },
    });
    const r = trainJob({ run: { id: 70, idempotencyKey: "ratelimit" } });
    const out = await provider().train(r.job);
    assert.ok(out.tunedModelId);
    assert.equal(retries[0], 50, "Retry-After honoured");
    assert.equal(fake.jobs.size, jobsBefore + 1);
  });

  test("a restart in the middle of a job resumes it by id and never creates a second one", async () => {
    const r = trainJob(
      { run: { id: 80, idempotencyKey: "restart" } },
      {
        onProgress: (p, rec) => {
          if (p.step === 2) rec.ac.abort(new Error("worker stopping"));
        },
      },
    );
    await assert.rejects(provider().train(r.job), /worker stopping/);
    const id = r.created[0];
    assert.equal(fake.jobs.get(id)?.status, "running", "the job is left running for the next worker");
    assert.equal(fake.count("POST", new RegExp(`^/fine-tunes/${id}/cancel$`)), 0);
    const creates = fake.count("POST", /^\/fine-tunes$/);
    const again = trainJob({
      run: { id: 80, idempotencyKey: "restart", attempts: 2, progress: { phase: "training", step: 2 } },
      jobId: id,
    });
    const out = await provider().train(again.job);
    assert.equal(out.jobId, id);
    assert.equal(fake.count("POST", /^\/fine-tunes$/), creates, "no second create");
    assert.deepEqual(
      again.progress.map((p) => p.step),
      [3, 4],
      "steps already shown are not shown again",
    );

    // A crash after the create but before the job id was stored: the next attempt finds the job by its suffix.
    const lost = trainJob(
      { run: { id: 81, idempotencyKey: "lost-id" } },
      {
        onProgress: (p, rec) => {
          if (p.step === 1) rec.ac.abort(new Error("lease lost"));
        },
      },
    );
    await assert.rejects(provider().train(lost.job), /lease lost/);
    const creates2 = fake.count("POST", /^\/fine-tunes$/);
    const retry = trainJob({ run: { id: 81, idempotencyKey: "lost-id", attempts: 2 } });
    const out2 = await provider().train(retry.job);
    assert.equal(out2.jobId, lost.created[0]);
    assert.equal(fake.count("POST", /^\/fine-tunes$/), creates2);
    assert.ok(retry.events.some((e) => /created by an earlier attempt/.test(e)));
  });

  test("an outage (5xx beyond retries) marks the run stalled, then recovered; the job still completes", async () => {
    const r = trainJob(
      { run: { id: 90, idempotencyKey: "outage" } },
      {
        onProgress: (p) => {
          if (p.step === 1) fake.faults.push({ method: "GET", path: /^\/fine-tunes\/[^/]+$/, status: 503, times: 6 });
        },
      },
    );
    const out = await provider().train(r.job);
    assert.ok(out.tunedModelId);
    assert.equal(r.stalls.length, 1);
    assert.match(r.stalls[0], /Together did not answer GET \/fine-tunes\/.* after 3 tries \(last: HTTP 503/);
    assert.equal(r.recoveries, 1);
  });

  test("a wrong key is refused with Together's message and the key never shown", async () => {
    const p = new TogetherProvider({ ...fast(fake.baseUrl, "tg-wrong-key-000000000"), defaults: DEFAULTS });
    const r = trainJob({ run: { id: 95, idempotencyKey: "badkey" } });
    await assert.rejects(p.train(r.job), (e: TuneError) => {
      assert.equal(e.code, "provider_refused");
      assert.match(e.message, /HTTP 401\): Invalid API key provided/);
      assert.doesNotMatch(e.message, /tg-wrong-key/);
      return true;
    });
  });

  test("eval through chat completions: tuned and base models, token usage and prices booked", async () => {
    const p = provider();
    const r = trainJob({ run: { id: 99, idempotencyKey: "eval" } });
    const out = await p.train(r.job);
    const tuned = p.inference(out.tunedModelId, "run:99");
    assert.equal(tuned.ref, "run:99");
    assert.equal(tuned.provider, "together");
    assert.deepEqual(tuned.pricing, { inputPer1M: 0.18, outputPer1M: 0.18 });
    const seen: number[] = [];
    const res = await tuned.completeAll(
      [
        { messages: [{ role: "user", content: "What colour is item 2?" }], maxTokens: 8 },
        { messages: [{ role: "user", content: "What colour is item 6?" }], maxTokens: 8 },
      ],
      { onResult: (i) => seen.push(i) },
    );
    assert.deepEqual(
      res.map((x) => x.text),
      ["blue", "blue"],
    );
    assert.ok(res.every((x) => x.inputTokens > 0 && x.outputTokens > 0));
    assert.deepEqual(seen.sort(), [0, 1]);
    const chat = fake.requests.filter((q) => q.path === "/chat/completions").at(-1);
    assert.equal((chat?.body as { model: string } | undefined)?.model, out.tunedModelId);
    const base = p.inference(BASE, `together:${BASE}`);
    assert.deepEqual(base.pricing, { inputPer1M: 0.18, outputPer1M: 0.18 });
    const [b] = await base.completeAll([{ messages: [{ role: "user", content: "hi" }], maxTokens: 4 }], {});
    assert.equal(b.text, "base says hi");
    // a fresh process (no memory of the job) still prices the tuned model from its name
    assert.deepEqual(provider().pricingFor(out.tunedModelId), { inputPer1M: 0.18, outputPer1M: 0.18 });
  });
});
