/**
 * Worker-thread entry of the local trainer: owns one tfjs (wasm) instance and the model, and runs the jobs that
 * LocalTrainerClient sends, one at a time, in arrival order:
 *   { type: "train", id, spec: { examples, hyper, adapterDir }, stop: SharedArrayBuffer }  -> progress..., result
 *   { type: "generate", id, prompts, opts: { adapterDir?, maxTokens, temperature?, topP?, seed? } } -> result
 * Failures come back as { type: "error", id, error: { message, code? } }; a stopped training run as code "cancelled".
 * The stop flag is shared memory (Int32Array[0] = 1 means stop), read between steps, so a cancel lands within one
 * step even though the training loop keeps this thread busy.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadAdapter, saveAdapter } from "./adapter.ts";
import { generate } from "./generate.ts";
import { MODEL_NAME } from "./model-files.ts";
import type { LocalBackend } from "./tf.ts";
import { finalLoss, loadModel, type TrainExample, type TrainHyper, trainLora } from "./train.ts";
import { ErrorCode } from "../../errors.ts";

const port = parentPort;
if (!port) throw new Error("local trainer worker must run in a worker thread");
const { modelDir, backend } = workerData as { modelDir: string; backend?: LocalBackend };

let loaded: ReturnType<typeof loadModel> | null = null;
const getModel = () => {
  if (!loaded) {
    const p = loadModel(modelDir, backend ?? "wasm");
    // A failed load is retried by the next job.
    p.catch(() => {
      if (loaded === p) loaded = null;
    });
    loaded = p;
  }
  return loaded;
};

interface TrainMessage {
  type: "train";
  id: number;
  spec: { examples: TrainExample[]; validation?: TrainExample[]; hyper: TrainHyper; adapterDir: string };
  stop: SharedArrayBuffer;
}
interface GenerateMessage {
  type: "generate";
  id: number;
  prompts: string[];
  opts: { adapterDir?: string; maxTokens: number; temperature?: number; topP?: number; seed?: number };
}
type Message = TrainMessage | GenerateMessage;

async function runTrain(msg: TrainMessage): Promise<void> {
  const stop = new Int32Array(msg.stop);
  if (Atomics.load(stop, 0) !== 0) throw Object.assign(new Error("cancelled"), { code: ErrorCode.Cancelled });
  const { model, tokenizer } = await getModel();
  const { examples, validation, hyper, adapterDir } = msg.spec;
  const res = await trainLora({
    model,
    tokenizer,
    examples,
    validation,
    hyper,
    onProgress: (progress) => port?.postMessage({ type: "progress", id: msg.id, progress }),
    shouldStop: () => Atomics.load(stop, 0) !== 0,
  });
  if (res.stopped) throw Object.assign(new Error(`cancelled after ${res.steps} steps`), { code: ErrorCode.Cancelled });
  const fl = finalLoss(res.losses);
  saveAdapter(adapterDir, res.adapter, {
    baseName: MODEL_NAME,
    baseSha256: model.sha256,
    baseConfig: model.config,
    training: {
      hyper,
      examples: examples.length,
      steps: res.steps,
      tokens: res.tokens,
      wallMs: Math.round(res.wallMs),
      finalLoss: fl,
      losses: res.losses,
    },
  });
  port?.postMessage({
    type: "result",
    id: msg.id,
    result: { adapterDir, steps: res.steps, tokens: res.tokens, finalLoss: fl, losses: res.losses, wallMs: res.wallMs },
  });
}

async function runGenerate(msg: GenerateMessage): Promise<void> {
  const { model, tokenizer } = await getModel();
  let adapter = null;
  if (msg.opts.adapterDir) {
    const loadedAdapter = loadAdapter(msg.opts.adapterDir);
    if (loadedAdapter.meta.baseModel.sha256 !== model.sha256) {
      throw Object.assign(
        new Error(
          `the adapter in ${msg.opts.adapterDir} was trained on another base model (sha256 ${loadedAdapter.meta.baseModel.sha256.slice(0, 12)}…, this one is ${model.sha256.slice(0, 12)}…)`,
        ),
        { code: ErrorCode.LocalAdapterMismatch },
      );
    }
    adapter = loadedAdapter.adapter;
  }
  const out = generate(model, tokenizer, msg.prompts, adapter, msg.opts);
  port?.postMessage({
    type: "result",
    id: msg.id,
    result: out.map((g) => ({
      text: g.text,
      promptTokens: g.promptTokens,
      completionTokens: g.completionTokens,
      latencyMs: g.latencyMs,
      finishReason: g.finishReason,
    })),
  });
}

let queue: Promise<void> = Promise.resolve();
port.on("message", (msg: Message) => {
  queue = queue.then(async () => {
    try {
      if (msg.type === "train") await runTrain(msg);
      else if (msg.type === "generate") await runGenerate(msg);
      else throw new Error(`unknown message ${(msg as { type?: string }).type}`);
    } catch (err) {
      const e = err as Error & { code?: unknown };
      port.postMessage({
        type: "error",
        id: msg.id,
        error: {
          message: e.message ?? String(err),
          code: typeof e.code === "string" ? e.code : undefined,
          stack: e.stack,
        },
      });
    }
  });
});
