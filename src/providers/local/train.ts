/**
 * LoRA fine-tuning of a llama2.c checkpoint on prompt/completion pairs (tfjs, normally on the wasm backend).
 *
 * Each example becomes [BOS] + encode(prompt) + encode(completion) + [EOS]: both parts are encoded separately, each
 * with llama2.c's dummy-prefix space, so the completion starts as a new word (" sad"), and generate() encodes the
 * prompt the same way and strips that one leading space from what it generates: training and inference see the
 * same tokens, and a generated answer comes back exactly as the completion was written. The loss is the mean
 * cross-entropy over the completion tokens and the EOS only; sequences are right-padded (safe with causal
 * attention). Optimiser: Adam (beta1 0.9, beta2 0.999, eps 1e-8) at a constant learning rate, gradients clipped to a
 * global norm of 1. Everything random (the LoRA init and the per-epoch shuffles) comes from `seed`, so a run is
 * reproducible on the same backend.
 */
import path from "node:path";
import type * as TF from "@tensorflow/tfjs-core";
import { readCheckpoint } from "./checkpoint.ts";
import { CHECKPOINT_FILE, TOKENIZER_FILE } from "./model-files.ts";
import {
  initLora,
  LlamaModel,
  LORA_TARGETS,
  type LoraTarget,
  type LoraWeights,
  type TrainBatchTensors,
} from "./model.ts";
import { batchPlan } from "./batches.ts";
import { mulberry32 } from "./rng.ts";
import { initTf, type LocalBackend, tf } from "./tf.ts";
import { BOS, EOS, Tokenizer } from "./tokenizer.ts";
import { ErrorCode } from "../../errors.ts";

export interface TrainExample {
  prompt: string;
  completion: string;
}

export interface TrainHyper {
  epochs: number;
  learningRate: number;
  batchSize: number;
  loraRank: number;
  loraAlpha: number;
  seed: number;
  /** Longest training sequence in tokens (default: the model's context, 512). Longer examples lose the start of their prompt. */
  maxSeqLen?: number;
  /** Adapted projections (default all: wq, wk, wv, wo, output). */
  targets?: LoraTarget[];
}

export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  /** Mean loss (nats per scored token) of this step's batch. */
  loss: number;
  /** Tokens (non-padding inputs) per second since the start. */
  tokensPerSec: number;
  /** Tokens processed so far. */
  tokens: number;
  elapsedMs: number;
  /**
   * Mean loss (nats per scored token) over the validation examples, on the progress of the last step of each epoch,
   * and on a step-0 progress before training (loss NaN there: no training step yet). Only with validation examples.
   */
  validLoss?: number;
}

export interface TrainOptions {
  /** Folder with stories260K.bin and tok512.bin (or pass model + tokenizer). */
  modelDir?: string;
  model?: LlamaModel;
  tokenizer?: Tokenizer;
  backend?: LocalBackend;
  examples: readonly TrainExample[];
  /** Held-out examples for validation loss (the first VALIDATION_MAX_EXAMPLES are used). */
  validation?: readonly TrainExample[];
  hyper: TrainHyper;
  onProgress?: (p: TrainProgress) => void;
  /** Polled before every step; true stops the run (the result then has stopped: true). */
  shouldStop?: () => boolean;
}

export interface TrainResult {
  adapter: LoraWeights;
  steps: number;
  tokens: number;
  losses: number[];
  wallMs: number;
  stopped: boolean;
}

/** One tokenised example: input ids (without the last token) and the index of the first scored position. */
export interface EncodedExample {
  ids: number[];
  /** Positions t >= firstScored predict ids[t + 1] (completion tokens and EOS). */
  firstScored: number;
}

export function encodeExample(tokenizer: Tokenizer, ex: TrainExample, maxSeqLen: number): EncodedExample {
  const prompt = tokenizer.encode(ex.prompt, { bos: true });
  let completion = [...tokenizer.encode(ex.completion), EOS];
  // The model sees ids[0..n-2] and predicts ids[1..n-1]: n - 1 inputs.
  const maxIds = maxSeqLen + 1;
  if (completion.length > maxIds - 1) completion = completion.slice(0, maxIds - 1);
  let p = prompt;
  if (p.length + completion.length > maxIds)
    p = [BOS, ...prompt.slice(prompt.length - (maxIds - completion.length - 1))];
  const ids = [...p, ...completion];
  return { ids, firstScored: p.length - 1 };
}

export async function loadModel(
  modelDir: string,
  backend: LocalBackend = "wasm",
): Promise<{ model: LlamaModel; tokenizer: Tokenizer }> {
  await initTf(backend);
  const ckpt = readCheckpoint(path.join(modelDir, CHECKPOINT_FILE));
  const tokenizer = Tokenizer.fromFile(path.join(modelDir, TOKENIZER_FILE), ckpt.config.vocabSize);
  return { model: new LlamaModel(ckpt), tokenizer };
}

/** Builds the constant tensors of one batch (call inside a tidy). */
export function batchTensors(
  batch: readonly EncodedExample[],
  vocabSize: number,
): { tensors: TrainBatchTensors; tokens: number } {
  const B = batch.length;
  const T = Math.max(...batch.map((e) => e.ids.length - 1));
  const tokens = new Int32Array(B * T);
  const lengths = new Int32Array(B);
  const rows: number[] = [];
  const targets: number[] = [];
  let count = 0;
  batch.forEach((e, b) => {
    const n = e.ids.length - 1;
    lengths[b] = n;
    count += n;
    for (let t = 0; t < n; t++) {
      tokens[b * T + t] = e.ids[t];
      if (t >= e.firstScored) {
        rows.push(b * T + t);
        targets.push(e.ids[t + 1]);
      }
    }
  });
  const M = rows.length;
  const rowsT = new Float32Array(B * T * M);
  rows.forEach((r, j) => {
    rowsT[r * M + j] = 1;
  });
  const onehot = new Float32Array(M * vocabSize);
  targets.forEach((t, j) => {
    onehot[j * vocabSize + t] = 1;
  });
  return {
    tokens: count,
    tensors: {
      B,
      T,
      lengths,
      tokens: tf.tensor1d(tokens, "int32"),
      rows: tf.tensor1d(Int32Array.from(rows), "int32"),
      rowList: Int32Array.from(rows),
      rowsT: tf.tensor2d(rowsT, [B * T, M]),
      targets: tf.tensor2d(onehot, [M, vocabSize]),
      weights: tf.fill([M, 1], 1 / M) as TF.Tensor2D,
    },
  };
}

/** Loss and gradients (A0, B0, A1, B1, ...) of one batch. */
export function lossAndGrads(
  model: LlamaModel,
  lora: LoraWeights,
  batch: readonly EncodedExample[],
): { loss: number; grads: Float32Array[]; tokens: number } {
  const r = lora.config.rank;
  return tf.tidy(() => {
    const { tensors, tokens } = batchTensors(batch, model.config.vocabSize);
    const params = lora.matrices.flatMap((m) => [tf.tensor2d(m.a, [m.inDim, r]), tf.tensor2d(m.b, [r, m.outDim])]);
    const { value, grads } = tf.valueAndGrads(model.lossFn(tensors, lora))(params);
    const loss = value.dataSync()[0];
    return { loss, grads: grads.map((g) => g.dataSync() as Float32Array), tokens };
  });
}

/** Mean per-token loss of the completions (no gradients), e.g. to check the forward pass. */
export function evalLoss(model: LlamaModel, lora: LoraWeights | null, batch: readonly EncodedExample[]): number {
  const empty: LoraWeights = lora ?? { config: { rank: 1, alpha: 1, targets: [] }, matrices: [] };
  const r = empty.config.rank;
  return tf.tidy(() => {
    const { tensors } = batchTensors(batch, model.config.vocabSize);
    const params = empty.matrices.flatMap((m) => [tf.tensor2d(m.a, [m.inDim, r]), tf.tensor2d(m.b, [r, m.outDim])]);
    return model
      .lossFn(
        tensors,
        empty,
      )(...params)
      .dataSync()[0];
  });
}

/** Validation loss is computed on at most this many held-out examples (in batches of the training batch size). */
export const VALIDATION_MAX_EXAMPLES = 256;

/** Token-weighted mean loss of the completions of `examples` (no gradients), in batches of `batchSize`. */
export function datasetLoss(
  model: LlamaModel,
  lora: LoraWeights | null,
  examples: readonly EncodedExample[],
  batchSize: number,
): number {
  let sum = 0;
  let weight = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = examples.slice(i, i + batchSize);
    const scored = batch.reduce((a, e) => a + (e.ids.length - 1 - e.firstScored), 0);
    sum += evalLoss(model, lora, batch) * scored;
    weight += scored;
  }
  return weight ? sum / weight : Number.NaN;
}

/** Mean loss of the last few steps (default 5): a steadier "final loss" than one batch's. NaN without steps. */
export function finalLoss(losses: readonly number[], window = 5): number {
  if (losses.length === 0) return Number.NaN;
  const tail = losses.slice(-window);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
}

export async function trainLora(opts: TrainOptions): Promise<TrainResult> {
  const h = opts.hyper;
  validateHyper(h);
  if (opts.examples.length === 0) throw new Error("no training examples");
  let model = opts.model;
  let tokenizer = opts.tokenizer;
  let owned = false;
  if (!model || !tokenizer) {
    if (!opts.modelDir) throw new Error("trainLora needs modelDir or model + tokenizer");
    ({ model, tokenizer } = await loadModel(opts.modelDir, opts.backend));
    owned = true;
  } else {
    await initTf(opts.backend);
  }
  try {
    return await trainLoop(model, tokenizer, opts);
  } finally {
    if (owned) model.dispose();
  }
}

function validateHyper(h: TrainHyper): void {
  const positiveInt = (v: number, name: string) => {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer (got ${v})`);
  };
  positiveInt(h.epochs, "epochs");
  positiveInt(h.batchSize, "batchSize");
  positiveInt(h.loraRank, "loraRank");
  if (!(h.learningRate > 0) || !Number.isFinite(h.learningRate))
    throw new Error(`learningRate must be > 0 (got ${h.learningRate})`);
  if (!(h.loraAlpha > 0) || !Number.isFinite(h.loraAlpha))
    throw new Error(`loraAlpha must be > 0 (got ${h.loraAlpha})`);
  if (!Number.isInteger(h.seed)) throw new Error(`seed must be an integer (got ${h.seed})`);
  if (h.maxSeqLen !== undefined) positiveInt(h.maxSeqLen, "maxSeqLen");
  for (const t of h.targets ?? []) if (!LORA_TARGETS.includes(t)) throw new Error(`unknown LoRA target ${t}`);
}

/**
 * Why a step's loss means the run has diverged, or null: a loss that is not a finite number, or one more than 10x
 * the first step's (a cross-entropy that high above where it started never comes back down into a useful model).
 */
export function divergence(loss: number, first: number | undefined): string | null {
  if (!Number.isFinite(loss)) return `loss ${loss}`;
  if (first !== undefined && first > 0 && loss > 10 * first)
    return `loss ${loss.toFixed(2)}, more than 10x the first step's ${first.toFixed(2)}`;
  return null;
}

async function trainLoop(model: LlamaModel, tokenizer: Tokenizer, opts: TrainOptions): Promise<TrainResult> {
  const h = opts.hyper;
  const cfg = model.config;
  const maxSeqLen = Math.min(h.maxSeqLen ?? cfg.seqLen, cfg.seqLen);
  const encoded = opts.examples.map((ex) => encodeExample(tokenizer, ex, maxSeqLen));
  const initRand = mulberry32(h.seed >>> 0);
  const lora = initLora(
    cfg,
    { rank: h.loraRank, alpha: h.loraAlpha, targets: h.targets ?? [...LORA_TARGETS] },
    initRand,
  );
  const params: Float32Array[] = lora.matrices.flatMap((m) => [m.a, m.b]);
  const m1 = params.map((p) => new Float32Array(p.length));
  const m2 = params.map((p) => new Float32Array(p.length));
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const maxNorm = 1;
  const stepsPerEpoch = Math.ceil(encoded.length / h.batchSize);
  const totalSteps = stepsPerEpoch * h.epochs;
  const losses: number[] = [];
  let tokens = 0;
  let step = 0;
  let stopped = false;
  const t0 = performance.now();
  const validation = (opts.validation ?? [])
    .slice(0, VALIDATION_MAX_EXAMPLES)
    .map((ex) => encodeExample(tokenizer, ex, maxSeqLen));
  const validLoss = () => (validation.length ? datasetLoss(model, lora, validation, h.batchSize) : undefined);
  if (validation.length) {
    // before the first step: the base model's loss on the held-out rows, where the validation curve starts
    opts.onProgress?.({
      step: 0,
      totalSteps,
      epoch: 0,
      loss: Number.NaN,
      tokensPerSec: 0,
      tokens: 0,
      elapsedMs: 0,
      validLoss: validLoss(),
    });
  }
  const plan = batchPlan(encoded.length, h);
  outer: for (let epoch = 1; epoch <= h.epochs; epoch++) {
    for (let s = 0; s < stepsPerEpoch; s++) {
      if (opts.shouldStop?.()) {
        stopped = true;
        break outer;
      }
      const batch = plan[(epoch - 1) * stepsPerEpoch + s].map((i) => encoded[i]);
      const { loss, grads, tokens: n } = lossAndGrads(model, lora, batch);
      const diverged = divergence(loss, losses[0]);
      if (diverged) {
        throw Object.assign(
          new Error(`training diverged at step ${step + 1} (${diverged}); lower the learning rate (or the LoRA alpha)`),
          { code: ErrorCode.TrainingDiverged },
        );
      }
      step++;
      tokens += n;
      losses.push(loss);
      // Adam with global-norm clipping.
      let sq = 0;
      for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
      const norm = Math.sqrt(sq);
      const clip = norm > maxNorm ? maxNorm / norm : 1;
      const bc1 = 1 - beta1 ** step;
      const bc2 = 1 - beta2 ** step;
      const lr = h.learningRate;
      for (let k = 0; k < params.length; k++) {
        const p = params[k];
        const g = grads[k];
        const a = m1[k];
        const b = m2[k];
        for (let i = 0; i < p.length; i++) {
          const gi = g[i] * clip;
          a[i] = beta1 * a[i] + (1 - beta1) * gi;
          b[i] = beta2 * b[i] + (1 - beta2) * gi * gi;
          p[i] -= (lr * (a[i] / bc1)) / (Math.sqrt(b[i] / bc2) + eps);
        }
      }
      const elapsedMs = performance.now() - t0;
      const endOfEpoch = s === stepsPerEpoch - 1;
      opts.onProgress?.({
        step,
        totalSteps,
        epoch,
        loss,
        tokensPerSec: tokens / (elapsedMs / 1000),
        tokens,
        elapsedMs,
        ...(endOfEpoch && validation.length ? { validLoss: validLoss() } : {}),
      });
      // Let the event loop breathe (timers, messages) between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return { adapter: lora, steps: step, tokens, losses, wallMs: performance.now() - t0, stopped };
}
