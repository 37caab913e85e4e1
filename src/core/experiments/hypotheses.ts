import type { HypothesisVerdict } from "../ports.ts";
import type { PairedComparison } from "../stats.ts";

/**
 * Decides a hypothesis "expect X pts" from a paired comparison: supported when the change is significant in the
 * expected direction and the interval reaches X; not supported when the interval lies short of X; else inconclusive.
 */
export function hypothesisVerdict(c: PairedComparison, expect: number): HypothesisVerdict {
  const observed = c.diff * 100;
  const [lo, hi] = [c.ci[0] * 100, c.ci[1] * 100];
  let outcome: HypothesisVerdict["outcome"];
  if (c.significant && Math.sign(c.diff) === Math.sign(expect || 1) && (expect >= 0 ? hi >= expect : lo <= expect))
    outcome = "supported";
  else if ((expect >= 0 && hi < expect) || (expect < 0 && lo > expect)) outcome = "not_supported";
  else outcome = "inconclusive";
  return {
    outcome,
    observedPts: Math.round(observed * 10) / 10,
    ci: [Math.round(lo * 10) / 10, Math.round(hi * 10) / 10],
    pValue: c.pValue,
    summary: `expected ${expect >= 0 ? "+" : ""}${expect} pts, observed ${observed >= 0 ? "+" : ""}${observed.toFixed(1)} pts (95% CI ${lo.toFixed(1)} to ${hi.toFixed(1)}), ${c.test} p ${c.pValue < 0.001 ? "< 0.001" : `= ${c.pValue.toFixed(3)}`}: ${outcome.replace("_", " ")}`,
  };
}
