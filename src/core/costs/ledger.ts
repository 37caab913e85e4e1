/** The cost ledger: every token that costs money is booked, and the wall time of free (local) work. */
import type { LedgerEntry } from "../ports.ts";

export interface CostSummary {
  trainingUsd: number;
  evalUsd: number;
  judgeUsd: number;
  totalUsd: number;
  wallSeconds: number;
  trainingTokens: number;
  /** Set when some booked usage had no known price (then the totals are lower bounds). */
  unpriced: boolean;
}

export function summarizeLedger(entries: LedgerEntry[]): CostSummary {
  const actual = entries.filter((e) => !e.estimated);
  const sum = (kind: LedgerEntry["kind"]) => actual.filter((e) => e.kind === kind).reduce((a, e) => a + e.usd, 0);
  const trainingUsd = sum("training");
  const evalUsd = sum("eval");
  const judgeUsd = sum("judge");
  return {
    trainingUsd: round(trainingUsd),
    evalUsd: round(evalUsd),
    judgeUsd: round(judgeUsd),
    totalUsd: round(trainingUsd + evalUsd + judgeUsd),
    wallSeconds: Math.round(actual.reduce((a, e) => a + e.wallMs, 0) / 100) / 10,
    trainingTokens: actual.reduce((a, e) => a + e.trainingTokens, 0),
    unpriced: actual.some((e) => Number.isNaN(e.usd)),
  };
}

export const round = (usd: number) => Math.round(usd * 1e6) / 1e6;

/** Cost of 1,000 requests at an eval's average tokens per request. */
export function costPer1k(usd: number | null, n: number): number | null {
  if (usd === null || n === 0) return null;
  return round((usd / n) * 1000);
}
