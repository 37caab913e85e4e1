/**
 * The port of llama2.c's forward pass: the checkpoint reader, the README's known greedy output, the per-token loss
 * of that text against an independent float64 reference implementation (a direct transcription of run.c), hand-
 * written gradients against finite differences, and generation invariants (batching, seeds).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { before, test } from "node:test";
import { type Checkpoint, readCheckpoint } from "../../src/providers/local/checkpoint.ts";
import { generate } from "../../src/providers/local/generate.ts";
import { initLora, type LlamaModel } from "../../src/providers/local/model.ts";
import { mulberry32 } from "../../src/providers/local/rng.ts";
import type { Tokenizer } from "../../src/providers/local/tokenizer.ts";
import { encodeExample, evalLoss, loadModel, lossAndGrads } from "../../src/providers/local/train.ts";
import { KNOWN_STORY, localModelDir } from "./helpers.ts";

let model: LlamaModel;
let tokenizer: Tokenizer;
let ckpt: Checkpoint;

before(async () => {
  ({ model, tokenizer } = await loadModel(localModelDir));
  ckpt = readCheckpoint(path.join(localModelDir, "stories260K.bin"));
});

/** run.c's forward in float64, one token at a time with a KV cache; returns the mean next-token loss. */
function referenceLoss(c: Checkpoint, ids: number[]): number {
  const cfg = c.config;
  const hd = cfg.headSize;
  const kvMul = cfg.nHeads / cfg.nKvHeads;
  const mv = (W: Float32Array, x: Float64Array, out: number, inn: number) => {
    const y = new Float64Array(out);
    for (let i = 0; i < out; i++) {
      let s = 0;
      for (let j = 0; j < inn; j++) s += W[i * inn + j] * x[j];
      y[i] = s;
    }
    return y;
  };
  const rms = (x: Float64Array, w: Float32Array) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + 1e-5);
    return x.map((v, i) => v * r * w[i]);
  };
  const kc: Float64Array[][] = Array.from({ length: cfg.nLayers }, () => []);
  const vc: Float64Array[][] = Array.from({ length: cfg.nLayers }, () => []);
  let total = 0;
  for (let pos = 0; pos < ids.length - 1; pos++) {
    let x = Float64Array.from(c.tokenEmbedding.subarray(ids[pos] * cfg.dim, (ids[pos] + 1) * cfg.dim));
    for (let l = 0; l < cfg.nLayers; l++) {
      const L = c.layers[l];
      const xn = rms(x, L.rmsAtt);
      const q = mv(L.wq, xn, cfg.dim, cfg.dim);
      const k = mv(L.wk, xn, cfg.kvDim, cfg.dim);
      const v = mv(L.wv, xn, cfg.kvDim, cfg.dim);
      for (let i = 0; i < cfg.dim; i += 2) {
        const fr = c.freqCisReal[(pos * hd) / 2 + (i % hd) / 2];
        const fi = c.freqCisImag[(pos * hd) / 2 + (i % hd) / 2];
        for (const vec of i < cfg.kvDim ? [q, k] : [q]) {
          const a = vec[i];
          const b = vec[i + 1];
          vec[i] = a * fr - b * fi;
          vec[i + 1] = a * fi + b * fr;
        }
      }
      kc[l].push(k);
      vc[l].push(v);
      const o = new Float64Array(cfg.dim);
      for (let h = 0; h < cfg.nHeads; h++) {
        const g = Math.floor(h / kvMul);
        const att = kc[l].map((kk) => {
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[h * hd + d] * kk[g * hd + d];
          return s / Math.sqrt(hd);
        });
        const m = Math.max(...att);
        const e = att.map((a) => Math.exp(a - m));
        const se = e.reduce((a, b) => a + b);
        for (let t = 0; t < e.length; t++)
          for (let d = 0; d < hd; d++) o[h * hd + d] += (e[t] / se) * vc[l][t][g * hd + d];
      }
      const ao = mv(L.wo, o, cfg.dim, cfg.dim);
      x = x.map((v2, i) => v2 + ao[i]);
      const xn2 = rms(x, L.rmsFfn);
      const h1 = mv(L.w1, xn2, cfg.hiddenDim, cfg.dim);
      const h3 = mv(L.w3, xn2, cfg.hiddenDim, cfg.dim);
      const hh = h1.map((a, i) => (a / (1 + Math.exp(-a))) * h3[i]);
      const f = mv(L.w2, hh, cfg.dim, cfg.hiddenDim);
      x = x.map((v2, i) => v2 + f[i]);
    }
    const logits = mv(c.wcls, rms(x, c.rmsFinal), cfg.vocabSize, cfg.dim);
    const m = Math.max(...logits);
    const lse = Math.log(logits.reduce((a, b) => a + Math.exp(b - m), 0)) + m;
    total += lse - logits[ids[pos + 1]];
  }
  return total / (ids.length - 1);
}

test("checkpoint: stories260K header and sha256", () => {
  assert.deepEqual(
    { ...ckpt.config },
    {
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      seqLen: 512,
      sharedClassifier: true,
      headSize: 8,
      kvDim: 32,
    },
  );
  assert.equal(ckpt.sha256, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
  assert.equal(ckpt.wcls, ckpt.tokenEmbedding, "tied classifier");
});

test("greedy from BOS gives the README's known story", () => {
  const [g] = generate(model, tokenizer, [""], null, { maxTokens: 64 });
  assert.ok(g.text.startsWith("Once upon a time, there was a little girl named Lily."), g.text);
  assert.ok(g.text.startsWith(KNOWN_STORY), g.text);
  assert.equal(g.promptTokens, 1);
  assert.equal(g.completionTokens, 64);
  assert.equal(g.finishReason, "length");
});

test("per-token loss of the known story matches a float64 run.c reference (0.3857 nats)", () => {
  const ids = tokenizer.encode(KNOWN_STORY, { bos: true });
  const ours = evalLoss(model, null, [{ ids, firstScored: 0 }]);
  const ref = referenceLoss(ckpt, ids);
  assert.ok(Math.abs(ours - ref) < 1e-4, `ours ${ours} vs reference ${ref}`);
  assert.ok(Math.abs(ref - 0.3857) < 1e-3, `reference ${ref}`);
  // Right padding does not change the loss (causal attention): the same row, padded next to a longer row that has
  // nothing scored.
  const long = tokenizer.encode(`${KNOWN_STORY} ${KNOWN_STORY}`, { bos: true });
  const padded = evalLoss(model, null, [
    { ids, firstScored: 0 },
    { ids: long, firstScored: long.length - 1 },
  ]);
  assert.ok(Math.abs(padded - ours) < 1e-5, `padded ${padded} vs alone ${ours}`);
});

test("hand-written gradients match finite differences", () => {
  const rand = mulberry32(7);
  const lora = initLora(model.config, { rank: 4, alpha: 8, targets: ["wq", "wk", "wv", "wo", "output"] }, rand);
  for (const m of lora.matrices) for (let i = 0; i < m.b.length; i++) m.b[i] = (rand() - 0.5) * 0.2;
  const batch = [
    encodeExample(tokenizer, { prompt: "Q: Tom lost his kite. How did Tom feel?\nA:", completion: "sad" }, 512),
    encodeExample(tokenizer, { prompt: "Q: Lily got a new doll.\nA:", completion: "happy and glad" }, 512),
  ];
  const { grads } = lossAndGrads(model, lora, batch);
  const params = lora.matrices.flatMap((m) => [m.a, m.b]);
  let checked = 0;
  for (let k = 0; k < params.length; k += 5) {
    for (const i of [3, params[k].length - 2]) {
      const old = params[k][i];
      const e = 1e-2;
      params[k][i] = old + e;
      const lp = evalLoss(model, lora, batch);
      params[k][i] = old - e;
      const lm = evalLoss(model, lora, batch);
      params[k][i] = old;
      const num = (lp - lm) / (2 * e);
      const an = grads[k][i];
      assert.ok(
        Math.abs(num - an) <= 2e-3 + 0.03 * Math.abs(num),
        `param ${k}[${i}]: numeric ${num} vs analytic ${an}`,
      );
      checked++;
    }
  }
  assert.ok(checked >= 16);
});

test("generation: batched rows equal rows run one by one; sampling is reproducible per seed", () => {
  const prompts = ["Q: Tom had a red ball.\nA:", "Once upon a time", "Q: Where did Lily go?\nA:", "The cat"];
  const batched = generate(model, tokenizer, prompts, null, { maxTokens: 12 });
  const single = prompts.map((p) => generate(model, tokenizer, [p], null, { maxTokens: 12 })[0]);
  assert.deepEqual(
    batched.map((g) => g.text),
    single.map((g) => g.text),
  );
  const s1 = generate(model, tokenizer, prompts, null, { maxTokens: 20, temperature: 1, topP: 0.9, seed: 5 });
  const s2 = generate(model, tokenizer, prompts, null, {
    maxTokens: 20,
    temperature: 1,
    topP: 0.9,
    seed: 5,
    batchSize: 1,
  });
  const s3 = generate(model, tokenizer, prompts, null, { maxTokens: 20, temperature: 1, topP: 0.9, seed: 6 });
  assert.deepEqual(
    s1.map((g) => g.text),
    s2.map((g) => g.text),
  );
  assert.notDeepEqual(
    s1.map((g) => g.text),
    s3.map((g) => g.text),
  );
  for (const g of batched) {
    assert.ok(g.completionTokens <= 12 && g.promptTokens > 1 && g.latencyMs >= 0);
  }
});
