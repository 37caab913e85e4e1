/**
 * The self-hosted provider against the fake trainer and the fake vLLM: the trainer contract (progress, done, a
 * PEFT folder), failures with the log's last lines, cancel (SIGTERM, SIGKILL after the grace period, partial output
 * removed), a restart that follows the trainer still running and never starts a second, and the server side: LRU
 * unloading beyond maxLoras, the warm-up request, SGLang's shapes.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { RunRecord } from "../../src/core/ports.ts";
import { CancelledError, type TrainJob, type TrainProgressEvent } from "../../src/core/trainer.ts";
import type { EndpointConfig } from "../../src/providers/openai-compatible.ts";
import { SelfHostedProvider, adapterName } from "../../src/providers/selfhosted/provider.ts";
import { LoraServer, VLLM } from "../../src/providers/selfhosted/server.ts";
import { SGLANG } from "../../src/providers/selfhosted/sglang.ts";
import { parseEventLine, readPid } from "../../src/providers/selfhosted/trainer-process.ts";
import { WorkerStopping } from "../../src/core/runs/worker.ts";
import { startFakeVllm, type FakeVllm } from "../fakes/vllm.ts";
import { repoRoot, tmpDir } from "../helpers.ts";

const BASE = "Qwen/Qwen2.5-0.5B-Instruct";
const FAKE_TRAINER = [process.execPath, path.join(repoRoot, "test", "fakes", "trainer.mjs")];

function endpoint(fake: FakeVllm, adapterDir: string, extra: Partial<EndpointConfig> = {}): EndpointConfig {
  return {
    name: "gpu-box",
    baseUrl: fake.baseUrl,
    kind: "vllm",
    adapterDir,
    maxLoras: 2,
    maxLoraRank: 16,
    gpuHourUsd: 3.6,
    concurrency: 4,
    timeoutMs: 10_000,
    maxRetries: 0,
    prices: {},
    ...extra,
  };
}

const rows = Array.from({ length: 12 }, (_, i) => ({
  kind: "chat" as const,
  line: i + 1,
  index: i,
  messages: [
    { role: "user" as const, content: `question ${i}` },
    { role: "assistant" as const, content: `answer ${i}` },
  ],
}));

function jobFor(workDir: string, runId: number, signal: AbortSignal, progress: TrainProgressEvent[] = []): TrainJob {
  const run = {
    id: runId,
    idempotencyKey: `key-${runId}`,
    baseModel: BASE,
    hyper: { epochs: 2, learningRate: 1e-4, batchSize: 4, loraRank: 8, loraAlpha: 16, seed: 1 },
  } as RunRecord;
  return {
    run,
    trainRows: rows,
    hyper: run.hyper,
    workDir,
    signal,
    onProgress: (p) => progress.push(p),
    jobId: null,
    onJobCreated: () => {},
    onStalled: () => {},
    onRecovered: () => {},
  };
}

/** Waits (polling, generous deadline) until `f` holds. */
async function until(f: () => boolean, what: string, ms = 120_000) {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("selfhosted trainer process", () => {
  let fake: FakeVllm;
  before(async () => {
    fake = await startFakeVllm({ base: BASE, maxLoras: 2 });
  });
  after(() => fake?.close());
  const saved = process.env.FAKE_TRAINER_MODE;
  after(() => {
    process.env.FAKE_TRAINER_MODE = saved;
  });

  const provider = (adapterDir: string, graceMs = 5_000) =>
    new SelfHostedProvider(new LoraServer(endpoint(fake, adapterDir), VLLM), {
      command: FAKE_TRAINER,
      graceMs,
      maxSeqLength: 512,
    });

  test("progress and done by the contract; the adapter in PEFT's format under its final name; GPU hours", async () => {
    process.env.FAKE_TRAINER_MODE = "ok";
    const adapterDir = tmpDir("sh-ok");
    const progress: TrainProgressEvent[] = [];
    const out = await provider(adapterDir).train(jobFor(tmpDir("sh-work"), 7, new AbortController().signal, progress));
    const name = adapterName(7, "key-7");
    assert.equal(out.tunedModelId, `gpu:${name}`);
    assert.deepEqual(fs.readdirSync(adapterDir), [name]);
    const cfg = JSON.parse(fs.readFileSync(path.join(adapterDir, name, "adapter_config.json"), "utf8"));
    assert.equal(cfg.peft_type, "LORA");
    assert.equal(cfg.r, 8);
    assert.equal(progress.length, 6, "3 steps per epoch x 2 epochs");
    assert.deepEqual(
      progress.map((p) => p.step),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(progress[5].totalSteps, 6);
    assert.equal(progress[2].epoch, 1);
    assert.ok(Math.abs(out.usd - (out.wallMs / 3_600_000) * 3.6) < 1e-9);
    assert.ok(out.trainingTokens > 0);
  });

  test("a failing trainer: the run fails with its message and the last lines of its log; no partial output", async () => {
    process.env.FAKE_TRAINER_MODE = "fail";
    const adapterDir = tmpDir("sh-fail");
    await assert.rejects(
      provider(adapterDir).train(jobFor(tmpDir("sh-work"), 8, new AbortController().signal)),
      (e: Error) => {
        assert.match(e.message, /the trainer failed: CUDA out of memory/);
        assert.match(e.message, /Last lines of its log:\n[\s\S]*fake trainer: /);
        assert.match(e.message, /torch\.OutOfMemoryError/);
        assert.match(e.message, /loading the base model \(a plain stdout line/);
        return true;
      },
    );
    assert.deepEqual(fs.readdirSync(adapterDir), []);
  });

  test("a trainer that dies without an event is a failed run with its last log lines, never a hung one", async () => {
    process.env.FAKE_TRAINER_MODE = "crash";
    const adapterDir = tmpDir("sh-crash");
    await assert.rejects(
      provider(adapterDir).train(jobFor(tmpDir("sh-work"), 9, new AbortController().signal)),
      (e: Error) => {
        assert.match(e.message, /exited with code 139 without reporting done/);
        assert.match(e.message, /Segmentation fault/);
        return true;
      },
    );
    assert.deepEqual(fs.readdirSync(adapterDir), []);
  });

  test("cancel: SIGTERM stops the trainer, partial output removed", async () => {
    process.env.FAKE_TRAINER_MODE = "slow";
    const adapterDir = tmpDir("sh-cancel");
    const work = tmpDir("sh-work");
    const ac = new AbortController();
    const progress: TrainProgressEvent[] = [];
    const p = provider(adapterDir).train(jobFor(work, 10, ac.signal, progress));
    await until(() => progress.length >= 2, "two steps");
    const pid = readPid(path.join(work, "selfhosted"))?.pid ?? 0;
    assert.ok(pid > 0 && alive(pid));
    assert.ok(
      fs.readdirSync(adapterDir).some((f) => f.endsWith(".partial")),
      "the trainer writes a partial folder",
    );
    ac.abort(new CancelledError());
    await assert.rejects(p, CancelledError);
    assert.equal(alive(pid), false);
    assert.deepEqual(fs.readdirSync(adapterDir), []);
    assert.equal(readPid(path.join(work, "selfhosted")), null);
  });

  test("cancel of a trainer that ignores SIGTERM: SIGKILL after the grace period", async () => {
    process.env.FAKE_TRAINER_MODE = "stubborn";
    const adapterDir = tmpDir("sh-stubborn");
    const work = tmpDir("sh-work");
    const ac = new AbortController();
    const progress: TrainProgressEvent[] = [];
    const p = provider(adapterDir, 300).train(jobFor(work, 11, ac.signal, progress));
    await until(() => progress.length >= 1, "a step");
    const pid = readPid(path.join(work, "selfhosted"))?.pid ?? 0;
    ac.abort(new CancelledError());
    await assert.rejects(p, CancelledError);
    assert.equal(alive(pid), false);
    assert.match(fs.readFileSync(path.join(work, "selfhosted", "trainer.log"), "utf8"), /SIGTERM ignored/);
    assert.deepEqual(fs.readdirSync(adapterDir), []);
  });

  test("a restart follows the trainer still running (never a second one); a dead one fails the run", async () => {
    process.env.FAKE_TRAINER_MODE = "slow";
    process.env.FAKE_TRAINER_STEP_MS = "50";
    const adapterDir = tmpDir("sh-restart");
    const work = tmpDir("sh-work");
    const first = new AbortController();
    const progress: TrainProgressEvent[] = [];
    const p1 = provider(adapterDir).train(jobFor(work, 12, first.signal, progress));
    await until(() => progress.length >= 1, "a step");
    const pid = readPid(path.join(work, "selfhosted"))?.pid ?? 0;
    // tuneloop stops: the trainer goes on
    first.abort(new WorkerStopping());
    await assert.rejects(p1, WorkerStopping);
    assert.ok(alive(pid), "the trainer outlives tuneloop");
    // the next process follows it: same pid, no second trainer, progress continues from its file
    const second = new AbortController();
    const seen: TrainProgressEvent[] = [];
    const events: string[] = [];
    const job = {
      ...jobFor(work, 12, second.signal, seen),
      jobId: `pid:${pid}`,
      onEvent: (m: string) => events.push(m),
    };
    const p2 = provider(adapterDir).train(job);
    await until(() => seen.length > progress.length + 2, "progress after the restart");
    assert.equal(readPid(path.join(work, "selfhosted"))?.pid, pid);
    assert.match(events.join("\n"), new RegExp(`following the trainer still running \\(pid ${pid}\\)`));
    second.abort(new CancelledError());
    await assert.rejects(p2, CancelledError);
    assert.equal(alive(pid), false);

    // a trainer that died while tuneloop was down: the run fails, nothing is started again
    const work2 = tmpDir("sh-work");
    const third = new AbortController();
    const p3 = provider(adapterDir).train(jobFor(work2, 13, third.signal, []));
    await until(() => readPid(path.join(work2, "selfhosted")) !== null, "the trainer's pid file");
    const pid3 = readPid(path.join(work2, "selfhosted"))?.pid ?? 0;
    third.abort(new WorkerStopping());
    await assert.rejects(p3, WorkerStopping);
    process.kill(-pid3, "SIGKILL");
    await until(() => !alive(pid3), "the trainer's death");
    await assert.rejects(
      provider(adapterDir).train({ ...jobFor(work2, 13, new AbortController().signal, []), jobId: `pid:${pid3}` }),
      /stopped while tuneloop was not watching, without finishing/,
    );
    assert.ok(!fs.readdirSync(adapterDir).some((f) => f.includes("tl-r13")), "its partial output is removed");
    delete process.env.FAKE_TRAINER_STEP_MS;
  });

  test("stdout lines: events by the contract, anything else is log", () => {
    assert.deepEqual(parseEventLine('{"event":"progress","step":3,"totalSteps":9,"loss":1.5,"tokensPerSecond":900}'), {
      event: "progress",
      step: 3,
      totalSteps: 9,
      loss: 1.5,
      tokensPerSecond: 900,
    });
    assert.equal(parseEventLine("Loading checkpoint shards: 100%"), null);
    assert.equal(parseEventLine('{"event":"progress","step":"x"}'), null);
    assert.deepEqual(parseEventLine('{"event":"error","message":"boom"}'), { event: "error", message: "boom" });
  });
});

/** A PEFT-looking adapter folder (what the server reads). */
function adapterFolder(dir: string, name: string, r = 8) {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r }));
  const header = Buffer.from(JSON.stringify({ __metadata__: { format: "pt" } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(path.join(d, "adapter_model.safetensors"), Buffer.concat([len, header]));
  return d;
}

describe("selfhosted serving", () => {
  test("at most maxLoras loaded: the least recently used is unloaded, loaded again on demand; one warm-up per load", async () => {
    const fake = await startFakeVllm({ base: BASE, maxLoras: 2, answer: (m) => `from ${m}` });
    try {
      const dir = tmpDir("sh-lru");
      const server = new LoraServer(endpoint(fake, dir), VLLM);
      const p = new SelfHostedProvider(server, { command: FAKE_TRAINER, graceMs: 1000, maxSeqLength: 512 });
      for (const n of ["a", "b", "c"]) adapterFolder(dir, `tl-r${n === "a" ? 1 : n === "b" ? 2 : 3}-0000000${n}`);
      const ask = async (id: string) => {
        const m = p.inference(`gpu:${id}`, `gpu:${id}`);
        assert.ok(m);
        const [r] = await m.completeAll([{ messages: [{ role: "user", content: "hi" }], maxTokens: 8 }], {});
        return r.text;
      };
      assert.equal(await ask("tl-r1-0000000a"), "from tl-r1-0000000a");
      assert.equal(await ask("tl-r2-0000000b"), "from tl-r2-0000000b");
      assert.equal(await ask("tl-r1-0000000a"), "from tl-r1-0000000a"); // a is now the most recent
      assert.equal(await ask("tl-r3-0000000c"), "from tl-r3-0000000c"); // b goes
      assert.deepEqual([...fake.loaded.keys()].sort(), ["tl-r1-0000000a", "tl-r3-0000000c"]);
      assert.equal(await ask("tl-r2-0000000b"), "from tl-r2-0000000b"); // loaded again; a goes
      assert.deepEqual([...fake.loaded.keys()].sort(), ["tl-r2-0000000b", "tl-r3-0000000c"]);
      const unloads = fake.calls.filter((c) => c.path === "/v1/unload_lora_adapter").map((c) => c.body);
      assert.deepEqual(unloads, [{ lora_name: "tl-r2-0000000b" }, { lora_name: "tl-r1-0000000a" }]);
      const loads = fake.calls.filter((c) => c.path === "/v1/load_lora_adapter").length;
      assert.equal(loads, 4);
      // one warm-up chat after each load, then the asked ones
      assert.equal(fake.chats.length, 4 + 5);
      const unloadsSoFar = unloads.length;
      // the server restarted (nothing loaded): the adapter is loaded again on the next request
      fake.loaded.clear();
      assert.equal(await ask("tl-r3-0000000c"), "from tl-r3-0000000c");
      assert.ok(fake.loaded.has("tl-r3-0000000c"));
      assert.equal(fake.calls.filter((c) => c.path === "/v1/unload_lora_adapter").length, unloadsSoFar);
      // the time price: $3.60/h shared by 4 requests at once
      assert.equal(p.pricing().time?.usdPerSecond, 3.6 / 3600 / 4);
    } finally {
      await fake.close();
    }
  });

  test("a rank over the server's max is refused by vLLM itself too; nothing stays loaded", async () => {
    const fake = await startFakeVllm({ base: BASE, maxLoraRank: 16 });
    try {
      const dir = tmpDir("sh-rank");
      // tuneloop thinks the server takes 64, the server says 16: its refusal is shown
      const server = new LoraServer(endpoint(fake, dir, { maxLoraRank: 64 }), VLLM);
      const d = adapterFolder(dir, "big", 64);
      await assert.rejects(
        server.ensureLoaded("big", d, BASE),
        /refused to load big .*LoRA rank 64 is greater than max_lora_rank 16/,
      );
      assert.equal(fake.loaded.size, 0);
      assert.doesNotThrow(() => server.checkRank(64));
      assert.throws(() => server.checkRank(48), /cannot be loaded by vLLM/);
    } finally {
      await fake.close();
    }
  });

  test("run-time loading off is found before training (a 404 from the load route), and again at load time", async () => {
    const fake = await startFakeVllm({ base: BASE, runtimeLoading: false });
    try {
      const dir = tmpDir("sh-rt-off");
      const server = new LoraServer(endpoint(fake, dir), VLLM);
      const p = new SelfHostedProvider(server, { command: FAKE_TRAINER, graceMs: 1000, maxSeqLength: 512 });
      const hyper = { epochs: 1, learningRate: 1e-4, batchSize: 4, loraRank: 8, loraAlpha: 16, seed: 1 };
      // before a run exists: refused with what to set on the server, nothing trained or loaded
      await assert.rejects(p.prepare({ model: `gpu:${BASE}`, hyper, format: "chat" }), (err: Error) => {
        assert.equal((err as { code?: string }).code, "selfhosted_runtime_loading_off");
        assert.match(err.message, /VLLM_ALLOW_RUNTIME_LORA_UPDATING=True/);
        assert.match(err.message, /nothing was trained or spent/);
        return true;
      });
      assert.equal(fake.loaded.size, 0);
      // the server restarted with the setting: the same provider now accepts the run (and asks only once)
      fake.setRuntimeLoading(true);
      assert.deepEqual(await p.prepare({ model: `gpu:${BASE}`, hyper, format: "chat" }), { baseModel: BASE });
      await p.prepare({ model: `gpu:${BASE}`, hyper, format: "chat" });
      const probes = fake.calls.filter((c) => c.path === "/v1/load_lora_adapter");
      assert.deepEqual(
        probes.map((c) => c.status),
        [404, 400],
        "one probe refused, one accepted, then no more",
      );
      // restarted without it after training: the load says so, nothing is loaded
      fake.setRuntimeLoading(false);
      const d = adapterFolder(dir, "tl-r1-0000000a");
      await assert.rejects(server.ensureLoaded("tl-r1-0000000a", d, BASE), /VLLM_ALLOW_RUNTIME_LORA_UPDATING=True/);
      assert.equal(fake.loaded.size, 0);
    } finally {
      await fake.close();
    }
  });

  test("SGLang: adapter routes without /v1, the model written base:adapter", async () => {
    const fake = await startFakeVllm({ base: BASE, dialect: "sglang", answer: (_m, a) => `adapter ${a}` });
    try {
      const dir = tmpDir("sh-sglang");
      const server = new LoraServer(endpoint(fake, dir, { kind: "sglang" }), SGLANG);
      const d = adapterFolder(dir, "tl-r4-0000000d");
      await server.ensureLoaded("tl-r4-0000000d", d, BASE);
      const r = await server.chat(BASE, "tl-r4-0000000d", { messages: [{ role: "user", content: "x" }], maxTokens: 4 });
      assert.equal(r.text, "adapter tl-r4-0000000d");
      assert.ok(fake.calls.some((c) => c.path === "/load_lora_adapter"));
      assert.equal(fake.chats.at(-1)?.model, `${BASE}:tl-r4-0000000d`);
      assert.doesNotThrow(() => server.checkRank(12), "SGLang has no fixed set of ranks");
    } finally {
      await fake.close();
    }
  });
});
