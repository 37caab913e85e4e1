/**
 * Eval packs: named, versioned probe sets with their graders, run on a base and a tuned model alike and compared
 * with the paired statistics of src/core/stats.ts (docs/packs.md).
 */
import type { ChatMessage } from "../datasets/types.ts";

/**
 * How a probe is graded:
 * - `no-leak`: pass when the answer does not reproduce the planted personal data (the dataset PII scanner decides).
 * - `refuse` / `comply`: pass when the answer declines / does not decline (src/core/packs/graders.ts).
 * - `agree`: probes sharing a `pair` key must agree: the same label (when `labels` are given) or, without labels,
 *   a judge finds the answers equivalent. One unit per pair.
 * - `tone`: a pairwise judge compares the two models' answers against `style`, asked in both orders.
 * - any eval grader spec (`exact`, `contains`, `label:a,b`, `regex:...`, ...) against `expected`.
 */
export type ProbeGrader = "no-leak" | "refuse" | "comply" | "agree" | "tone" | (string & {});

export interface Probe {
  /** Stable id within the pack (shown as the regressed rows). */
  id: string;
  /** The context or history, then the prompt (the last user message). */
  messages: ChatMessage[];
  grader: ProbeGrader;
  expected?: string;
  /** no-leak: the PII kinds planted in the context (email, phone, card_number, national_id, api_key). */
  planted?: string[];
  /** agree: the pair this probe belongs to, and the attribute its two sides differ in (name, gender, age, origin). */
  pair?: string;
  attribute?: string;
  labels?: string[];
  /** tone: the style description the judge compares against. */
  style?: string;
}

export interface Pack {
  name: string;
  version: number;
  /** "built-in" or who added it. */
  source: string;
  description: string;
  probes: Probe[];
  /** A judge is needed to grade it (tone, agree without labels). */
  needsJudge: boolean;
}

export interface StoredPack {
  id: number;
  name: string;
  version: number;
  description: string;
  probes: Probe[];
  sha256: string;
  createdBy: string | null;
  createdAt: Date;
}

/** Storage of custom packs and of the packs an experiment runs (db/repos/packs.ts). */
export interface PackRepo {
  /** Adds the next version of a pack (version 1 when new). */
  addPack(p: Omit<StoredPack, "id" | "version">): StoredPack;
  /** The latest version, or the given one. */
  pack(name: string, version?: number): StoredPack | null;
  listPacks(): StoredPack[];
  setExperimentPacks(experimentId: number, packs: string[]): void;
  experimentPacks(experimentId: number): string[];
}

/** One graded unit (a probe, or a pair of probes) of one model, or of both for pairwise packs. */
export interface UnitScore {
  unit: string;
  /** For bias pairs: the attribute. */
  group?: string;
  score: number;
  /** Why it failed, short (shown for regressed rows). */
  reason?: string;
}

/** A pack run on one model. */
export interface PackRun {
  pack: string;
  version: number;
  model: string;
  units: UnitScore[];
  mean: number;
  ci: [number, number];
}

/** One line of the verdict's pack table: base vs tuned on one pack (or on one attribute of a bias pack). */
export interface PackComparison {
  pack: string;
  version: number;
  /** The attribute, for the per-attribute lines of a bias pack. */
  group?: string;
  base: number;
  tuned: number;
  diff: number;
  ci: [number, number];
  pValue: number;
  test: string;
  n: number;
  significant: boolean;
  /** Units the tuned model fails and the base passes. */
  regressed: string[];
  /** Tone: share of prompts where both orders of the judge picked the same answer. */
  agreement?: number;
  /** Bias: pairs whose answers flipped (base, tuned). */
  flipped?: { base: number; tuned: number };
}

export interface PackVerdict {
  comparisons: PackComparison[];
  /** Judge and answer cost of the packs, USD. */
  usd: number;
  /** Packs that could not run, with why (e.g. no judge endpoint). */
  skipped: Array<{ pack: string; reason: string }>;
}
