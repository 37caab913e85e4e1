/**
 * The Llama forward pass of llama2.c checkpoints in tfjs, with LoRA adapters, for training and inference.
 *
 * Architecture (as llama2.c's run.c): token embedding, per layer RMSNorm -> q/k/v projections -> RoPE (interleaved
 * pairs, the checkpoint's freq_cis tables) -> causal grouped-query attention (n_heads query heads share n_kv_heads key
 * and value heads; head h reads kv head floor(h / (n_heads / n_kv_heads))) -> wo, residual; RMSNorm -> SwiGLU FFN
 * (w2(silu(w1 x) * w3 x)), residual; final RMSNorm; classifier (tied to the token embedding for stories260K).
 *
 * LoRA: y = x W^T + (alpha / rank) * (x A) B, with A [in, r] and B [r, out], on wq, wk, wv, wo and the classifier
 * ("output"). The classifier LoRA matters: with the classifier tied to a frozen embedding, attention-only LoRA cannot
 * learn to emit EOS (its loss stalls near 5.35 nats). Base weights are frozen.
 *
 * Speed notes (tfjs-wasm, measured on a 2-core machine): transposed and batched (rank > 2) matmuls are ~10x slower
 * than plain 2-D ones, so every weight is kept twice, as W^T [in, out] for the forward (x W^T) and as W [out, in] for
 * the input gradient (dy W), and the gradients of the linear layers, RMSNorm, SwiGLU, row selection and the loss are
 * written by hand with tf.customGrad. RoPE + attention (head size 8, where tfjs has only the slow batched path) run
 * in plain JS (attention.ts) inside a custom op. Tensors that a gradient needs go through save(): intermediates
 * captured by a closure are disposed before the backward pass (JS arrays are fine). The embedding stays frozen and
 * no gradient flows into a gather (the wasm backend lacks UnsortedSegmentSum). Only the positions that are scored
 * go through the last layer's attention output, wo, FFN and the classifier.
 */
import type * as TF from "@tensorflow/tfjs-core";
import type { Checkpoint, LlamaConfig } from "./checkpoint.ts";
import { type AttnDims, attentionBackward, attentionForward, type RopeTables, ropeRows } from "./attention.ts";
import { tf } from "./tf.ts";

export const LORA_TARGETS = ["wq", "wk", "wv", "wo", "output"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];
type LinearName = "wq" | "wk" | "wv" | "wo" | "w1" | "w2" | "w3" | "output";

export interface LoraConfig {
  rank: number;
  alpha: number;
  targets: LoraTarget[];
}

/** One adapted projection, in "x @ W" orientation: delta W^T = (alpha / rank) * A B. */
export interface LoraMatrix {
  /** "layers.<l>.<target>" or "output". */
  name: string;
  inDim: number;
  outDim: number;
  a: Float32Array; // [inDim, rank] row-major
  b: Float32Array; // [rank, outDim] row-major
}

export interface LoraWeights {
  config: LoraConfig;
  matrices: LoraMatrix[];
}

export function loraName(layer: number, target: LoraTarget): string {
  return target === "output" ? "output" : `layers.${layer}.${target}`;
}

/** The adapted projections of a model, in a fixed order (layer by layer, then the classifier). */
export function loraShapes(
  config: LlamaConfig,
  targets: readonly LoraTarget[],
): Array<{ name: string; inDim: number; outDim: number }> {
  const out: Array<{ name: string; inDim: number; outDim: number }> = [];
  const dims: Record<Exclude<LoraTarget, "output">, [number, number]> = {
    wq: [config.dim, config.dim],
    wk: [config.dim, config.kvDim],
    wv: [config.dim, config.kvDim],
    wo: [config.dim, config.dim],
  };
  for (let l = 0; l < config.nLayers; l++) {
    for (const t of ["wq", "wk", "wv", "wo"] as const) {
      if (targets.includes(t)) out.push({ name: loraName(l, t), inDim: dims[t][0], outDim: dims[t][1] });
    }
  }
  if (targets.includes("output")) out.push({ name: "output", inDim: config.dim, outDim: config.vocabSize });
  return out;
}

/** A fresh adapter: A ~ U(-1/sqrt(in), 1/sqrt(in)) from the seeded generator, B = 0 (so it starts as a no-op). */
export function initLora(config: LlamaConfig, lora: LoraConfig, rand: () => number): LoraWeights {
  const matrices = loraShapes(config, lora.targets).map(({ name, inDim, outDim }) => {
    const a = new Float32Array(inDim * lora.rank);
    const bound = 1 / Math.sqrt(inDim);
    for (let i = 0; i < a.length; i++) a[i] = (rand() * 2 - 1) * bound;
    return { name, inDim, outDim, a, b: new Float32Array(lora.rank * outDim) };
  });
  return { config: { ...lora, targets: [...lora.targets] }, matrices };
}

interface Linear {
  /** W^T [in, out]: the forward is a plain matmul x @ t. */
  t: TF.Tensor2D;
  /** W [out, in]: the input gradient is a plain matmul dy @ w. */
  w: TF.Tensor2D;
}

interface LayerTensors {
  rmsAtt: TF.Tensor1D;
  rmsFfn: TF.Tensor1D;
  wq: Linear;
  wk: Linear;
  wv: Linear;
  wo: Linear;
  w1: Linear;
  w2: Linear;
  w3: Linear;
}

const RMS_EPS = 1e-5;

/** Per-layer key/value cache for incremental decoding (JS memory; keys stored rotated). */
export interface KvCache {
  B: number;
  /** Positions each row can hold. */
  capacity: number;
  /** [B * capacity * kvDim] per layer. */
  k: Float32Array[];
  v: Float32Array[];
  /** Positions already in the cache, per row. */
  lens: Int32Array;
}

export function newCache(config: LlamaConfig, B: number, capacity: number): KvCache {
  const size = B * capacity * config.kvDim;
  return {
    B,
    capacity,
    k: Array.from({ length: config.nLayers }, () => new Float32Array(size)),
    v: Array.from({ length: config.nLayers }, () => new Float32Array(size)),
    lens: new Int32Array(B),
  };
}

/** How a forward pass computes its projections (training: custom-gradient LoRA ops; inference: merged weights). */
type LinearFn = (x: TF.Tensor2D, layer: number, name: LinearName) => TF.Tensor2D;
/**
 * How a forward pass computes attention from the raw projections q [N, dim], k and v [N, kvDim]. With `selected`
 * (the last layer, when only some positions feed the output) it returns only the selected query rows.
 */
type AttentionFn = (layer: number, q: TF.Tensor2D, k: TF.Tensor2D, v: TF.Tensor2D, selected: boolean) => TF.Tensor2D;

export class LlamaModel {
  readonly config: LlamaConfig;
  readonly sha256: string;
  readonly embedding: TF.Tensor2D;
  readonly layers: LayerTensors[];
  readonly rmsFinal: TF.Tensor1D;
  readonly cls: Linear;
  readonly rope: RopeTables;
  readonly dims: AttnDims;
  private disposed = false;

  constructor(ckpt: Checkpoint) {
    const c = ckpt.config;
    this.config = c;
    this.sha256 = ckpt.sha256;
    const lin = (w: Float32Array, out: number, inn: number): Linear => {
      const wt = tf.tensor2d(w, [out, inn]);
      return { w: wt, t: tf.keep(tf.tidy(() => tf.transpose(wt))) as TF.Tensor2D };
    };
    this.embedding = tf.tensor2d(ckpt.tokenEmbedding, [c.vocabSize, c.dim]);
    this.layers = ckpt.layers.map((L) => ({
      rmsAtt: tf.tensor1d(L.rmsAtt),
      rmsFfn: tf.tensor1d(L.rmsFfn),
      wq: lin(L.wq, c.dim, c.dim),
      wk: lin(L.wk, c.kvDim, c.dim),
      wv: lin(L.wv, c.kvDim, c.dim),
      wo: lin(L.wo, c.dim, c.dim),
      w1: lin(L.w1, c.hiddenDim, c.dim),
      w2: lin(L.w2, c.dim, c.hiddenDim),
      w3: lin(L.w3, c.hiddenDim, c.dim),
    }));
    this.rmsFinal = tf.tensor1d(ckpt.rmsFinal);
    this.cls = lin(ckpt.wcls, c.vocabSize, c.dim);
    this.rope = { real: ckpt.freqCisReal, imag: ckpt.freqCisImag, headSize: c.headSize };
    this.dims = { nHeads: c.nHeads, nKvHeads: c.nKvHeads, headSize: c.headSize };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const all: TF.Tensor[] = [this.embedding, this.rmsFinal, this.cls.t, this.cls.w];
    for (const L of this.layers) {
      all.push(L.rmsAtt, L.rmsFfn);
      for (const k of ["wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const) all.push(L[k].t, L[k].w);
    }
    for (const t of all) t.dispose();
  }

  private linearOf(layer: number, name: LinearName): Linear {
    return name === "output" ? this.cls : this.layers[layer][name];
  }

  /**
   * The transformer layers over x [N, dim]; returns the residual stream before the final norm: [N, dim], or with
   * selectRows only the selected rows (the last layer then computes its attention output, wo and FFN for those
   * rows only, since nothing else reaches the output).
   */
  private trunk(
    x: TF.Tensor2D,
    linear: LinearFn,
    attention: AttentionFn,
    selectRows: ((x: TF.Tensor2D) => TF.Tensor2D) | null,
  ): TF.Tensor2D {
    const nL = this.config.nLayers;
    for (let l = 0; l < nL; l++) {
      const L = this.layers[l];
      const selected = selectRows !== null && l === nL - 1;
      let xn = rmsNorm(x, L.rmsAtt);
      const o = attention(l, linear(xn, l, "wq"), linear(xn, l, "wk"), linear(xn, l, "wv"), selected);
      if (selected && selectRows) x = selectRows(x);
      x = tf.add(x, linear(o, l, "wo"));
      xn = rmsNorm(x, L.rmsFfn);
      const h = swiglu(linear(xn, l, "w1"), linear(xn, l, "w3"));
      x = tf.add(x, linear(h, l, "w2"));
    }
    return x;
  }

  /**
   * Training loss (mean cross-entropy over the selected positions) as a function of the LoRA tensors [A0, B0, A1,
   * B1, ...] (in the order of lora.matrices). Meant for tf.valueAndGrads; `batch` holds the step's constant tensors
   * (create them outside the differentiated function).
   */
  lossFn(batch: TrainBatchTensors, lora: LoraWeights): (...params: TF.Tensor[]) => TF.Scalar {
    const scale = lora.config.alpha / lora.config.rank;
    const index = new Map<string, number>();
    lora.matrices.forEach((m, i) => {
      index.set(m.name, i);
    });
    const geometry = trainGeometry(batch);
    return (...params: TF.Tensor[]) => {
      const linear: LinearFn = (x, layer, name) => {
        const base = this.linearOf(layer, name);
        const i = index.get(name === "output" ? "output" : `layers.${layer}.${name}`);
        if (i === undefined) return frozenLinear(x, base);
        return loraLinear(x, params[2 * i] as TF.Tensor2D, params[2 * i + 1] as TF.Tensor2D, base, scale);
      };
      const attention: AttentionFn = (_l, q, k, v, selected) =>
        attentionOp(q, k, v, this.dims, geometry, selected, this.rope);
      const x0 = tf.gather(this.embedding, batch.tokens);
      const x = this.trunk(x0 as TF.Tensor2D, linear, attention, (xx) => selectRows(xx, batch.rows, batch.rowsT));
      const logits = linear(rmsNorm(x, this.rmsFinal), -1, "output");
      return crossEntropy(logits, batch.targets, batch.weights);
    };
  }

  /**
   * Inference forward over B rows of up to T new tokens each (tokens [B*T], right-padded): row b's first
   * count[b] tokens sit at positions cache.lens[b].. and their keys/values are appended to the row's cache (rows may
   * have different lengths). Projections come from `merged` (W^T with the adapter folded in) or the base. Returns
   * the logits of each row's token `last[b]` ([B * vocab]); only those positions go through the last layer's
   * output side.
   */
  forwardInfer(
    tokens: Int32Array,
    B: number,
    T: number,
    count: Int32Array,
    last: Int32Array,
    merged: MergedWeights | null,
    cache: KvCache,
  ): Float32Array {
    const c = this.config;
    if (cache.B !== B) throw new Error(`cache holds ${cache.B} rows, not ${B}`);
    const scale = 1 / Math.sqrt(c.headSize);
    const N = B * T;
    const positions = new Int32Array(N).fill(-1);
    const keyRow0 = new Int32Array(N);
    const nKeys = new Int32Array(N);
    for (let b = 0; b < B; b++) {
      const start = cache.lens[b];
      if (start + count[b] > cache.capacity) throw new Error("key/value cache is full");
      for (let t = 0; t < count[b]; t++) {
        positions[b * T + t] = start + t;
        keyRow0[b * T + t] = b * cache.capacity;
        nKeys[b * T + t] = start + t + 1;
      }
    }
    const lastRows = new Int32Array(B);
    for (let b = 0; b < B; b++) lastRows[b] = b * T + last[b];
    const linear: LinearFn = (x, layer, name) => {
      const t = merged?.get(name === "output" ? "output" : `layers.${layer}.${name}`) ?? this.linearOf(layer, name).t;
      return tf.matMul(x, t);
    };
    const attention: AttentionFn = (l, q, k, v, selected) => {
      const qd = new Float32Array(q.dataSync());
      const kd = new Float32Array(k.dataSync());
      const vd = v.dataSync();
      ropeRows(qd, positions, c.dim, this.rope, false, scale);
      ropeRows(kd, positions, c.kvDim, this.rope, false);
      const kc = cache.k[l];
      const vc = cache.v[l];
      for (let b = 0; b < B; b++) {
        const dst = (b * cache.capacity + cache.lens[b]) * c.kvDim;
        const n = count[b] * c.kvDim;
        kc.set(kd.subarray(b * T * c.kvDim, b * T * c.kvDim + n), dst);
        vc.set(vd.subarray(b * T * c.kvDim, b * T * c.kvDim + n), dst);
      }
      if (!selected) return tf.tensor2d(attentionForward(qd, kc, vc, this.dims, keyRow0, nKeys, false).o, [N, c.dim]);
      const { o } = attentionForward(
        pickRows(qd, lastRows, c.dim),
        kc,
        vc,
        this.dims,
        pickInts(keyRow0, lastRows),
        pickInts(nKeys, lastRows),
        false,
      );
      return tf.tensor2d(o, [B, c.dim]);
    };
    const logits = tf.tidy(() => {
      const ids = tf.tensor1d(tokens, "int32");
      const x0 = tf.gather(this.embedding, ids) as TF.Tensor2D;
      const select = T === 1 ? null : (x: TF.Tensor2D) => tf.gather(x, tf.tensor1d(lastRows, "int32")) as TF.Tensor2D;
      const x = this.trunk(x0, linear, attention, select);
      return linear(rmsNorm(x, this.rmsFinal), -1, "output");
    });
    for (let b = 0; b < B; b++) cache.lens[b] += count[b];
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    return data;
  }

  /** W^T + scale * A B for each adapted projection (kept tensors; dispose with disposeMerged). */
  mergeLora(lora: LoraWeights | null): MergedWeights | null {
    if (!lora) return null;
    const scale = lora.config.alpha / lora.config.rank;
    const r = lora.config.rank;
    const merged: MergedWeights = new Map();
    for (const m of lora.matrices) {
      const [, layer, target] = m.name.split(".");
      const base = m.name === "output" ? this.cls : this.linearOf(Number(layer), target as LinearName);
      const t = tf.tidy(() =>
        tf.add(base.t, tf.mul(tf.matMul(tf.tensor2d(m.a, [m.inDim, r]), tf.tensor2d(m.b, [r, m.outDim])), scale)),
      );
      merged.set(m.name, tf.keep(t) as TF.Tensor2D);
    }
    return merged;
  }
}

export type MergedWeights = Map<string, TF.Tensor2D>;

export function disposeMerged(m: MergedWeights | null): void {
  if (m) for (const t of m.values()) t.dispose();
}

/** The constant tensors of one training step. */
export interface TrainBatchTensors {
  B: number;
  T: number;
  /** Non-padding length of each row. */
  lengths: Int32Array;
  /** [B*T] int32 input tokens (right-padded). */
  tokens: TF.Tensor1D;
  /** [M] int32: flat positions (b*T + t) whose next token is scored. */
  rows: TF.Tensor1D;
  /** The same as a JS array. */
  rowList: Int32Array;
  /** [B*T, M] one-hot: the transpose of the row selection, for its gradient. */
  rowsT: TF.Tensor2D;
  /** [M, vocab] one-hot of the target tokens. */
  targets: TF.Tensor2D;
  /** [M, 1] loss weight per scored position (1 / M for a mean). */
  weights: TF.Tensor2D;
}

// ---- custom-gradient ops -------------------------------------------------------------------------------------------

type Save = TF.GradSaveFunc;

/** tf.customGrad with usable typings. */
function custom<T extends TF.Tensor>(
  f: (...args: never[]) => { value: TF.Tensor; gradFunc: (dy: never, saved: TF.Tensor[]) => TF.Tensor | TF.Tensor[] },
): (...args: TF.Tensor[]) => T {
  return tf.customGrad(f as never) as unknown as (...args: TF.Tensor[]) => T;
}

/** y = x W^T for a frozen W; dx = dy W. */
function frozenLinear(x: TF.Tensor2D, w: Linear): TF.Tensor2D {
  const op = custom<TF.Tensor2D>((xx: TF.Tensor2D) => ({
    value: tf.matMul(xx, w.t),
    gradFunc: (dy: TF.Tensor2D) => [tf.matMul(dy, w.w)],
  }));
  return op(x);
}

/** y = x W^T + s (x A) B, frozen W; gradients for x, A and B with plain (untransposed) matmuls only. */
function loraLinear(x: TF.Tensor2D, a: TF.Tensor2D, b: TF.Tensor2D, w: Linear, scale: number): TF.Tensor2D {
  const op = custom<TF.Tensor2D>((xx: TF.Tensor2D, aa: TF.Tensor2D, bb: TF.Tensor2D, save: Save) => {
    const xa = tf.matMul(xx, aa);
    const bs = tf.mul(bb, scale) as TF.Tensor2D;
    save([xx, aa, xa, bs]);
    return {
      value: tf.add(tf.matMul(xx, w.t), tf.matMul(xa, bs)),
      gradFunc: (dy: TF.Tensor2D, saved: TF.Tensor[]) => {
        const [sx, sa, sxa, sbs] = saved as TF.Tensor2D[];
        const dxa = tf.matMul(dy, tf.transpose(sbs)); // [N, r]
        const dx = tf.add(tf.matMul(dy, w.w), tf.matMul(dxa, tf.transpose(sa)));
        const da = tf.matMul(tf.transpose(sx), dxa); // [in, r]
        const db = tf.mul(tf.matMul(tf.transpose(sxa), dy), scale); // [r, out]
        return [dx, da, db];
      },
    };
  });
  return op(x, a, b);
}

/** RMSNorm with a frozen weight: y = x * rsqrt(mean(x^2) + eps) * w. */
function rmsNorm(x: TF.Tensor2D, w: TF.Tensor1D): TF.Tensor2D {
  const op = custom<TF.Tensor2D>((xx: TF.Tensor2D, save: Save) => {
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(xx), -1, true), RMS_EPS));
    save([xx, r]);
    return {
      value: tf.mul(tf.mul(xx, r), w),
      gradFunc: (dy: TF.Tensor2D, saved: TF.Tensor[]) => {
        const [sx, sr] = saved;
        const gw = tf.mul(dy, w);
        const m = tf.mean(tf.mul(gw, sx), -1, true);
        return [tf.mul(tf.sub(gw, tf.mul(sx, tf.mul(tf.square(sr), m))), sr)];
      },
    };
  });
  return op(x);
}

/** Where each row of a right-padded training batch sits, for the JS attention. */
interface TrainGeometry {
  /** Per row b*T+t: t, or -1 for padding. */
  positions: Int32Array;
  keyRow0: Int32Array;
  nKeys: Int32Array;
  /** Flat indices of the scored rows (the loss positions). */
  selected: Int32Array;
}

function trainGeometry(batch: TrainBatchTensors): TrainGeometry {
  const { B, T, lengths } = batch;
  const positions = new Int32Array(B * T);
  const keyRow0 = new Int32Array(B * T);
  const nKeys = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      const valid = t < lengths[b];
      positions[r] = valid ? t : -1;
      keyRow0[r] = b * T;
      nKeys[r] = valid ? t + 1 : 0;
    }
  }
  return { positions, keyRow0, nKeys, selected: batch.rowList };
}

function pickRows(x: Float32Array, rows: Int32Array, width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let m = 0; m < rows.length; m++) out.set(x.subarray(rows[m] * width, (rows[m] + 1) * width), m * width);
  return out;
}

function pickInts(x: Int32Array, rows: Int32Array): Int32Array {
  const out = new Int32Array(rows.length);
  for (let m = 0; m < rows.length; m++) out[m] = x[rows[m]];
  return out;
}

/**
 * RoPE + causal grouped-query attention over raw projections q [N, dim], k, v [N, kvDim] of a right-padded batch,
 * in JS (attention.ts) with a hand-written backward pass; padding rows give zeros. With `selected`, only the scored
 * rows are computed and returned ([M, dim]). The saved JS arrays live in the closure (they are not tensors, so
 * tfjs does not dispose them).
 */
function attentionOp(
  q: TF.Tensor2D,
  k: TF.Tensor2D,
  v: TF.Tensor2D,
  dims: AttnDims,
  g: TrainGeometry,
  selected: boolean,
  rope: RopeTables,
): TF.Tensor2D {
  const dim = dims.nHeads * dims.headSize;
  const kvDim = dims.nKvHeads * dims.headSize;
  const N = g.positions.length;
  const scale = 1 / Math.sqrt(dims.headSize);
  const rows = g.selected;
  const op = custom<TF.Tensor2D>((qq: TF.Tensor2D, kk: TF.Tensor2D, vv: TF.Tensor2D) => {
    const qd = new Float32Array(qq.dataSync());
    const kd = new Float32Array(kk.dataSync());
    const vd = new Float32Array(vv.dataSync());
    ropeRows(qd, g.positions, dim, rope, false, scale);
    ropeRows(kd, g.positions, kvDim, rope, false);
    const qs = selected ? pickRows(qd, rows, dim) : qd;
    const keyRow0 = selected ? pickInts(g.keyRow0, rows) : g.keyRow0;
    const nKeys = selected ? pickInts(g.nKeys, rows) : g.nKeys;
    const { o, probs, probOffset } = attentionForward(qs, kd, vd, dims, keyRow0, nKeys, true);
    return {
      value: tf.tensor2d(o, [selected ? rows.length : N, dim]),
      gradFunc: (dy: TF.Tensor2D) => {
        const gr = attentionBackward(
          dy.dataSync() as Float32Array,
          qs,
          kd,
          vd,
          probs,
          probOffset,
          dims,
          keyRow0,
          nKeys,
        );
        let dq = gr.dq;
        if (selected) {
          dq = new Float32Array(N * dim);
          for (let m = 0; m < rows.length; m++) dq.set(gr.dq.subarray(m * dim, (m + 1) * dim), rows[m] * dim);
        }
        ropeRows(dq, g.positions, dim, rope, true, scale);
        ropeRows(gr.dk, g.positions, kvDim, rope, true);
        return [tf.tensor2d(dq, [N, dim]), tf.tensor2d(gr.dk, [N, kvDim]), tf.tensor2d(gr.dv, [N, kvDim])];
      },
    };
  });
  return op(q, k, v);
}

/** silu(a) * b with a hand-written gradient. */
function swiglu(a: TF.Tensor2D, b: TF.Tensor2D): TF.Tensor2D {
  const op = custom<TF.Tensor2D>((aa: TF.Tensor2D, bb: TF.Tensor2D, save: Save) => {
    const sig = tf.sigmoid(aa);
    save([aa, bb, sig]);
    return {
      value: tf.mul(tf.mul(aa, sig), bb),
      gradFunc: (dy: TF.Tensor2D, saved: TF.Tensor[]) => {
        const [sa, sb, ssig] = saved;
        const silu = tf.mul(sa, ssig);
        // d silu / da = sig * (1 + a * (1 - sig))
        const dsilu = tf.mul(ssig, tf.add(1, tf.mul(sa, tf.sub(1, ssig))));
        return [tf.mul(tf.mul(dy, sb), dsilu), tf.mul(dy, silu)];
      },
    };
  });
  return op(a, b);
}

/**
 * Picks rows of x [N, d] (forward: gather; gradient: a one-hot matmul, since gather's gradient is missing on wasm).
 * rows and rowsT are constants created outside the differentiated function, so capturing them is safe.
 */
function selectRows(x: TF.Tensor2D, rows: TF.Tensor1D, rowsT: TF.Tensor2D): TF.Tensor2D {
  const op = custom<TF.Tensor2D>((xx: TF.Tensor2D) => ({
    value: tf.gather(xx, rows) as TF.Tensor2D,
    gradFunc: (dy: TF.Tensor2D) => [tf.matMul(rowsT, dy)],
  }));
  return op(x);
}

/**
 * sum_i w_i * (logsumexp(z_i) - z_i[target_i]); gradient (softmax(z) - onehot) * w. targets (one-hot) and weights
 * are constants created outside the differentiated function.
 */
function crossEntropy(logits: TF.Tensor2D, targets: TF.Tensor2D, weights: TF.Tensor2D): TF.Scalar {
  const op = custom<TF.Scalar>((z: TF.Tensor2D, save: Save) => {
    const m = tf.max(z, -1, true);
    const e = tf.exp(tf.sub(z, m));
    const se = tf.sum(e, -1, true);
    const lse = tf.add(tf.log(se), m);
    const p = tf.div(e, se);
    save([p]);
    const picked = tf.sum(tf.mul(z, targets), -1, true);
    return {
      value: tf.sum(tf.mul(tf.sub(lse, picked), weights)) as TF.Scalar,
      gradFunc: (dy: TF.Scalar, saved: TF.Tensor[]) => [tf.mul(tf.mul(tf.sub(saved[0], targets), weights), dy)],
    };
  });
  return op(logits);
}
