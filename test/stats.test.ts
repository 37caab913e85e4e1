import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
  normalCdf,
  normalQuantile,
  pairedBootstrap,
  pairedComparison,
  pearson,
  studentTCdf,
  studentTQuantile,
  studentTTwoSidedP,
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
    const t0 = performance.now();
    pairedBootstrap(x, y, { iterations: 10_000 });
    const ms = performance.now() - t0;
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

describe("minimumDetectableEffect", () => {
  it("hand example: n=1000, α=.05, power=.8, p=.5", () => {
    // (1.959964 + 0.841621) · √(2 · .25 / 1000) = 2.801585 · 0.0223607 = 0.0626454
    near(minimumDetectableEffect(1000), 0.0626454, 1e-6);
    // ρ = 0.5 halves the variance: 2.801585 · √(0.25/1000) = 0.0442970
    near(minimumDetectableEffect(1000, { pairedCorrelation: 0.5 }), 0.044297, 1e-6);
    // p = 0.9, n = 400, α = .01, power = .9: (2.575829 + 1.281552) · √(2·.09/400) = 3.857381 · 0.0212132
    near(minimumDetectableEffect(400, { alpha: 0.01, power: 0.9, pBase: 0.9 }), 3.857381 * Math.sqrt(0.18 / 400), 1e-6);
    assert.throws(() => minimumDetectableEffect(0), RangeError);
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
    assert.equal(r.ciMethod, "bootstrap");
    assert.ok(r.ci[0] < 0.09 && r.ci[1] > 0.09);
    assert.ok(r.correlation !== null && r.correlation > 0.5);
    assert.ok(r.mde > 0 && r.mde < 0.2);
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
    const plain = pairedComparison(a, b, { ci: "t" });
    const clustered = pairedComparison(a, b, { clusterIds: ids });
    assert.equal(clustered.test, "clustered-t");
    assert.equal(clustered.ciMethod, "clustered-t");
    assert.equal(clustered.clusters, 40);
    assert.ok(clustered.clusteredSe! > plain.se, "clustering inflates the SE");
    assert.ok(clustered.ci[1] - clustered.ci[0] > plain.ci[1] - plain.ci[0]);
    assert.ok(clustered.mde > plain.mde);
    assert.deepEqual(clustered.discordant, plain.discordant);
  });

  it("identical systems and validation", () => {
    const r = pairedComparison([1, 0, 1, 1], [1, 0, 1, 1], { iterations: 100 });
    assert.equal(r.pValue, 1);
    assert.equal(r.diff, 0);
    assert.deepEqual(r.ci, [0, 0]);
    assert.equal(r.significant, false);
    assert.throws(() => pairedComparison([1, 0], [1]), RangeError);
    assert.throws(() => pairedComparison([0.5, 1], [1, 1], { binary: true }), RangeError);
    assert.equal(pairedComparison([0, 1, 1], [1, 1, 1], { binary: false, iterations: 100 }).test, "paired-t");
  });
});
