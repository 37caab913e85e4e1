/**
 * The self-hosted loop through the CLI's code (runCliInProcess: src/cli.ts's main, in this process) against the
 * fake vLLM (test/fakes/vllm.ts) and the fake trainer (test/fakes/trainer.mjs): `run start --provider selfhosted
 * --model gpu:<base> --yes --wait --json` trains an adapter by the trainer contract, loads it into vLLM, evaluates
 * base and tuned through it, and books GPU hours; the refusals (rank, base model, run-time loading off) leave nothing loaded or written. `tuneloop worker`
 * is a separate process by its nature (it runs until a signal, beside the bot): that test spawns the real bin.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { answerFor, writeTask } from "../engine/engine-helpers.ts";
import { startFakeOpenAI, type FakeEndpoint } from "../fakes/openai-compatible.ts";
import { startFakeVllm, type FakeVllm } from "../fakes/vllm.ts";
import { repoRoot, runCliInProcess, runCliJsonInProcess, testEnv, tmpDir } from "../helpers.ts";

const BASE = "Qwen/Qwen2.5-0.5B-Instruct";
const lastUser = (m: Array<{ role: string; content: string }>) =>
  [...m].reverse().find((x) => x.role === "user")?.content ?? "";

export function selfhostedEnv(
  dataDir: string,
  fake: FakeVllm,
  adapterDir: string,
  extra: Record<string, string> = {},
  endpoint: Record<string, unknown> = {},
  others: Record<string, unknown> = {},
) {
  return testEnv(dataDir, {
    TOGETHER_API_KEY: "",
    OPENAI_API_KEY: "",
    TUNELOOP_ENDPOINTS: JSON.stringify({
      "gpu-box": {
        baseUrl: fake.baseUrl,
        kind: "vllm",
        adapterDir,
        maxLoras: 2,
        maxLoraRank: 16,
        gpuHourUsd: 2.4,
        concurrency: 4,
        ...endpoint,
      },
      ...others,
    }),
    TUNELOOP_TRAINER_COMMAND: `"${process.execPath}" ${path.join(repoRoot, "test", "fakes", "trainer.mjs")}`,
    TUNELOOP_TRAINER_GRACE_MS: "2000",
    ...extra,
  });
}

/** Uploads the colour task, splits it and makes experiment `exp` (through the CLI). */
export async function seedCli(env: NodeJS.ProcessEnv, budget?: number, baseline?: string) {
  const file = writeTask(tmpDir("sh-task"), 80);
  for (const args of [
    ["dataset", "upload", file, "task"],
    ["dataset", "split", "task", "--eval", "25%", "--seed", "1"],
    [
      "experiment",
      "new",
      "exp",
      "--eval",
      "task-eval",
      "--metric",
      "exact",
      ...(budget ? ["--budget", String(budget)] : []),
      ...(baseline ? ["--baseline", baseline] : []),
    ],
  ]) {
    const r = await runCliInProcess(args, env);
    assert.equal(r.code, 0, `${args.join(" ")}\n${r.stdout}\n${r.stderr}`);
  }
}

interface RunJson {
  run: {
    id: number;
    state: string;
    provider: string;
    baseModel: string;
    tunedModel: string;
    jobId: string;
    stateReason: string | null;
    result: { tunedModelId: string; trainingTokens: number; usd: number; wallMs: number; steps: number };
    estimate: { trainingUsd: number; evalUsd: number; totalUsd: number; trainingBasis?: string };
  };
  evals: Array<{ model: string; role: string; mean: number; n: number; usd: number | null }>;
  cost: { trainingUsd: number; evalUsd: number };
}

/** A load or unload that names an adapter (not the empty probe of the route made before training). */
const isLoad = (body: unknown) => typeof (body as { lora_name?: unknown } | null)?.lora_name === "string";

describe("selfhosted through the CLI", () => {
  let fake: FakeVllm;
  let cloud: FakeEndpoint;
  before(async () => {
    cloud = await startFakeOpenAI({ answer: (m) => answerFor(lastUser(m)) });
    fake = await startFakeVllm({
      base: BASE,
      maxLoras: 2,
      maxLoraRank: 16,
      answer: (_model, adapter, m) => (adapter ? answerFor(lastUser(m)) : "I don't know"),
    });
  });
  after(async () => {
    await fake?.close();
    await cloud?.close();
  });

  test("run start --provider selfhosted --model gpu:<base>: trains, loads, evaluates, books GPU hours", async () => {
    const dataDir = tmpDir("sh-cli");
    const adapterDir = tmpDir("sh-adapters");
    // a hosted baseline priced per token, to read the tuned adapter's cost per 1,000 requests beside
    const env = selfhostedEnv(
      dataDir,
      fake,
      adapterDir,
      {},
      {},
      {
        cloud: { baseUrl: cloud.baseUrl, prices: { "*": { inputPer1M: 2, outputPer1M: 8 } } },
      },
    );
    await seedCli(env, 10, "cloud:big-model");
    const r = await runCliJsonInProcess<RunJson>(
      [
        "run",
        "start",
        "task-train",
        "--experiment",
        "exp",
        "--provider",
        "selfhosted",
        "--model",
        `gpu:${BASE}`,
        "--yes",
        "--wait",
      ],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const { run, evals, cost } = r.json;
    assert.equal(run.state, "succeeded", run.stateReason ?? "");
    assert.equal(run.provider, "selfhosted");
    assert.equal(run.baseModel, BASE);
    assert.match(run.result.tunedModelId, /^gpu:tl-r1-[0-9a-f]{8}$/);
    const adapter = run.result.tunedModelId.slice(4);
    // the PEFT folder under its final name, nothing partial left
    assert.deepEqual(fs.readdirSync(adapterDir), [adapter]);
    assert.deepEqual(fs.readdirSync(path.join(adapterDir, adapter)).sort(), [
      "adapter_config.json",
      "adapter_model.safetensors",
    ]);
    // loaded into vLLM, warmed up once before the eval's timed requests, and the tuned model answered
    assert.equal(fake.loaded.get(adapter), path.join(adapterDir, adapter));
    const chats = fake.chats.filter((c) => c.adapter === adapter);
    const evalRows = evals.find((e) => e.role === "tuned");
    assert.ok(evalRows);
    assert.equal(evalRows.mean, 1, "the tuned adapter answered every row right");
    assert.equal(evals.find((e) => e.role === "base")?.mean, 0);
    assert.equal(evals.find((e) => e.role === "base")?.model, `selfhosted:${BASE}`);
    // loads that name an adapter (each CLI call's app also asks the route once, with an empty body, before training)
    const loads = fake.calls.filter((c) => c.path === "/v1/load_lora_adapter" && isLoad(c.body));
    assert.equal(loads.length, 1);
    assert.equal(chats.length, 20 + 1, "20 eval rows and one warm-up request");
    // cost: the training's wall time in GPU hours at $2.40/h, evals by request time, all booked
    const expected = (run.result.wallMs / 3_600_000) * 2.4;
    assert.ok(Math.abs(run.result.usd - expected) < 2e-6, `${run.result.usd} vs ${expected}`);
    assert.ok(Math.abs(cost.trainingUsd - run.result.usd) < 2e-6, `booked ${cost.trainingUsd}`);
    assert.ok(cost.evalUsd > 0, "eval request time booked");
    assert.ok(run.estimate.trainingUsd > 0 && run.estimate.totalUsd >= run.estimate.trainingUsd);
    assert.match(run.estimate.trainingBasis ?? "", /GPU hours .*at \$2\.40\/h/);
    assert.ok(run.result.steps > 0 && run.result.trainingTokens > 0);
    // the text card names the tuned model and the cost per 1,000 requests
    const shown = await runCliInProcess(["run", "show", "1"], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`selfhosted:${BASE} -> run:1 \\(gpu:${adapter}\\)`));
    assert.match(
      shown.stdout,
      /Estimate +training \$[\d.]+ \([\d.]+ GPU hours .*at \$2\.40\/h; [\d,]+ tokens over 3 epochs\)/,
    );
    // the verdict puts the adapter's cost per 1,000 requests beside the hosted baseline's
    // the next run's estimate learns this run's speed instead of the cautious first guess
    const next = await runCliJsonInProcess<{
      run: { id: number; estimate: { wallSource: string | null; trainingBasis?: string } };
    }>(
      [
        "run",
        "start",
        "task-train",
        "--experiment",
        "exp",
        "--provider",
        "selfhosted",
        "--model",
        `gpu:${BASE}`,
        "--seed",
        "2",
      ],
      env,
    );
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.json.run.estimate.wallSource ?? "", /from 1 earlier run of Qwen\/Qwen2\.5-0\.5B-Instruct/);
    assert.doesNotMatch(next.json.run.estimate.trainingBasis ?? "", /cautious guess/);
    assert.equal((await runCliInProcess(["run", "cancel", String(next.json.run.id)], env)).code, 0);
    const board = await runCliInProcess(["leaderboard", "exp"], env);
    // the leaderboard puts the adapter's cost per 1,000 requests (its GPU time) beside the hosted baseline's
    assert.match(board.stdout, /cloud:big-model +baseline .* \$0\.04\n/);
    assert.match(board.stdout, /run:1 +tuned .* \$0\.0\d+\n/);
    const tunedUsd = evals.find((e) => e.role === "tuned")?.usd ?? 0;
    assert.ok(tunedUsd > 0 && tunedUsd < 0.001, `tuned eval booked ${tunedUsd}`);
  });

  test("refusals at estimate time name the setting and leave nothing loaded or written", async () => {
    const dataDir = tmpDir("sh-refuse");
    const adapterDir = tmpDir("sh-refuse-adapters");
    const env = selfhostedEnv(dataDir, fake, adapterDir);
    await seedCli(env);
    const loadsBefore = fake.calls.filter((c) => c.path.endsWith("load_lora_adapter") && isLoad(c.body)).length;
    const start = (...extra: string[]) =>
      runCliInProcess(
        ["run", "start", "task-train", "--experiment", "exp", "--provider", "selfhosted", "--yes", ...extra],
        env,
      );

    const rank = await start("--model", `gpu:${BASE}`, "--lora-rank", "32");
    assert.equal(rank.code, 1);
    assert.match(rank.stderr, /LoRA rank 32 is over what gpu-box loads: its maxLoraRank is 16/);
    assert.match(rank.stderr, /--lora-rank 16 or lower \(tuneloop's side\)/);
    assert.match(rank.stderr, /--max-lora-rank 32 and set "maxLoraRank": 32/);

    const odd = await start("--model", `gpu:${BASE}`, "--lora-rank", "12");
    assert.equal(odd.code, 1);
    assert.match(
      odd.stderr,
      /LoRA rank 12 cannot be loaded by vLLM: it loads ranks 1, 8, 16, 32, 64, 128, 256, 320, 512/,
    );

    const other = await start("--model", "gpu:meta-llama/Llama-3.2-1B-Instruct");
    assert.equal(other.code, 1);
    assert.match(other.stderr, new RegExp(`does not serve meta-llama/Llama-3.2-1B-Instruct: it serves ${BASE}`));

    // the estimate (GPU hours) is reserved against the experiment's budget like any provider's
    const budget = await runCliInProcess(["experiment", "budget", "exp", "0.01"], env);
    assert.equal(budget.code, 0, budget.stderr);
    const over = await start("--model", `gpu:${BASE}`);
    assert.equal(over.code, 1);
    assert.match(over.stderr, /This run is estimated at \$[\d.]+, over what is left of exp's budget/);

    const list = await runCliJsonInProcess<Array<unknown>>(["run", "list"], env);
    assert.equal(list.json.length, 0, "no run was created");
    assert.deepEqual(fs.readdirSync(adapterDir), []);
    assert.equal(fake.calls.filter((c) => c.path.endsWith("load_lora_adapter") && isLoad(c.body)).length, loadsBefore);
  });
});

describe("selfhosted: a server with run-time loading off", () => {
  test("run start is refused before anything trains, naming VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; no run is made", async () => {
    const off = await startFakeVllm({ base: BASE, runtimeLoading: false });
    try {
      const dataDir = tmpDir("sh-off");
      const adapterDir = tmpDir("sh-off-adapters");
      const env = selfhostedEnv(dataDir, off, adapterDir);
      await seedCli(env);
      const r = await runCliInProcess(
        [
          "run",
          "start",
          "task-train",
          "--experiment",
          "exp",
          "--provider",
          "selfhosted",
          "--model",
          `gpu:${BASE}`,
          "--yes",
          "--wait",
        ],
        env,
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /run-time adapter loading is off/);
      assert.match(r.stderr, /VLLM_ALLOW_RUNTIME_LORA_UPDATING=True/);
      const list = await runCliJsonInProcess<Array<unknown>>(["run", "list"], env);
      assert.equal(list.json.length, 0, "no run was created");
      assert.deepEqual(fs.readdirSync(adapterDir), [], "nothing was trained");
      assert.equal(off.loaded.size, 0);
    } finally {
      await off.close();
    }
  });
});

describe("serve bench through the CLI", () => {
  test("base alone, then N adapters mixed: tokens/s, p50/p95, the ratio, a PNG; the server left as it was", async () => {
    // each request takes 20 ms on the base, 200 ms through an adapter: the mixed phase is slower by far more than a
    // busy machine's noise (at 20 ms against 30 ms a scheduling hiccup in the base phase gave a ratio over 1)
    const bench = await startFakeVllm({
      base: BASE,
      maxLoras: 4,
      latencyMs: 20,
      adapterLatencyMs: 180,
      answer: () => "a b c d e f g h",
    });
    try {
      const dataDir = tmpDir("sh-bench");
      const adapterDir = tmpDir("sh-bench-adapters");
      // one trained adapter on disk: the bench loads it under 3 names
      const d = path.join(adapterDir, "tl-r1-0000000a");
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 8 }));
      const header = Buffer.from("{}");
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(header.length));
      fs.writeFileSync(path.join(d, "adapter_model.safetensors"), Buffer.concat([len, header]));
      const env = selfhostedEnv(dataDir, bench, adapterDir, {}, { maxLoras: 4 });
      const r = await runCliJsonInProcess<{
        ratio: number;
        chart: string;
        phases: Array<{ label: string; tokensPerSec: number; p50Ms: number; p95Ms: number; requests: number }>;
      }>(["serve", "bench", "gpu-box", "--adapters", "3", "--requests", "24", "--concurrency", "4"], env);
      assert.equal(r.code, 0, r.stderr);
      const [alone, mixed] = r.json.phases;
      assert.equal(alone.label, "base");
      assert.equal(mixed.label, "3 adapters");
      assert.ok(alone.p50Ms >= 20 && mixed.p50Ms >= 200, `${alone.p50Ms} / ${mixed.p50Ms}`);
      assert.ok(r.json.ratio > 0 && r.json.ratio < 1, `ratio ${r.json.ratio}`);
      assert.ok(Math.abs(r.json.ratio - mixed.tokensPerSec / alone.tokensPerSec) < 1e-9);
      const png = fs.readFileSync(r.json.chart);
      assert.equal(png.subarray(1, 4).toString(), "PNG");
      // three names were used in one mixed stream, and unloaded after
      const used = new Set(bench.chats.filter((c) => c.adapter).map((c) => c.adapter));
      assert.equal(used.size, 3);
      assert.equal(bench.loaded.size, 0);
      const text = await runCliInProcess(["serve", "bench", "gpu-box", "--adapters", "5"], env);
      assert.equal(text.code, 1);
      assert.match(text.stderr, /--adapters 5 is over gpu-box's maxLoras 4/);
    } finally {
      await bench.close();
    }
  });
});

describe("tuneloop worker", () => {
  test("a bad option or an unknown trainer: exit 1, the usage or the setting named on stderr, nothing started", async () => {
    const gpu = await startFakeVllm({ base: BASE });
    try {
      const env = selfhostedEnv(tmpDir("sh-worker-usage"), gpu, tmpDir("sh-worker-usage-adapters"));
      const bad = await runCliInProcess(["worker", "--bogus"], env);
      assert.equal(bad.code, 1);
      assert.equal(bad.stdout, "");
      assert.match(
        bad.stderr,
        /^Unknown option --bogus\. Usage: npx tuneloop worker \[--providers selfhosted,local\]\n$/,
      );
      const none = await runCliInProcess(["worker", "--providers", "together"], { ...env, TUNELOOP_ENDPOINTS: "" });
      assert.equal(none.code, 1);
      assert.match(
        none.stderr,
        /^This worker has no trainer "together": it has local\. Set the provider's settings on this machine \(see \.env\.example\), or name only providers it has\.\n$/,
      );
      assert.equal(gpu.calls.length, 0);
    } finally {
      await gpu.close();
    }
  });

  test("a worker process takes the self-hosted runs from the shared database; the bot side leaves them", async () => {
    const gpu = await startFakeVllm({ base: BASE, answer: (_m, a, msgs) => (a ? answerFor(lastUser(msgs)) : "no") });
    const dataDir = tmpDir("sh-worker");
    const env = selfhostedEnv(dataDir, gpu, tmpDir("sh-worker-adapters"), { TUNELOOP_SELFHOSTED_WORKER: "external" });
    await seedCli(env);
    const worker = spawn(process.execPath, [path.join(repoRoot, "bin", "tuneloop.mjs"), "worker"], {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    worker.stdout.on("data", (c) => {
      out += c;
    });
    worker.stderr.on("data", (c) => {
      out += c;
    });
    try {
      // this process (the bot's side, TUNELOOP_SELFHOSTED_WORKER=external) only waits: the worker trains and evaluates
      const r = await runCliJsonInProcess<RunJson>(
        [
          "run",
          "start",
          "task-train",
          "--experiment",
          "exp",
          "--provider",
          "selfhosted",
          "--model",
          `gpu:${BASE}`,
          "--yes",
          "--wait",
        ],
        env,
      );
      assert.equal(r.json.run.state, "succeeded", `${r.json.run.stateReason}\n${out}`);
      assert.match(out, /tuneloop worker: running queued selfhosted runs/);
      const events = await runCliJsonInProcess<{ events?: unknown }>(["run", "show", "1"], env);
      assert.equal(events.code, 0);
    } finally {
      const exited = new Promise((resolve) => worker.once("exit", resolve));
      worker.kill("SIGTERM");
      assert.equal(await exited, 0, out);
      await gpu.close();
    }
    assert.match(out, /stopped\./);
  });
});
