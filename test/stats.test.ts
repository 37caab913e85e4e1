import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cpuMsSince } from "./helpers.ts";
import { mulberry32 } from "../src/lib/rng.ts";
import {
  binomialCdf,
  clusteredStandardError,
  incompleteBeta,
  isBinary,
  lchoose,
  lgamma,
  mcnemarExact,
  meanInterval,
  minimumDetectableEffect,
  newcombePairedInterval,
  normalCdf,
  normalQuantile,
  pairedBootstrap,
  pairedComparison,
  pearson,
  studentTCdf,
  studentTQuantile,
  studentTTwoSidedP,
  tangoPairedInterval,
  wilsonInterval,
} from "../src/core/stats.ts";

/** |actual - expected| <= tol (absolute). */
function near(actual: number, expected: number, tol: number, what = ""): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what} expected ${expected} ± ${tol}, got ${actual}`);
}

/** Relative closeness. */
function rel(actual: number, expected: number, tol: number, what = ""): void {
  const err = Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(err <= tol, `${what} expected ${expected} (rel ± ${tol}), got ${actual} (rel err ${err})`);
}

// Exact rational arithmetic with BigInt, for references that do not depend on the code under test.
function bigChoose(n: number, k: number): bigint {
  let r = 1n;
  for (let i = 1; i <= k; i++) r = (r * BigInt(n - k + i)) / BigInt(i);
  return r;
}
/** num/den as a float, exactly rounded enough for 1e-15 comparisons. */
function ratio(num: bigint, den: bigint): number {
  const SCALE = 10n ** 40n;
  return Number((num * SCALE) / den) / 1e40;
}
/** Exact two-sided McNemar p = min(1, 2 · Σ_{k<=min} C(n,k) / 2^n). */
function exactMcnemar(b: number, c: number): number {
  const n = b + c;
  let num = 0n;
  for (let k = 0; k <= Math.min(b, c); k++) num += bigChoose(n, k);
  return Math.min(1, ratio(2n * num, 2n ** BigInt(n)));
}

describe("special functions", () => {
  it("lgamma against closed forms", () => {
    near(lgamma(0.5), Math.log(Math.sqrt(Math.PI)), 1e-14, "lnΓ(1/2) = ln √π");
    near(lgamma(1.5), Math.log(Math.sqrt(Math.PI) / 2), 1e-14, "lnΓ(3/2) = ln(√π/2)");
    assert.equal(lgamma(1), 0);
    assert.equal(lgamma(2), 0);
    near(lgamma(11), Math.log(3628800), 1e-13, "ln 10!");
    let lnFact170 = 0;
    for (let i = 2; i <= 170; i++) lnFact170 += Math.log(i);
    rel(lgamma(171), lnFact170, 1e-14, "ln 170!");
    // reflection: Γ(-2.5) = Γ(1/2) / ((-2.5)(-1.5)(-0.5)) = -√π/1.875 = -0.9453087205, ln|.| = -0.0562437165
    near(lgamma(-2.5), Math.log(Math.sqrt(Math.PI) / 1.875), 1e-13, "lnΓ(-2.5)");
    assert.equal(lgamma(0), Number.POSITIVE_INFINITY);
    near(lchoose(15, 3), Math.log(455), 1e-13);
  });

  it("normalQuantile matches the z table (AS 241)", () => {
    near(normalQuantile(0.975), 1.959963984540054, 1e-15, "z.975"); // table: 1.959964
    near(normalQuantile(0.995), 2.5758293035489, 1e-13, "z.995"); // table: 2.575829
    near(normalQuantile(0.8), 0.8416212335729143, 1e-15, "z.80"); // table: 0.8416
    near(normalQuantile(0.95), 1.6448536269514722, 1e-15, "z.95"); // table: 1.644854
    assert.equal(normalQuantile(0.5), 0);
    near(normalQuantile(0.025), -1.959963984540054, 1e-15, "symmetry");
    near(normalQuantile(1e-10), -6.361340902404056, 1e-12, "far tail (scipy.stats.norm.ppf)");
    assert.equal(normalQuantile(0), Number.NEGATIVE_INFINITY);
    assert.equal(normalQuantile(1), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(normalQuantile(1.5)));
  });

  it("normalCdf is the inverse of normalQuantile, and matches the table", () => {
    near(normalCdf(1.959963984540054), 0.975, 1e-15);
    near(normalCdf(-1.5), 0.0668072012688581, 1e-15, "Φ(-1.5), table 0.0668");
    near(normalCdf(0), 0.5, 0);
    rel(normalCdf(-10), 7.61985302416047e-24, 1e-12, "Φ(-10)");
    for (const p of [1e-12, 1e-6, 0.001, 0.02, 0.3, 0.5, 0.7, 0.9, 0.999]) {
      rel(normalCdf(normalQuantile(p)), p, 1e-13, `round trip ${p}`);
    }
  });

  it("studentTQuantile matches the t table (two-sided 95%: 12.706, 2.228, 2.042)", () => {
    // Student t table, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2, upper 0.025 critical values
    near(studentTQuantile(0.975, 1), 12.706, 5e-4, "df=1");
    near(studentTQuantile(0.975, 2), 4.303, 5e-4, "df=2");
    near(studentTQuantile(0.975, 5), 2.571, 5e-4, "df=5");
    near(studentTQuantile(0.975, 10), 2.228, 5e-4, "df=10");
    near(studentTQuantile(0.975, 30), 2.042, 5e-4, "df=30");
    near(studentTQuantile(0.995, 5), 4.032, 5e-4, "df=5, 99%");
    near(studentTQuantile(0.95, 20), 1.725, 5e-4, "df=20, one-sided 95%");
    // to full precision against scipy.stats.t.ppf
    near(studentTQuantile(0.975, 10), 2.228138851986274, 1e-12);
    near(studentTQuantile(0.9, 4.5), 1.5008853175085577, 1e-12, "fractional df");
    near(studentTQuantile(0.999999, 3), 103.29946777942898, 1e-9, "far tail");
    near(studentTQuantile(0.025, 10), -2.228138851986274, 1e-12, "symmetry");
    near(studentTQuantile(0.975, 1e6), normalQuantile(0.975), 1e-5, "df → ∞");
    assert.equal(studentTQuantile(0.975, Number.POSITIVE_INFINITY), normalQuantile(0.975));
    for (const df of [1, 2, 3, 7.5, 40, 500]) {
      for (const p of [0.6, 0.9, 0.99, 0.9999])
        near(studentTCdf(studentTQuantile(p, df), df), p, 1e-12, `round trip df=${df} p=${p}`);
    }
  });

  it("studentTTwoSidedP and incompleteBeta", () => {
    near(studentTTwoSidedP(2.5, 12), 0.02791539957132524, 1e-14, "scipy 2*t.sf(2.5, 12)");
    assert.equal(studentTTwoSidedP(0, 5), 1);
    // I_x(1, 1) = x; I_x(a, 1) = x^a
    near(incompleteBeta(0.3, 1, 1), 0.3, 1e-15);
    near(incompleteBeta(0.3, 3, 1), 0.027, 1e-15);
  });

  it("binomialCdf equals exact rational sums", () => {
    for (let k = -1; k <= 21; k++) {
      let num = 0n;
      for (let j = 0; j <= Math.min(k, 20); j++) num += bigChoose(20, j);
      near(binomialCdf(k, 20, 0.5), k < 0 ? 0 : ratio(num, 2n ** 20n), 1e-14, `Bin(20, .5) k=${k}`);
    }
    // p = 3/10: P(X = j) = C(n, j) 3^j 7^(n-j) / 10^n
    for (const k of [0, 3, 9, 15, 29]) {
      let num = 0n;
      for (let j = 0; j <= k; j++) num += bigChoose(30, j) * 3n ** BigInt(j) * 7n ** BigInt(30 - j);
      near(binomialCdf(k, 30, 0.3), ratio(num, 10n ** 30n), 1e-14, `Bin(30, .3) k=${k}`);
    }
    assert.equal(binomialCdf(5, 5, 0.3), 1);
    assert.equal(binomialCdf(2, 5, 0), 1);
    assert.equal(binomialCdf(2, 5, 1), 0);
  });
});

describe("mcnemarExact", () => {
  it("textbook values", () => {
    assert.equal(mcnemarExact(0, 10), 2 * 0.5 ** 10); // 0.001953125
    assert.equal(mcnemarExact(10, 0), 0.001953125);
    // b=3, c=12: P(X<=3) = (1 + 15 + 105 + 455) / 2^15 = 576/32768, p = 0.03515625
    near(mcnemarExact(3, 12), 0.03515625, 1e-16);
    near(mcnemarExact(12, 3), 0.03515625, 1e-16);
  });

  it("no discordant pairs, or balanced ones, give p = 1", () => {
    assert.equal(mcnemarExact(0, 0), 1);
    assert.equal(mcnemarExact(1, 1), 1);
    assert.equal(mcnemarExact(7, 7), 1);
    assert.equal(mcnemarExact(0, 1), 1);
    assert.equal(mcnemarExact(6, 7), 1);
  });

  it("matches exact rational arithmetic up to n = 1000", () => {
    for (const [b, c] of [
      [1, 9],
      [5, 20],
      [40, 70],
      [130, 170],
      [450, 550],
    ]) {
      rel(mcnemarExact(b, c), exactMcnemar(b, c), 1e-11, `(${b}, ${c})`);
    }
  });

  it("is stable for 100k discordant pairs", () => {
    // reference: scipy.stats.binomtest(49500, 100000, 0.5).pvalue = 0.0015823598788515154
    rel(mcnemarExact(49_500, 50_500), 0.0015823598788515154, 1e-8);
    // and agrees with the normal approximation there: z = 1000/√100000
    rel(
      mcnemarExact(49_500, 50_500),
      2 * normalCdf(-(1000 - 1) / Math.sqrt(100_000)),
      1e-2,
      "continuity-corrected normal",
    );
    const tiny = mcnemarExact(45_000, 55_000);
    assert.ok(tiny >= 0 && tiny < 1e-200, `tiny p, got ${tiny}`);
    assert.ok(Number.isFinite(mcnemarExact(0, 100_000)));
  });

  it("rejects bad counts", () => {
    assert.throws(() => mcnemarExact(-1, 3), RangeError);
    assert.throws(() => mcnemarExact(1.5, 3), RangeError);
  });
});

describe("wilsonInterval", () => {
  it("Newcombe (1998) Table II, method 3 (Wilson score, no continuity correction)", () => {
    const cases: Array<[number, number, number, number]> = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [x, n, lo, hi] of cases) {
      const [l, h] = wilsonInterval(x, n);
      near(l, lo, 5e-5, `${x}/${n} lower`);
      near(h, hi, 5e-5, `${x}/${n} upper`);
    }
  });

  it("0/10 and 10/10: [0, z²/(n+z²)] and its mirror", () => {
    const z2 = 1.959963984540054 ** 2;
    const [l0, h0] = wilsonInterval(0, 10);
    assert.equal(l0, 0);
    near(h0, z2 / (10 + z2), 1e-15); // 0.2775
    const [l1, h1] = wilsonInterval(10, 10);
    near(l1, 10 / (10 + z2), 1e-15); // 0.7225
    assert.equal(h1, 1);
  });

  it("other confidence levels, n = 0 and bad input", () => {
    const [l90, h90] = wilsonInterval(81, 263, 0.9);
    const [l95, h95] = wilsonInterval(81, 263);
    assert.ok(l90 > l95 && h90 < h95);
    assert.deepEqual(wilsonInterval(0, 0), [0, 1]);
    assert.throws(() => wilsonInterval(5, 3), RangeError);
    assert.throws(() => wilsonInterval(1, 3, 1), RangeError);
  });
});

describe("meanInterval", () => {
  it("0/1 values use Wilson", () => {
    const v = [...Array(81).fill(1), ...Array(182).fill(0)];
    const r = meanInterval(v);
    assert.equal(r.method, "wilson");
    assert.equal(r.n, 263);
    near(r.mean, 81 / 263, 1e-15);
    assert.deepEqual(r.ci, wilsonInterval(81, 263));
    near(r.se, Math.sqrt(((81 / 263) * (182 / 263)) / 263), 1e-15);
  });

  it("other values use the t interval (hand computed)", () => {
    // mean 5, s² = 32/7, se = √(32/56) = 0.755929, t(.975, 7) = 2.364624 (table 2.365)
    const r = meanInterval([2, 4, 4, 4, 5, 5, 7, 9]);
    assert.equal(r.method, "t");
    assert.equal(r.mean, 5);
    near(r.se, Math.sqrt(32 / 56), 1e-15);
    near(r.ci[0], 5 - 2.364624251592784 * Math.sqrt(32 / 56), 1e-12);
    near(r.ci[1], 5 + 2.364624251592784 * Math.sqrt(32 / 56), 1e-12);
    const z = meanInterval([2, 4, 4, 4, 5, 5, 7, 9], 0.95, { method: "normal" });
    assert.equal(z.method, "normal");
    near(z.ci[1], 5 + 1.959963984540054 * Math.sqrt(32 / 56), 1e-12);
  });

  it("degenerate inputs", () => {
    const one = meanInterval([0.7]);
    assert.equal(one.mean, 0.7);
    assert.ok(Number.isNaN(one.se));
    assert.deepEqual(one.ci, [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    assert.deepEqual(meanInterval([3, 3, 3]).ci, [3, 3]);
    assert.throws(() => meanInterval([]), RangeError);
    assert.throws(() => meanInterval([1, Number.NaN]), RangeError);
    assert.throws(() => meanInterval([0.5, 1], 0.95, { method: "wilson" }), RangeError);
    assert.equal(isBinary([0, 1, 1]), true);
    assert.equal(isBinary([0, 1, 0.5]), false);
  });
});

describe("pearson", () => {
  it("hand example: r = 6/√60", () => {
    near(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 6 / Math.sqrt(60), 1e-15);
    near(pearson([1, 2, 3], [3, 2, 1]), -1, 1e-15);
    assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
    assert.throws(() => pearson([1, 2], [1]), RangeError);
  });
});

describe("pairedBootstrap", () => {
  const rng = mulberry32(42);
  const a = Array.from({ length: 500 }, () => (rng() < 0.6 ? 1 : 0));
  const b = a.map((x) => (rng() < 0.15 ? 1 - x : x));

  it("is reproducible for a seed and changes with it", () => {
    const r1 = pairedBootstrap(a, b, { seed: 7, iterations: 2000 });
    const r2 = pairedBootstrap(a, b, { seed: 7, iterations: 2000 });
    const r3 = pairedBootstrap(a, b, { seed: 8, iterations: 2000 });
    assert.deepEqual(r1, r2);
    assert.notDeepEqual(r1.ci, r3.ci);
    assert.equal(r1.diff, r3.diff);
  });

  it("sign convention: diff = mean(b) - mean(a)", () => {
    const r = pairedBootstrap([0, 0, 1, 0], [1, 1, 1, 0], { iterations: 200 });
    assert.equal(r.diff, 0.5);
    assert.ok(r.ci[0] <= 0.5 && r.ci[1] >= 0.5);
    assert.deepEqual(pairedBootstrap([1, 2, 3], [2, 3, 4], { iterations: 100 }), { diff: 1, ci: [1, 1] });
  });

  it("the interval is about as wide as the normal one (±1.96 se)", () => {
    const r = pairedBootstrap(a, b, { iterations: 10_000 });
    const d = b.map((x, i) => x - a[i]);
    const m = d.reduce((s, x) => s + x, 0) / d.length;
    const se = Math.sqrt(d.reduce((s, x) => s + (x - m) ** 2, 0) / (d.length - 1) / d.length);
    near(r.ci[1] - r.ci[0], 2 * 1.96 * se, 0.15 * 2 * 1.96 * se, "width");
  });

  it("covers the true difference about 95% of the time", () => {
    // 300 simulated evals of 80 rows, true diff = 0.3, noise N(0,1) via Box-Muller from a seeded PRNG
    const g = mulberry32(2024);
    const normal = () => Math.sqrt(-2 * Math.log(1 - g())) * Math.cos(2 * Math.PI * g());
    let covered = 0;
    const reps = 300;
    for (let r = 0; r < reps; r++) {
      const x = Array.from({ length: 80 }, () => normal());
      const y = x.map((v) => v + 0.3 + normal());
      const { ci } = pairedBootstrap(x, y, { iterations: 1000, seed: r + 1 });
      if (ci[0] <= 0.3 && 0.3 <= ci[1]) covered++;
    }
    const rate = covered / reps;
    assert.ok(rate > 0.9 && rate < 0.99, `coverage ${rate}`);
  });

  it("is fast for 10k rows × 10k iterations", () => {
    const g = mulberry32(5);
    const n = 10_000;
    const x = Array.from({ length: n }, () => (g() < 0.7 ? 1 : 0));
    const y = Array.from({ length: n }, () => (g() < 0.72 ? 1 : 0));
    const t0 = process.cpuUsage();
    pairedBootstrap(x, y, { iterations: 10_000 });
    const ms = cpuMsSince(t0);
    assert.ok(ms < 5000, `took ${ms} ms`);
  });

  it("rejects mismatched or empty input", () => {
    assert.throws(() => pairedBootstrap([1, 2], [1]), RangeError);
    assert.throws(() => pairedBootstrap([], []), RangeError);
  });
});

describe("clusteredStandardError", () => {
  it("hand example: 3 clusters of 2", () => {
    // y = 1,0 | 1,1 | 0,0; ȳ = .5; residual sums per cluster: 0, 1, -1; Σ S² = 2
    // Var = G/(G-1) · ΣS²/N² = 3/2 · 2/36 = 1/12; SE = 0.288675
    near(clusteredStandardError([1, 0, 1, 1, 0, 0], ["a", "a", "b", "b", "c", "c"]), Math.sqrt(1 / 12), 1e-15);
  });

  it("one row per cluster equals the ordinary SE s/√n exactly", () => {
    const g = mulberry32(3);
    const v = Array.from({ length: 57 }, () => g() * 10);
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    const s2 = v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1);
    rel(
      clusteredStandardError(
        v,
        v.map((_, i) => i),
      ),
      Math.sqrt(s2 / v.length),
      1e-13,
    );
    rel(
      clusteredStandardError(
        v,
        v.map((_, i) => i),
      ),
      meanInterval(v).se,
      1e-13,
    );
  });

  it("positively correlated clusters inflate the SE; one cluster gives NaN", () => {
    const v = [1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0];
    const ids = [1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 4];
    assert.ok(clusteredStandardError(v, ids) > meanInterval(v, 0.95, { method: "t" }).se);
    assert.ok(Number.isNaN(clusteredStandardError([1, 0], ["x", "x"])));
    assert.throws(() => clusteredStandardError([1, 0], ["x"]), RangeError);
  });
});

describe("paired proportions: Newcombe's hybrid score interval (method 10)", () => {
  // Newcombe RG, "Improved confidence intervals for the difference between binomial proportions based on paired
  // data", Statistics in Medicine 17:2635-2650 (1998), Table III (pp. 2641-2642), the method 10 column: cells
  // e (both +), f (first + only), g (second + only), h (both -), θ = (f - g)/n, 95% limits printed to 4 decimals.
  // The row (20, 12, 2, 16) -> 0.0562, 0.3292 is also asserted "against Newcombe's method 10 result" in the test
  // suite of the R package ratesci (github.com/petelaud/ratesci, tests/testthat/test3.R, method_RD = "MOVER_newc").
  // Tolerance 1e-4: the paper's z is 1.96 (ours 1.959964) and (1, 97, 1, 1) prints 0.8736 for 0.87367.
  const TABLE_III_METHOD_10: Array<[number, number, number, number, number, number]> = [
    [36, 12, 2, 0, 0.0569, 0.3404],
    [20, 12, 2, 16, 0.0562, 0.3292],
    [18, 12, 2, 18, 0.0562, 0.329],
    [36, 14, 0, 0, 0.1528, 0.4167],
    [35, 14, 0, 1, 0.1461, 0.4175],
    [18, 14, 0, 18, 0.1441, 0.3963],
    [2, 97, 1, 0, 0.8721, 0.9854],
    [1, 97, 1, 1, 0.8736, 0.985],
    [0, 29, 1, 0, 0.6666, 0.9882],
    [2, 98, 0, 0, 0.9178, 0.9945],
    [1, 98, 0, 1, 0.9171, 0.9916],
    [0, 30, 0, 0, 0.8395, 1],
    [54, 0, 0, 0, -0.0664, 0.0664],
    [53, 0, 0, 1, -0.0729, 0.0729],
    [30, 0, 0, 24, -0.0358, 0.0358],
    [29, 0, 0, 25, -0.0354, 0.0354],
    [28, 0, 0, 26, -0.0352, 0.0352],
    [27, 0, 0, 27, -0.0351, 0.0351],
  ];

  it("reproduces Newcombe (1998) Table III, method 10", () => {
    for (const [e, f, g, h, lo, hi] of TABLE_III_METHOD_10) {
      const [l, u] = newcombePairedInterval({ e, f, g, h });
      near(l, lo, 1e-4, `(${e}, ${f}, ${g}, ${h}) lower`);
      near(u, hi, 1e-4, `(${e}, ${f}, ${g}, ${h}) upper`);
    }
  });

  it("reproduces later published examples of method 10", () => {
    // Fagerland, Lydersen & Laake, Statistics in Medicine 33:2850-2875 (2014), Bentur et al. data, and Tang et al.
    // (2010) as asserted in ratesci's tests/testthat/test3.R (3 and 4 decimals as printed there).
    const [l1, u1] = newcombePairedInterval({ e: 1, f: 1, g: 7, h: 12 });
    near(l1, -0.507, 5e-4, "Bentur lower");
    near(u1, -0.026, 5e-4, "Bentur upper");
    const [l2, u2] = newcombePairedInterval({ e: 8, f: 3, g: 1, h: 2 });
    near(l2, -0.1574, 5e-5, "Tang lower");
    near(u2, 0.4136, 5e-5, "Tang upper");
  });

  it("never collapses: all rows agree, or every row is discordant one way (hand computed)", () => {
    const z2 = 1.959963984540054 ** 2;
    // 0 of 200 against 0 of 200: ±(the Wilson upper limit of 0/200) = ±z²/(200 + z²) = ±0.0188453
    const [l0, u0] = newcombePairedInterval({ e: 0, f: 0, g: 0, h: 200 });
    near(u0, z2 / (200 + z2), 1e-12);
    near(l0, -z2 / (200 + z2), 1e-12);
    near(u0, 0.0188453, 1e-7);
    // 150 of 150 discordant towards the first (the demo): [1 - √2·z²/(150 + z²), 1] = [0.964687, 1]
    const [l1, u1] = newcombePairedInterval({ e: 0, f: 150, g: 0, h: 0 });
    near(l1, 1 - (Math.SQRT2 * z2) / (150 + z2), 1e-12);
    near(l1, 0.964687, 1e-6);
    assert.equal(u1, 1);
    // and its mirror
    assert.deepEqual(
      newcombePairedInterval({ e: 0, f: 0, g: 150, h: 0 }).map((x) => Math.round(x * 1e9) / 1e9),
      [-1, -0.964686742],
    );
  });

  it("rejects bad tables", () => {
    assert.throws(() => newcombePairedInterval({ e: 0, f: 0, g: 0, h: 0 }), RangeError);
    assert.throws(() => newcombePairedInterval({ e: 1.5, f: 0, g: 0, h: 0 }), RangeError);
    assert.throws(() => newcombePairedInterval({ e: -1, f: 2, g: 0, h: 0 }), RangeError);
  });
});

describe("paired proportions: Tango's score interval", () => {
  it("reproduces published examples", () => {
    // As asserted in ratesci's tests/testthat/test3.R (pairbinci, method_RD = "Score", no skewness correction):
    // Tango (1998) 43/0/1/0 at 90%; Agresti & Min (2005) 53/16/8/9; Fagerland et al. (2014) 1/1/7/12;
    // Tang et al. (2010) 8/3/1/2.
    const cases: Array<[number, number, number, number, number, number, number, number]> = [
      [43, 0, 1, 0, 0.9, -0.096, 0.037, 5e-4],
      [53, 16, 8, 9, 0.95, -0.02, 0.207, 5e-4],
      [1, 1, 7, 12, 0.95, -0.517, -0.026, 5e-4],
      [8, 3, 1, 2, 0.95, -0.167, 0.4327, 5e-5],
    ];
    for (const [e, f, g, h, conf, lo, hi, tol] of cases) {
      const [l, u] = tangoPairedInterval({ e, f, g, h }, conf);
      near(l, lo, tol, `(${e}, ${f}, ${g}, ${h}) lower`);
      near(u, hi, tol, `(${e}, ${f}, ${g}, ${h}) upper`);
    }
  });

  it("at θ = 0 its statistic is McNemar's (f - g)/√(f + g): the interval excludes 0 exactly when |that| > z", () => {
    // 12 vs 2: 10/√14 = 2.67 > 1.96; 7 vs 2: 5/3 = 1.67 < 1.96
    assert.ok(tangoPairedInterval({ e: 20, f: 12, g: 2, h: 16 })[0] > 0);
    assert.ok(tangoPairedInterval({ e: 20, f: 7, g: 2, h: 16 })[0] < 0);
    // and it does not collapse either
    const [l, u] = tangoPairedInterval({ e: 0, f: 0, g: 0, h: 200 });
    near(u, 0.0188453, 1e-7);
    near(l, -0.0188453, 1e-7);
    assert.equal(tangoPairedInterval({ e: 0, f: 150, g: 0, h: 0 })[1], 1);
    assert.ok(tangoPairedInterval({ e: 0, f: 150, g: 0, h: 0 })[0] < 0.99);
  });
});

describe("minimumDetectableEffect (Connor 1987)", () => {
  const za = 1.959963984540054;
  const zb = 0.8416212335729143;

  it("hand examples", () => {
    // Two models at 0/200 agreeing on every row: ψ = δ, so √(200δ) = z_.975 + z_.8·√(1 - δ); by fixed-point
    // iteration δ = (z_.975 + z_.8·√(1 - δ))²/200 -> 0.0387840 (3.9 points), never 0.
    near(minimumDetectableEffect(200, { pBase: 0, discordance: 0 }), 0.038784, 1e-6);
    // With no discordance given, the independence design at p = 0 is the same ψ = δ.
    near(minimumDetectableEffect(200, { pBase: 0 }), 0.038784, 1e-6);
    // n = 1000, p = 0.5, independent: ψ = 0.5, √1000·δ = z_.975·√0.5 + z_.8·√(0.5 - δ²) -> 0.0625715
    near(minimumDetectableEffect(1000), 0.0625715, 1e-6);
    // Every row discordant (the demo's 150 of 150): ψ = 1, √150·δ = z_.975 + z_.8·√(1 - δ²) -> 0.2269553
    near(minimumDetectableEffect(150, { pBase: 0, discordance: 1 }), 0.2269553, 1e-6);
    // The base rate is read from the nearer bound: p = 0.9 is the mirror of p = 0.1.
    near(minimumDetectableEffect(300, { pBase: 0.9 }), minimumDetectableEffect(300, { pBase: 0.1 }), 1e-12);
  });

  it("inverts Connor's sample-size formula n = (z_α·√ψ + z_β·√(ψ - δ²))² / δ²", () => {
    for (const [n, psi] of [
      [100, 0.3],
      [500, 0.1],
      [2000, 0.6],
    ]) {
      const d = minimumDetectableEffect(n, { pBase: 0.4, discordance: psi });
      near((za * Math.sqrt(psi) + zb * Math.sqrt(psi - d * d)) ** 2 / (d * d), n, 1e-6, `n = ${n}`);
    }
  });

  it("is close to the exact power of the exact McNemar test where the normal approximation is weakest", () => {
    // 0/200 vs 0/200: at δ = MDE with every discordant row one way, the exact test (p = 2·0.5^k < 0.05 needs
    // k >= 6 discordant rows) has power P(Bin(200, δ) >= 6).
    const d = minimumDetectableEffect(200, { pBase: 0, discordance: 0 });
    assert.ok(mcnemarExact(0, 6) < 0.05 && mcnemarExact(0, 5) > 0.05);
    const exactPower = 1 - binomialCdf(5, 200, d);
    assert.ok(exactPower > 0.7 && exactPower < 0.85, `exact power ${exactPower}`);
  });

  it("is positive for every n, Infinity when nothing is detectable, and validates input", () => {
    for (const n of [2, 5, 10, 50, 200, 25_000]) {
      const m = minimumDetectableEffect(n, { pBase: 0, discordance: 0 });
      assert.ok(m > 0, `n = ${n}: ${m}`);
    }
    assert.equal(minimumDetectableEffect(1, { pBase: 0 }), Number.POSITIVE_INFINITY);
    assert.throws(() => minimumDetectableEffect(0), RangeError);
    assert.throws(() => minimumDetectableEffect(10, { discordance: 1.5 }), RangeError);
  });
});

describe("pairedComparison", () => {
  it("binary: exact McNemar on the discordant pairs", () => {
    // 100 rows: 3 only A right, 12 only B right, 50 both right, 35 both wrong
    const a = [...Array(3).fill(1), ...Array(12).fill(0), ...Array(50).fill(1), ...Array(35).fill(0)];
    const b = [...Array(3).fill(0), ...Array(12).fill(1), ...Array(50).fill(1), ...Array(35).fill(0)];
    const r = pairedComparison(a, b, { iterations: 2000 });
    assert.equal(r.test, "mcnemar-exact");
    assert.deepEqual(r.discordant, { aOnly: 3, bOnly: 12 });
    near(r.pValue, 0.03515625, 1e-15);
    assert.equal(r.significant, true);
    assert.equal(r.n, 100);
    assert.equal(r.meanA, 0.53);
    assert.equal(r.meanB, 0.62);
    near(r.diff, 0.09, 1e-15);
    // Newcombe's interval on the table with B first: e = 50 both, f = 12 only B, g = 3 only A, h = 35 neither
    assert.equal(r.ciMethod, "newcombe");
    assert.deepEqual(r.ci, newcombePairedInterval({ e: 50, f: 12, g: 3, h: 35 }));
    assert.ok(r.ci[0] > 0 && r.ci[0] < 0.09 && r.ci[1] > 0.09);
    assert.ok(r.correlation !== null && r.correlation > 0.5);
    // MDE from the design: n = 100, A's rate 0.53, 15% discordant pairs
    assert.equal(r.mde, minimumDetectableEffect(100, { pBase: 0.53, discordance: 0.15 }));
    assert.deepEqual(r.mdeBasis, { method: "connor", pBase: 0.53, discordance: 0.15 });
    assert.ok(r.mde > 0.05 && r.mde < 0.2);
    const tango = pairedComparison(a, b, { ci: "tango" });
    assert.equal(tango.ciMethod, "tango");
    assert.deepEqual(tango.ci, tangoPairedInterval({ e: 50, f: 12, g: 3, h: 35 }));
    // se of the paired diff: d has 12 ones, 3 minus-ones, 85 zeros
    const m = 0.09;
    const s2 = (12 * (1 - m) ** 2 + 3 * (-1 - m) ** 2 + 85 * m ** 2) / 99;
    near(r.se, Math.sqrt(s2 / 100), 1e-15);
    assert.equal(pairedComparison(a, b, { alpha: 0.01, iterations: 100 }).significant, false);
  });

  it("non-binary: paired t-test (scipy.stats.ttest_rel reference)", () => {
    const a = [3, 1, 4, 1, 5, 9, 2.5];
    const b = a.map((x, i) => x + [0.5, 1.5, -0.5, 1, 2, 0.3, 0.7][i]);
    const r = pairedComparison(a, b, { ci: "t" });
    assert.equal(r.test, "paired-t");
    assert.equal(r.discordant, undefined);
    near(r.pValue, 0.04388625851913307, 1e-12);
    near(r.diff, 0.7857142857142857, 1e-12);
    near(r.se, 0.30893717301540174, 1e-12);
    assert.equal(r.ciMethod, "t");
    near(r.ci[0], r.diff - 2.4469118511449786 * r.se, 1e-10);
    near(r.mde, (1.959963984540054 + 0.8416212335729143) * r.se, 1e-12);
    assert.equal(r.significant, true);
  });

  it("clusters: a clustered t-test and a wider interval", () => {
    const g = mulberry32(11);
    const a: number[] = [];
    const b: number[] = [];
    const ids: number[] = [];
    for (let c = 0; c < 40; c++) {
      const hard = g() < 0.5; // whole clusters move together
      for (let k = 0; k < 5; k++) {
        a.push(hard ? 0 : 1);
        b.push(hard ? (g() < 0.3 ? 1 : 0) : 1);
        ids.push(c);
      }
    }
    const plain = pairedComparison(a, b, { binary: false, ci: "t" });
    const clustered = pairedComparison(a, b, { clusterIds: ids });
    assert.equal(clustered.test, "clustered-t");
    assert.equal(clustered.ciMethod, "clustered-newcombe");
    const newcombe = pairedComparison(a, b).ci;
    assert.ok(clustered.ci[0] <= newcombe[0] && clustered.ci[1] >= newcombe[1], "never narrower than Newcombe's");
    const continuous = pairedComparison(
      a.map((x) => x * 0.9),
      b.map((x) => x * 0.9),
      { clusterIds: ids },
    );
    assert.equal(continuous.ciMethod, "clustered-t");
    assert.equal(clustered.clusters, 40);
    assert.ok(clustered.clusteredSe! > plain.se, "clustering inflates the SE");
    assert.ok(clustered.ci[1] - clustered.ci[0] > plain.ci[1] - plain.ci[0]);
    const unclustered = pairedComparison(a, b);
    assert.ok(clustered.mde > unclustered.mde, "the design effect inflates the MDE");
    assert.deepEqual(clustered.discordant, unclustered.discordant);
  });

  it("two models at 0/200: an interval and a detectable effect, not +0.0 to +0.0", () => {
    const zeros = new Array(200).fill(0);
    const r = pairedComparison(zeros, zeros);
    assert.equal(r.diff, 0);
    assert.equal(r.pValue, 1);
    assert.equal(r.ciMethod, "newcombe");
    near(r.ci[0], -0.0188453, 1e-7); // ±z²/(200 + z²), hand computed above
    near(r.ci[1], 0.0188453, 1e-7);
    near(r.mde, 0.038784, 1e-6); // 3.9 points, hand computed above
    assert.deepEqual(r.mdeBasis, { method: "connor", pBase: 0, discordance: 0 });
    // clustered, every cluster agreeing: the cluster-robust SE is 0, the interval still is not a point
    const c = pairedComparison(zeros, zeros, { clusterIds: zeros.map((_, i) => i % 20) });
    assert.equal(c.ciMethod, "clustered-newcombe");
    near(c.ci[1], 0.0188453, 1e-7);
    assert.ok(c.mde > 0.03);
  });

  it("the demo: 150 of 150 discordant gives [+96.5, +100], not +100 to +100", () => {
    const r = pairedComparison(new Array(150).fill(0), new Array(150).fill(1));
    assert.equal(r.diff, 1);
    near(r.ci[0], 0.964687, 1e-6);
    assert.equal(r.ci[1], 1);
    assert.ok(r.significant);
  });

  it("continuous scores whose differences have no spread: c ± the Wilson limit of 0/n, and a positive MDE", () => {
    const a = Array.from({ length: 50 }, (_, i) => (i % 5) / 5 + 0.1);
    const r = pairedComparison(a, a);
    assert.equal(r.test, "paired-t");
    assert.equal(r.ciMethod, "no-spread");
    const w = 1.959963984540054 ** 2 / (50 + 1.959963984540054 ** 2);
    near(r.ci[0], -w, 1e-12);
    near(r.ci[1], w, 1e-12);
    assert.ok(r.mde > 0);
    // with spread, the bootstrap as before
    const b = a.map((x, i) => Math.min(1, x + (i % 3) * 0.05));
    assert.equal(pairedComparison(a, b, { iterations: 500 }).ciMethod, "bootstrap");
  });

  it("identical systems and validation", () => {
    const r = pairedComparison([1, 0, 1, 1], [1, 0, 1, 1], { iterations: 100 });
    assert.equal(r.pValue, 1);
    assert.equal(r.diff, 0);
    assert.ok(r.ci[0] < 0 && r.ci[1] > 0, `interval ${r.ci}`);
    assert.equal(r.significant, false);
    assert.throws(() => pairedComparison([1, 0], [1]), RangeError);
    assert.throws(() => pairedComparison([0.5, 1], [1, 1], { binary: true }), RangeError);
    assert.equal(pairedComparison([0, 1, 1], [1, 1, 1], { binary: false, iterations: 100 }).test, "paired-t");
  });
});
