import assert from "node:assert/strict";
import { test } from "node:test";
import { attentionBackward, attentionForward } from "../../src/providers/local/attention.ts";
import { mulberry32 } from "../../src/providers/local/rng.ts";

test("JS attention: gradients match finite differences; recomputed probabilities give the same gradients", () => {
  const rand = mulberry32(3);
  const M = 48;
  const T = 24;
  const dim = 32;
  const kvDim = 16;
  const fill = (n: number) => new Float32Array(n).map(() => rand() - 0.5);
  const q = fill(M * dim);
  const k = fill(M * kvDim);
  const v = fill(M * kvDim);
  // Two sequences of 24 rows; the second one padded after 20 rows (padding queries attend nothing).
  const keyRow0 = new Int32Array(M).map((_, m) => Math.floor(m / T) * T);
  const nKeys = new Int32Array(M).map((_, m) => (m >= T + 20 ? 0 : (m % T) + 1));
  for (const hd of [8, 4]) {
    const d = { nHeads: dim / hd, nKvHeads: kvDim / hd, headSize: hd };
    const f = attentionForward(q, k, v, d, keyRow0, nKeys, true);
    assert.ok(f.probs && f.probOffset);
    for (let m = T + 20; m < M; m++) for (let e = 0; e < dim; e++) assert.equal(f.o[m * dim + e], 0);
    const dO = fill(M * dim);
    const saved = attentionBackward(dO, q, k, v, f.probs, f.probOffset, d, keyRow0, nKeys);
    const recomputed = attentionBackward(dO, q, k, v, null, null, d, keyRow0, nKeys);
    for (const key of ["dq", "dk", "dv"] as const) {
      const diff = saved[key].reduce((m, x, i) => Math.max(m, Math.abs(x - recomputed[key][i])), 0);
      assert.ok(diff < 1e-6, `${key} differs by ${diff}`);
    }
    const loss = () => attentionForward(q, k, v, d, keyRow0, nKeys, false).o.reduce((s, o, i) => s + o * dO[i], 0);
    const check = (x: Float32Array, g: Float32Array, i: number) => {
      const old = x[i];
      x[i] = old + 1e-3;
      const lp = loss();
      x[i] = old - 1e-3;
      const lm = loss();
      x[i] = old;
      const num = (lp - lm) / 2e-3;
      assert.ok(Math.abs(num - g[i]) < 1e-4 + 1e-2 * Math.abs(num), `numeric ${num} vs ${g[i]}`);
    };
    for (const i of [0, 7, 100, 555, 1000]) check(q, saved.dq, i);
    for (const i of [1, 9, 200, 400, 700]) check(k, saved.dk, i);
    for (const i of [2, 10, 300, 500, 650]) check(v, saved.dv, i);
  }
});
