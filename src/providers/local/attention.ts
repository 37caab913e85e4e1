/**
 * RoPE and causal grouped-query attention in plain JS (Float32Array storage, float64 arithmetic).
 *
 * Why not tfjs: on the wasm backend every batched (rank > 2) matmul runs on a slow generic path (~0.5 GMAC/s) and the
 * head size here is 8, so attention took ~60% of a training step at 16 x 56. These loops compute only what causal
 * attention needs (no masked half, no padding rows, only the query rows asked for) and need no transposes or masks;
 * forward and backward together cost a fraction of the tfjs version. Results go back into tfjs as tensors (see
 * model.ts); the probabilities stay in JS memory for the backward pass.
 *
 * Layouts: q [queries, nHeads*hd] (one row per query), k and v [keyRows, nKvHeads*hd]. Query m attends key rows
 * keyRow0[m] .. keyRow0[m] + nKeys[m] - 1 (its own sequence up to its own position; nKeys 0 gives a zero output).
 * Query head h reads kv head floor(h / (nHeads / nKvHeads)) (llama2.c). RoPE rotates interleaved pairs
 * (x[2i], x[2i+1]) by the checkpoint's freq_cis tables at each row's absolute position.
 */

export interface RopeTables {
  /** cos [seqLen, hd/2] */
  real: Float32Array;
  /** sin [seqLen, hd/2] */
  imag: Float32Array;
  headSize: number;
}

export interface AttnDims {
  nHeads: number;
  nKvHeads: number;
  headSize: number;
}

/**
 * Rotates rows of x [rows, width] in place by RoPE at positions[row] (or with inverse=true rotates back: the
 * transpose, for gradients), then multiplies by scale. Rows with a negative position are left alone.
 */
export function ropeRows(
  x: Float32Array,
  positions: Int32Array,
  width: number,
  rope: RopeTables,
  inverse: boolean,
  scale = 1,
): void {
  const hd = rope.headSize;
  const half = hd / 2;
  const sign = inverse ? -1 : 1;
  for (let r = 0; r < positions.length; r++) {
    const pos = positions[r];
    if (pos < 0) continue;
    const p = pos * half;
    const row = r * width;
    for (let c = 0; c < width; c += 2) {
      const i = (c % hd) >> 1;
      const fr = rope.real[p + i];
      const fi = sign * rope.imag[p + i];
      const x0 = x[row + c];
      const x1 = x[row + c + 1];
      x[row + c] = (x0 * fr - x1 * fi) * scale;
      x[row + c + 1] = (x0 * fi + x1 * fr) * scale;
    }
  }
}

/** Most probabilities kept per attention call (4M floats = 16 MB); beyond, the backward pass recomputes them. */
export const MAX_SAVED_PROBS = 4 * 1024 * 1024;

export interface AttnForward {
  o: Float32Array;
  /** Softmax probabilities, per query row then per head (nKeys[m] each); null unless asked for. */
  probs: Float32Array | null;
  /** Start of each query row's block in probs. */
  probOffset: Int32Array | null;
}

/**
 * o = softmax(q k^T) v for each query row (q already rotated and scaled by 1/sqrt(hd); keys already rotated). With
 * keepProbs the probabilities are returned for the backward pass, unless they would exceed MAX_SAVED_PROBS floats.
 */
export function attentionForward(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  d: AttnDims,
  keyRow0: Int32Array,
  nKeys: Int32Array,
  keepProbs: boolean,
): AttnForward {
  const { nHeads: H, nKvHeads: KV, headSize: hd } = d;
  const dim = H * hd;
  const kvDim = KV * hd;
  const kvMul = H / KV;
  const M = nKeys.length;
  const o = new Float32Array(M * dim);
  let probs: Float32Array | null = null;
  let probOffset: Int32Array | null = null;
  let maxKeys = 1;
  for (let m = 0; m < M; m++) if (nKeys[m] > maxKeys) maxKeys = nKeys[m];
  let needed = 0;
  for (let m = 0; m < M; m++) needed += H * nKeys[m];
  if (keepProbs && needed <= MAX_SAVED_PROBS) {
    probOffset = new Int32Array(M + 1);
    let total = 0;
    for (let m = 0; m < M; m++) {
      probOffset[m] = total;
      total += H * nKeys[m];
    }
    probOffset[M] = total;
    probs = new Float32Array(total);
  }
  const sc = new Float64Array(maxKeys);
  const sc2 = new Float64Array(maxKeys);
  for (let m = 0; m < M; m++) {
    const nk = nKeys[m];
    if (nk === 0) continue;
    let po = probOffset ? probOffset[m] : 0;
    if (hd === 8 && kvMul === 2) {
      // Both query heads of a kv head at once (keys and values read once).
      for (let g = 0; g < KV; g++) {
        forwardPair8(
          q,
          k,
          v,
          o,
          probs,
          po + 2 * g * nk,
          m * dim + 2 * g * hd,
          keyRow0[m] * kvDim + g * hd,
          kvDim,
          nk,
          sc,
          sc2,
        );
      }
      continue;
    }
    for (let h = 0; h < H; h++) {
      const qo = m * dim + h * hd;
      const kBase = keyRow0[m] * kvDim + ((h / kvMul) | 0) * hd;
      if (hd === 8) forwardRow8(q, k, v, o, probs, po, qo, kBase, kvDim, nk, sc);
      else forwardRow(q, k, v, o, probs, po, qo, kBase, kvDim, nk, sc, hd);
      po += nk;
    }
  }
  return { o, probs, probOffset };
}

/**
 * Gradients of attentionForward: dq [queries, dim], dk and dv shaped like k and v. Without saved probabilities
 * (probs null: long sequences, where keeping them would cost too much memory) they are recomputed row by row.
 */
export function attentionBackward(
  dO: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  probs: Float32Array | null,
  probOffset: Int32Array | null,
  d: AttnDims,
  keyRow0: Int32Array,
  nKeys: Int32Array,
): { dq: Float32Array; dk: Float32Array; dv: Float32Array } {
  const { nHeads: H, nKvHeads: KV, headSize: hd } = d;
  const dim = H * hd;
  const kvDim = KV * hd;
  const kvMul = H / KV;
  const M = nKeys.length;
  const dq = new Float32Array(q.length);
  const dk = new Float32Array(k.length);
  const dv = new Float32Array(v.length);
  let maxKeys = 1;
  for (let m = 0; m < M; m++) if (nKeys[m] > maxKeys) maxKeys = nKeys[m];
  const dp = new Float64Array(maxKeys);
  const dp2 = new Float64Array(maxKeys);
  const rowProbs = probs ? null : new Float32Array(maxKeys);
  const sc = new Float64Array(maxKeys);
  for (let m = 0; m < M; m++) {
    const nk = nKeys[m];
    if (nk === 0) continue;
    let po = probOffset ? probOffset[m] : 0;
    if (hd === 8 && kvMul === 2 && probs) {
      for (let g = 0; g < KV; g++) {
        backwardPair8(
          dO,
          q,
          k,
          v,
          probs,
          po + 2 * g * nk,
          m * dim + 2 * g * hd,
          keyRow0[m] * kvDim + g * hd,
          kvDim,
          nk,
          dp,
          dp2,
          dq,
          dk,
          dv,
        );
      }
      continue;
    }
    for (let h = 0; h < H; h++) {
      const qo = m * dim + h * hd;
      const kBase = keyRow0[m] * kvDim + ((h / kvMul) | 0) * hd;
      let p = probs;
      let at = po;
      if (rowProbs) {
        softmaxRow(q, k, rowProbs, qo, kBase, kvDim, nk, sc, hd);
        p = rowProbs;
        at = 0;
      }
      if (hd === 8) backwardRow8(dO, q, k, v, p as Float32Array, at, qo, kBase, kvDim, nk, dp, dq, dk, dv);
      else backwardRow(dO, q, k, v, p as Float32Array, at, qo, kBase, kvDim, nk, dp, dq, dk, dv, hd);
      po += nk;
    }
  }
  return { dq, dk, dv };
}

/**
 * The unnormalised softmax of one (query, head) row's scores against its keys, written into `sc` (max-subtracted
 * exponentials); returns 1 / their sum. forwardRow and softmaxRow share it, so recomputed probabilities are
 * bit-identical to the ones of the forward pass.
 */
function expScores(
  q: Float32Array,
  k: Float32Array,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  sc: Float64Array,
  hd: number,
): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0, ko = kBase; j < nk; j++, ko += kvDim) {
    let s = 0;
    for (let e = 0; e < hd; e++) s += q[qo + e] * k[ko + e];
    sc[j] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let j = 0; j < nk; j++) {
    const e = Math.exp(sc[j] - max);
    sc[j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  return inv;
}

/** The probabilities of one (query, head) row, recomputed (as forwardRow computes them). */
function softmaxRow(
  q: Float32Array,
  k: Float32Array,
  out: Float32Array,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  sc: Float64Array,
  hd: number,
): void {
  const inv = expScores(q, k, qo, kBase, kvDim, nk, sc, hd);
  for (let j = 0; j < nk; j++) out[j] = sc[j] * inv;
}

function forwardRow(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  o: Float32Array,
  probs: Float32Array | null,
  po: number,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  sc: Float64Array,
  hd: number,
): void {
  const inv = expScores(q, k, qo, kBase, kvDim, nk, sc, hd);
  for (let e = 0; e < hd; e++) o[qo + e] = 0;
  for (let j = 0, vo = kBase; j < nk; j++, vo += kvDim) {
    const p = sc[j] * inv;
    if (probs) probs[po + j] = p;
    for (let e = 0; e < hd; e++) o[qo + e] += p * v[vo + e];
  }
}

function backwardRow(
  dO: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  probs: Float32Array,
  po: number,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  dp: Float64Array,
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  hd: number,
): void {
  let dot = 0;
  for (let j = 0, vo = kBase; j < nk; j++, vo += kvDim) {
    let s = 0;
    for (let e = 0; e < hd; e++) s += dO[qo + e] * v[vo + e];
    dp[j] = s;
    dot += s * probs[po + j];
  }
  for (let j = 0, ko = kBase; j < nk; j++, ko += kvDim) {
    const p = probs[po + j];
    const ds = p * (dp[j] - dot);
    for (let e = 0; e < hd; e++) {
      dq[qo + e] += ds * k[ko + e];
      dk[ko + e] += ds * q[qo + e];
      dv[ko + e] += p * dO[qo + e];
    }
  }
}

// Head size 8 (stories260K): the same loops, unrolled, with the query row in locals.

function forwardRow8(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  o: Float32Array,
  probs: Float32Array | null,
  po: number,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  sc: Float64Array,
): void {
  const q0 = q[qo];
  const q1 = q[qo + 1];
  const q2 = q[qo + 2];
  const q3 = q[qo + 3];
  const q4 = q[qo + 4];
  const q5 = q[qo + 5];
  const q6 = q[qo + 6];
  const q7 = q[qo + 7];
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0, ko = kBase; j < nk; j++, ko += kvDim) {
    const s =
      q0 * k[ko] +
      q1 * k[ko + 1] +
      q2 * k[ko + 2] +
      q3 * k[ko + 3] +
      q4 * k[ko + 4] +
      q5 * k[ko + 5] +
      q6 * k[ko + 6] +
      q7 * k[ko + 7];
    sc[j] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let j = 0; j < nk; j++) {
    const e = Math.exp(sc[j] - max);
    sc[j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let a4 = 0;
  let a5 = 0;
  let a6 = 0;
  let a7 = 0;
  for (let j = 0, vo = kBase; j < nk; j++, vo += kvDim) {
    const p = sc[j] * inv;
    if (probs) probs[po + j] = p;
    a0 += p * v[vo];
    a1 += p * v[vo + 1];
    a2 += p * v[vo + 2];
    a3 += p * v[vo + 3];
    a4 += p * v[vo + 4];
    a5 += p * v[vo + 5];
    a6 += p * v[vo + 6];
    a7 += p * v[vo + 7];
  }
  o[qo] = a0;
  o[qo + 1] = a1;
  o[qo + 2] = a2;
  o[qo + 3] = a3;
  o[qo + 4] = a4;
  o[qo + 5] = a5;
  o[qo + 6] = a6;
  o[qo + 7] = a7;
}

function backwardRow8(
  dO: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  probs: Float32Array,
  po: number,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  dp: Float64Array,
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
): void {
  const g0 = dO[qo];
  const g1 = dO[qo + 1];
  const g2 = dO[qo + 2];
  const g3 = dO[qo + 3];
  const g4 = dO[qo + 4];
  const g5 = dO[qo + 5];
  const g6 = dO[qo + 6];
  const g7 = dO[qo + 7];
  let dot = 0;
  for (let j = 0, vo = kBase; j < nk; j++, vo += kvDim) {
    const s =
      g0 * v[vo] +
      g1 * v[vo + 1] +
      g2 * v[vo + 2] +
      g3 * v[vo + 3] +
      g4 * v[vo + 4] +
      g5 * v[vo + 5] +
      g6 * v[vo + 6] +
      g7 * v[vo + 7];
    dp[j] = s;
    dot += s * probs[po + j];
  }
  const q0 = q[qo];
  const q1 = q[qo + 1];
  const q2 = q[qo + 2];
  const q3 = q[qo + 3];
  const q4 = q[qo + 4];
  const q5 = q[qo + 5];
  const q6 = q[qo + 6];
  const q7 = q[qo + 7];
  let d0 = 0;
  let d1 = 0;
  let d2 = 0;
  let d3 = 0;
  let d4 = 0;
  let d5 = 0;
  let d6 = 0;
  let d7 = 0;
  for (let j = 0, ko = kBase; j < nk; j++, ko += kvDim) {
    const p = probs[po + j];
    const ds = p * (dp[j] - dot);
    d0 += ds * k[ko];
    d1 += ds * k[ko + 1];
    d2 += ds * k[ko + 2];
    d3 += ds * k[ko + 3];
    d4 += ds * k[ko + 4];
    d5 += ds * k[ko + 5];
    d6 += ds * k[ko + 6];
    d7 += ds * k[ko + 7];
    dk[ko] += ds * q0;
    dk[ko + 1] += ds * q1;
    dk[ko + 2] += ds * q2;
    dk[ko + 3] += ds * q3;
    dk[ko + 4] += ds * q4;
    dk[ko + 5] += ds * q5;
    dk[ko + 6] += ds * q6;
    dk[ko + 7] += ds * q7;
    dv[ko] += p * g0;
    dv[ko + 1] += p * g1;
    dv[ko + 2] += p * g2;
    dv[ko + 3] += p * g3;
    dv[ko + 4] += p * g4;
    dv[ko + 5] += p * g5;
    dv[ko + 6] += p * g6;
    dv[ko + 7] += p * g7;
  }
  dq[qo] += d0;
  dq[qo + 1] += d1;
  dq[qo + 2] += d2;
  dq[qo + 3] += d3;
  dq[qo + 4] += d4;
  dq[qo + 5] += d5;
  dq[qo + 6] += d6;
  dq[qo + 7] += d7;
}

// Head size 8 with two query heads per kv head (stories260K): both heads in one pass over the keys and values.

function forwardPair8(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  o: Float32Array,
  probs: Float32Array | null,
  po: number,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  sa: Float64Array,
  sb: Float64Array,
): void {
  const a0 = q[qo];
  const a1 = q[qo + 1];
  const a2 = q[qo + 2];
  const a3 = q[qo + 3];
  const a4 = q[qo + 4];
  const a5 = q[qo + 5];
  const a6 = q[qo + 6];
  const a7 = q[qo + 7];
  const b0 = q[qo + 8];
  const b1 = q[qo + 9];
  const b2 = q[qo + 10];
  const b3 = q[qo + 11];
  const b4 = q[qo + 12];
  const b5 = q[qo + 13];
  const b6 = q[qo + 14];
  const b7 = q[qo + 15];
  let maxA = Number.NEGATIVE_INFINITY;
  let maxB = Number.NEGATIVE_INFINITY;
  for (let j = 0, ko = kBase; j < nk; j++, ko += kvDim) {
    const k0 = k[ko];
    const k1 = k[ko + 1];
    const k2 = k[ko + 2];
    const k3 = k[ko + 3];
    const k4 = k[ko + 4];
    const k5 = k[ko + 5];
    const k6 = k[ko + 6];
    const k7 = k[ko + 7];
    const x = a0 * k0 + a1 * k1 + a2 * k2 + a3 * k3 + a4 * k4 + a5 * k5 + a6 * k6 + a7 * k7;
    const y = b0 * k0 + b1 * k1 + b2 * k2 + b3 * k3 + b4 * k4 + b5 * k5 + b6 * k6 + b7 * k7;
    sa[j] = x;
    sb[j] = y;
    if (x > maxA) maxA = x;
    if (y > maxB) maxB = y;
  }
  let sumA = 0;
  let sumB = 0;
  for (let j = 0; j < nk; j++) {
    const x = Math.exp(sa[j] - maxA);
    const y = Math.exp(sb[j] - maxB);
    sa[j] = x;
    sb[j] = y;
    sumA += x;
    sumB += y;
  }
  const invA = 1 / sumA;
  const invB = 1 / sumB;
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  let c4 = 0;
  let c5 = 0;
  let c6 = 0;
  let c7 = 0;
  let d0 = 0;
  let d1 = 0;
  let d2 = 0;
  let d3 = 0;
  let d4 = 0;
  let d5 = 0;
  let d6 = 0;
  let d7 = 0;
  for (let j = 0, vo = kBase; j < nk; j++, vo += kvDim) {
    const pa = sa[j] * invA;
    const pb = sb[j] * invB;
    if (probs) {
      probs[po + j] = pa;
      probs[po + nk + j] = pb;
    }
    const v0 = v[vo];
    const v1 = v[vo + 1];
    const v2 = v[vo + 2];
    const v3 = v[vo + 3];
    const v4 = v[vo + 4];
    const v5 = v[vo + 5];
    const v6 = v[vo + 6];
    const v7 = v[vo + 7];
    c0 += pa * v0;
    c1 += pa * v1;
    c2 += pa * v2;
    c3 += pa * v3;
    c4 += pa * v4;
    c5 += pa * v5;
    c6 += pa * v6;
    c7 += pa * v7;
    d0 += pb * v0;
    d1 += pb * v1;
    d2 += pb * v2;
    d3 += pb * v3;
    d4 += pb * v4;
    d5 += pb * v5;
    d6 += pb * v6;
    d7 += pb * v7;
  }
  o[qo] = c0;
  o[qo + 1] = c1;
  o[qo + 2] = c2;
  o[qo + 3] = c3;
  o[qo + 4] = c4;
  o[qo + 5] = c5;
  o[qo + 6] = c6;
  o[qo + 7] = c7;
  o[qo + 8] = d0;
  o[qo + 9] = d1;
  o[qo + 10] = d2;
  o[qo + 11] = d3;
  o[qo + 12] = d4;
  o[qo + 13] = d5;
  o[qo + 14] = d6;
  o[qo + 15] = d7;
}

function backwardPair8(
  dO: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  probs: Float32Array,
  po: number,
  qo: number,
  kBase: number,
  kvDim: number,
  nk: number,
  dpa: Float64Array,
  dpb: Float64Array,
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
): void {
  const ga0 = dO[qo];
  const ga1 = dO[qo + 1];
  const ga2 = dO[qo + 2];
  const ga3 = dO[qo + 3];
  const ga4 = dO[qo + 4];
  const ga5 = dO[qo + 5];
  const ga6 = dO[qo + 6];
  const ga7 = dO[qo + 7];
  const gb0 = dO[qo + 8];
  const gb1 = dO[qo + 9];
  const gb2 = dO[qo + 10];
  const gb3 = dO[qo + 11];
  const gb4 = dO[qo + 12];
  const gb5 = dO[qo + 13];
  const gb6 = dO[qo + 14];
  const gb7 = dO[qo + 15];
  let dotA = 0;
  let dotB = 0;
  for (let j = 0, vo = kBase; j < nk; j++, vo += kvDim) {
    const v0 = v[vo];
    const v1 = v[vo + 1];
    const v2 = v[vo + 2];
    const v3 = v[vo + 3];
    const v4 = v[vo + 4];
    const v5 = v[vo + 5];
    const v6 = v[vo + 6];
    const v7 = v[vo + 7];
    const x = ga0 * v0 + ga1 * v1 + ga2 * v2 + ga3 * v3 + ga4 * v4 + ga5 * v5 + ga6 * v6 + ga7 * v7;
    const y = gb0 * v0 + gb1 * v1 + gb2 * v2 + gb3 * v3 + gb4 * v4 + gb5 * v5 + gb6 * v6 + gb7 * v7;
    dpa[j] = x;
    dpb[j] = y;
    dotA += x * probs[po + j];
    dotB += y * probs[po + nk + j];
  }
  const qa0 = q[qo];
  const qa1 = q[qo + 1];
  const qa2 = q[qo + 2];
  const qa3 = q[qo + 3];
  const qa4 = q[qo + 4];
  const qa5 = q[qo + 5];
  const qa6 = q[qo + 6];
  const qa7 = q[qo + 7];
  const qb0 = q[qo + 8];
  const qb1 = q[qo + 9];
  const qb2 = q[qo + 10];
  const qb3 = q[qo + 11];
  const qb4 = q[qo + 12];
  const qb5 = q[qo + 13];
  const qb6 = q[qo + 14];
  const qb7 = q[qo + 15];
  let ea0 = 0;
  let ea1 = 0;
  let ea2 = 0;
  let ea3 = 0;
  let ea4 = 0;
  let ea5 = 0;
  let ea6 = 0;
  let ea7 = 0;
  let eb0 = 0;
  let eb1 = 0;
  let eb2 = 0;
  let eb3 = 0;
  let eb4 = 0;
  let eb5 = 0;
  let eb6 = 0;
  let eb7 = 0;
  for (let j = 0, ko = kBase; j < nk; j++, ko += kvDim) {
    const pa = probs[po + j];
    const pb = probs[po + nk + j];
    const sa = pa * (dpa[j] - dotA);
    const sb = pb * (dpb[j] - dotB);
    const k0 = k[ko];
    const k1 = k[ko + 1];
    const k2 = k[ko + 2];
    const k3 = k[ko + 3];
    const k4 = k[ko + 4];
    const k5 = k[ko + 5];
    const k6 = k[ko + 6];
    const k7 = k[ko + 7];
    ea0 += sa * k0;
    ea1 += sa * k1;
    ea2 += sa * k2;
    ea3 += sa * k3;
    ea4 += sa * k4;
    ea5 += sa * k5;
    ea6 += sa * k6;
    ea7 += sa * k7;
    eb0 += sb * k0;
    eb1 += sb * k1;
    eb2 += sb * k2;
    eb3 += sb * k3;
    eb4 += sb * k4;
    eb5 += sb * k5;
    eb6 += sb * k6;
    eb7 += sb * k7;
    dk[ko] += sa * qa0 + sb * qb0;
    dk[ko + 1] += sa * qa1 + sb * qb1;
    dk[ko + 2] += sa * qa2 + sb * qb2;
    dk[ko + 3] += sa * qa3 + sb * qb3;
    dk[ko + 4] += sa * qa4 + sb * qb4;
    dk[ko + 5] += sa * qa5 + sb * qb5;
    dk[ko + 6] += sa * qa6 + sb * qb6;
    dk[ko + 7] += sa * qa7 + sb * qb7;
    dv[ko] += pa * ga0 + pb * gb0;
    dv[ko + 1] += pa * ga1 + pb * gb1;
    dv[ko + 2] += pa * ga2 + pb * gb2;
    dv[ko + 3] += pa * ga3 + pb * gb3;
    dv[ko + 4] += pa * ga4 + pb * gb4;
    dv[ko + 5] += pa * ga5 + pb * gb5;
    dv[ko + 6] += pa * ga6 + pb * gb6;
    dv[ko + 7] += pa * ga7 + pb * gb7;
  }
  dq[qo] += ea0;
  dq[qo + 1] += ea1;
  dq[qo + 2] += ea2;
  dq[qo + 3] += ea3;
  dq[qo + 4] += ea4;
  dq[qo + 5] += ea5;
  dq[qo + 6] += ea6;
  dq[qo + 7] += ea7;
  dq[qo + 8] += eb0;
  dq[qo + 9] += eb1;
  dq[qo + 10] += eb2;
  dq[qo + 11] += eb3;
  dq[qo + 12] += eb4;
  dq[qo + 13] += eb5;
  dq[qo + 14] += eb6;
  dq[qo + 15] += eb7;
}
