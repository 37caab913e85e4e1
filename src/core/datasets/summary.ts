/**
 * Distribution summary of per-row numbers (token counts, message counts...).
 *
 * Percentiles use the nearest-rank method on the ascending-sorted values v[1..n]:
 *   P-th percentile = v[ceil(P/100 * n)]   (1-based; P in (0, 100])
 * so the median is v[ceil(n/2)] — for an even n the LOWER of the two middle values, never an average —
 * and p95 = v[ceil(0.95 n)]. Every reported statistic except `mean` is therefore one of the inputs.
 * `total` is the sum, `mean` = total / n (not rounded). Empty input gives all zeros.
 */
export interface Summary {
  total: number;
  min: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of ascending-sorted values (p in (0, 100]); 0 for an empty array. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  // A small epsilon keeps e.g. 0.95 * 20 = 19.000000000000004 from rounding up to rank 20.
  const rank = Math.ceil((p / 100) * n - 1e-9);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  if (n === 0) return { total: 0, min: 0, median: 0, p95: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  let total = 0;
  for (let i = 0; i < n; i++) total += sorted[i];
  return {
    total,
    min: sorted[0],
    median: nearestRank(sorted, 50),
    p95: nearestRank(sorted, 95),
    max: sorted[n - 1],
    mean: total / n,
  };
}
