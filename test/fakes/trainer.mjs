#!/usr/bin/env node
/**
 * A fake trainer that follows tuneloop's trainer contract (docs/selfhosted.md): reads the job file named by its one
 * argument, writes {"event":"progress",...} lines on stdout, a small PEFT-format adapter (adapter_config.json +
 * adapter_model.safetensors with lora_A/lora_B tensors of the job's rank) into the job's outputDir, then
 * {"event":"done",...}. Log lines go to stderr (and one plain line to stdout, which is log too).
 *
 * FAKE_TRAINER_MODE: ok (default) | fail (an error event after two steps) | crash (dies without an event) |
 * slow (a step every FAKE_TRAINER_STEP_MS, default 200, for cancel tests; SIGTERM ends it) |
 * stubborn (slow, and ignores SIGTERM: only SIGKILL stops it).
 * FAKE_TRAINER_PID_FILE: the trainer writes its pid there once started (for tests to find it).
 */
import fs from "node:fs";
import path from "node:path";

const mode = process.env.FAKE_TRAINER_MODE ?? "ok";
const jobFile = process.argv[2];
const job = JSON.parse(fs.readFileSync(jobFile, "utf8"));
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const log = (s) => process.stderr.write(`${s}\n`);
if (process.env.FAKE_TRAINER_PID_FILE) fs.writeFileSync(process.env.FAKE_TRAINER_PID_FILE, String(process.pid));

if (mode === "stubborn") process.on("SIGTERM", () => log("SIGTERM ignored"));
else
  process.on("SIGTERM", () => {
    log("SIGTERM: stopping");
    process.exit(143);
  });

const rows = fs.readFileSync(job.trainFile, "utf8").split("\n").filter(Boolean);
for (const l of rows) {
  const r = JSON.parse(l);
  if (!Array.isArray(r.messages) || !r.messages.some((m) => m.role === "assistant")) {
    say({ event: "error", message: `a training row has no assistant message: ${l.slice(0, 80)}` });
    process.exit(1);
  }
}
const h = job.hyper;
const stepsPerEpoch = Math.ceil(rows.length / h.batchSize);
const slow = mode === "slow" || mode === "stubborn";
const totalSteps = slow ? 100_000 : stepsPerEpoch * h.epochs;
const stepMs = slow ? Number(process.env.FAKE_TRAINER_STEP_MS ?? 200) : 0;
const tokensPerRow = Math.round(rows.reduce((n, l) => n + l.length / 4, 0) / Math.max(1, rows.length));
log(`fake trainer: ${job.baseModel}, ${rows.length} rows, ${totalSteps} steps, rank ${h.loraRank}`);
process.stdout.write("loading the base model (a plain stdout line: part of the log)\n");
fs.mkdirSync(job.outputDir, { recursive: true });
fs.writeFileSync(path.join(job.outputDir, "partial-checkpoint.bin"), "partial");

const t0 = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let step = 1; step <= totalSteps; step++) {
  if (stepMs) await sleep(stepMs);
  if (mode === "fail" && step === 3) {
    log("Traceback (most recent call last):");
    log("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB");
    say({ event: "error", message: "CUDA out of memory. Tried to allocate 2.00 GiB" });
    process.exit(1);
  }
  if (mode === "crash" && step === 2) {
    log("Segmentation fault (core dumped)");
    process.exit(139);
  }
  say({
    event: "progress",
    step,
    totalSteps,
    loss: 2.5 / Math.sqrt(step),
    tokensPerSecond: 1000 + step,
  });
}

// A PEFT adapter: adapter_config.json and a safetensors file (8-byte header length, JSON header, raw tensors).
const hidden = 64;
const r = h.loraRank;
const tensors = {};
const parts = [];
let offset = 0;
for (const mod of ["q_proj", "v_proj"]) {
  for (const [ab, shape] of [
    ["lora_A", [r, hidden]],
    ["lora_B", [hidden, r]],
  ]) {
    const n = shape[0] * shape[1];
    const data = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) data.writeFloatLE(ab === "lora_A" ? Math.sin(i) / 10 : 0, i * 4);
    tensors[`base_model.model.model.layers.0.self_attn.${mod}.${ab}.weight`] = {
      dtype: "F32",
      shape,
      data_offsets: [offset, offset + data.length],
    };
    parts.push(data);
    offset += data.length;
  }
}
const header = Buffer.from(JSON.stringify({ __metadata__: { format: "pt" }, ...tensors }));
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(header.length));
fs.rmSync(path.join(job.outputDir, "partial-checkpoint.bin"));
fs.writeFileSync(path.join(job.outputDir, "adapter_model.safetensors"), Buffer.concat([len, header, ...parts]));
fs.writeFileSync(
  path.join(job.outputDir, "adapter_config.json"),
  JSON.stringify(
    {
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      base_model_name_or_path: job.baseModel,
      r,
      lora_alpha: h.loraAlpha,
      lora_dropout: h.loraDropout,
      target_modules: ["q_proj", "v_proj"],
      bias: "none",
    },
    null,
    2,
  ),
);
say({
  event: "done",
  adapterDir: job.outputDir,
  trainTokens: tokensPerRow * rows.length * h.epochs,
  seconds: (Date.now() - t0) / 1000,
});
