/**
 * Failure clusters: the tuned model's failed eval rows (and its regressions against the base) grouped by what they
 * share. Label-like tasks (short expected answers) group by the expected answer; other tasks by prompt similarity
 * (MinHash signatures, as the dedupe computes them, joined above NEAR_SIMILARITY). Each cluster says what its rows
 * share (the answer, the word pairs most of its prompts hold, the grader's commonest reason), its size, an example,
 * and how many training rows lie near it.
 */
import { normalizeText } from "../evals/graders.ts";
import { estimateSimilarity, signature } from "../datasets/dedupe.ts";

export const NEAR_SIMILARITY = 0.5;
/** Rows of a cluster compared with the training set when counting its near rows (the first ones). */
const NEAR_SAMPLE = 64;

export interface FailureRow {
  rowIndex: number;
  line: number;
  prompt: string;
  expected: string;
  output: string;
  reason: string | null;
  /** The base model passed this row. */
  regressed: boolean;
}

export interface Cluster {
  /** 1-based, by size (then by key). */
  k: number;
  key: string;
  /** What the rows share, for people: `answer "angry"`, `prompts with "took ... without asking"`. */
  label: string;
  size: number;
  regressed: number;
  rowIndexes: number[];
  lines: number[];
  example: { line: number; prompt: string; expected: string; output: string; reason: string | null };
  /** Word pairs most of its prompts hold. */
  ngrams: string[];
  reason: string | null;
  /** Training rows with the same expected answer (label clusters), and with a prompt near one of the cluster's. */
  trainSameAnswer: number | null;
  trainNear: number;
}

const isLabelLike = (s: string) => s.trim().length > 0 && s.trim().split(/\s+/).length <= 3 && s.length <= 40;

function bigrams(text: string): Set<string> {
  const w = normalizeText(text).split(/\s+/).filter(Boolean);
  const out = new Set<string>();
  for (let i = 0; i + 1 < w.length; i++) out.add(`${w[i]} ${w[i + 1]}`);
  return out;
}

function topNgrams(prompts: string[], n = 3): string[] {
  const counts = new Map<string, number>();
  for (const p of prompts) for (const g of bigrams(p)) counts.set(g, (counts.get(g) ?? 0) + 1);
  return [...counts.entries()]
    .filter(([, c]) => c >= Math.max(2, Math.ceil(prompts.length * 0.5)))
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([g]) => g);
}

function commonest(xs: Array<string | null>): string | null {
  const counts = new Map<string, number>();
  for (const x of xs) if (x) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best: string | null = null;
  for (const [k, c] of counts) if (best === null || c > (counts.get(best) ?? 0)) best = k;
  return best;
}

/** Groups failures into clusters; `train` is the training set (prompt, expected) for the near counts. */
export function clusterFailures(failures: FailureRow[], train: Array<{ prompt: string; expected: string }>): Cluster[] {
  if (!failures.length) return [];
  const labelTask = failures.filter((f) => isLabelLike(f.expected)).length >= failures.length * 0.8;
  const groups = new Map<string, FailureRow[]>();
  const sigs = failures.map((f) => signature(f.prompt));
  if (labelTask) {
    for (const f of failures) {
      const key = `answer:${normalizeText(f.expected)}`;
      groups.set(key, [...(groups.get(key) ?? []), f]);
    }
  } else {
    // union-find over prompt similarity
    const parent = failures.map((_, i) => i);
    const find = (i: number): number => {
      while (parent[i] !== i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
      }
      return i;
    };
    for (let i = 0; i < failures.length; i++)
      for (let j = i + 1; j < failures.length; j++)
        if (estimateSimilarity(sigs[i], sigs[j], NEAR_SIMILARITY) >= NEAR_SIMILARITY) parent[find(i)] = find(j);
    failures.forEach((f, i) => {
      const key = `prompts:${failures[find(i)].rowIndex}`;
      groups.set(key, [...(groups.get(key) ?? []), f]);
    });
  }
  const trainSigs = train.map((t) => signature(t.prompt));
  const sigOf = new Map(failures.map((f, i) => [f.rowIndex, sigs[i]]));
  const clusters = [...groups.entries()].map(([key, rows]) => {
    const ngrams = topNgrams(rows.map((r) => r.prompt));
    const answer = labelTask ? rows[0].expected.trim() : null;
    const sample = rows.slice(0, NEAR_SAMPLE).map((r) => sigOf.get(r.rowIndex)!);
    let near = 0;
    for (const ts of trainSigs)
      if (sample.some((s) => estimateSimilarity(s, ts, NEAR_SIMILARITY) >= NEAR_SIMILARITY)) near++;
    const ex = rows.find((r) => r.regressed) ?? rows[0];
    const label = answer
      ? `answer "${answer}"`
      : ngrams.length
        ? `prompts with "${ngrams.join('", "')}"`
        : `prompts like "${ex.prompt.slice(0, 60)}"`;
    return {
      k: 0,
      key,
      label,
      size: rows.length,
      regressed: rows.filter((r) => r.regressed).length,
      rowIndexes: rows.map((r) => r.rowIndex),
      lines: rows.map((r) => r.line),
      example: { line: ex.line, prompt: ex.prompt, expected: ex.expected, output: ex.output, reason: ex.reason },
      ngrams,
      reason: commonest(rows.map((r) => r.reason)),
      trainSameAnswer: answer ? train.filter((t) => normalizeText(t.expected) === normalizeText(answer)).length : null,
      trainNear: near,
    } satisfies Cluster;
  });
  clusters.sort((a, b) => b.size - a.size || a.key.localeCompare(b.key));
  clusters.forEach((c, i) => {
    c.k = i + 1;
  });
  return clusters;
}
