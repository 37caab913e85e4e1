/**
 * Is the migrated model at least as good as the one it replaces? A non-inferiority test on the paired comparison
 * of target against source on the same eval rows (EvalService.compareEvals: Newcombe's interval for pass/fail
 * metrics, the paired bootstrap for continuous ones, the MDE after Connor 1987):
 *
 *   non-inferior  the lower bound of the 95% interval of (target - source) lies above -margin;
 *   inferior      its upper bound lies below -margin (worse by more than the margin, with 95% confidence);
 *   inconclusive  the interval straddles -margin: this eval cannot tell; the MDE says what it can detect.
 */
import type { Comparison } from "../evals/service.ts";
import { mdePoints } from "../evals/service.ts";
import { fmt } from "../format.ts";

export type NonInferiorityOutcome = "non-inferior" | "inferior" | "inconclusive";

export interface NonInferiority {
  outcome: NonInferiorityOutcome;
  /** The margin in points (2 = two percentage points of the metric). */
  marginPts: number;
  /** target - source, in points, with its 95% interval. */
  diffPts: number;
  ciPts: [number, number];
  mdePts: number | null;
  n: number;
  /** Eval lines where the target scored lower than the source. */
  regressions: number[];
  sentence: string;
}

const pts = (x: number) => Math.round(x * 1000) / 10;

/** The parts of a paired comparison (EvalService.compareEvals) the verdict reads. */
export type ComparedPair = Pick<Comparison, "a" | "b" | "n" | "diff" | "ci" | "mde" | "regressions">;

export function nonInferiority(c: ComparedPair, marginPts: number): NonInferiority {
  const m = marginPts / 100;
  const [lo, hi] = c.ci;
  const outcome: NonInferiorityOutcome = lo > -m ? "non-inferior" : hi < -m ? "inferior" : "inconclusive";
  const head = `${c.b.model} scores ${fmt.pts(c.diff)} against ${c.a.model} (95% CI ${fmt.pts(lo)} to ${fmt.pts(hi)}, n = ${c.n}; margin -${marginPts} pts)`;
  const mde = Number.isFinite(c.mde) ? `${mdePoints(c.mde)}` : null;
  let sentence: string;
  if (outcome === "non-inferior")
    sentence = `Non-inferior: ${head}. The whole interval lies above -${marginPts} pts, so the migrated model is at least as good within the margin.`;
  else if (outcome === "inferior")
    sentence = `Inferior: ${head}. The whole interval lies below -${marginPts} pts: the migrated model is worse by more than the margin.`;
  else {
    // The interval's width shrinks about as 1/sqrt(n): the rows at which its lower side would clear -margin if the
    // difference stayed where it is (only when the difference itself is above -margin).
    const need = c.diff > -m ? Math.ceil(c.n * ((c.diff - lo) / (c.diff + m)) ** 2) : null;
    const more =
      need !== null && need > c.n
        ? ` If the difference stayed at ${fmt.pts(c.diff)}, about ${fmt.count(need, "eval row")} would show it (roughly: the interval narrows as 1/sqrt(rows)).`
        : "";
    sentence = `Inconclusive: ${head}. The interval reaches below -${marginPts} pts and above it, so this eval cannot tell; at ${c.n} rows it detects differences of about ${mde ?? "no size (too few rows)"} (80% power).${more} Evaluate on more rows (--eval a larger held-out set) or accept a wider margin.`;
  }
  return {
    outcome,
    marginPts,
    diffPts: pts(c.diff),
    ciPts: [pts(lo), pts(hi)],
    mdePts: Number.isFinite(c.mde) ? pts(c.mde) : null,
    n: c.n,
    regressions: c.regressions,
    sentence,
  };
}

/** "2pts", "2 pts", "2", "1.5pt" -> points; null when it is not that. */
export function parseMargin(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:pts?|points?)?\s*$/i.exec(s);
  if (!m) return null;
  const v = Number(m[1]);
  return v > 0 && v <= 100 ? v : null;
}
