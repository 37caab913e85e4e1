/**
 * The local trainer's batches, without loading tfjs: which examples each step takes, and how many tokens a
 * training processes once every batch is padded to its longest example (what its time depends on).
 */
import type { ChatMessage, LocatedRow } from "../../core/datasets/types.ts";
import { shuffleInPlace, mulberry32 } from "./rng.ts";
import { chatToExample } from "./template.ts";

/**
 * The examples of each step, in order (indices into the examples): every epoch is a fresh seeded shuffle, cut into
 * batches of `batchSize` (the last one of an epoch may be shorter). The training loop runs exactly these batches;
 * the wall-time estimate walks them too.
 */
export function batchPlan(n: number, h: { epochs: number; batchSize: number; seed: number }): number[][] {
  const shuffleRand = mulberry32((h.seed ^ 0x5bd1e995) >>> 0);
  const stepsPerEpoch = Math.ceil(n / h.batchSize);
  const plan: number[][] = [];
  for (let epoch = 1; epoch <= h.epochs; epoch++) {
    const order = shuffleInPlace(
      Array.from({ length: n }, (_, i) => i),
      shuffleRand,
    );
    for (let s = 0; s < stepsPerEpoch; s++) plan.push(order.slice(s * h.batchSize, (s + 1) * h.batchSize));
  }
  return plan;
}

/**
 * Characters per token of the model's 512-piece vocabulary on English text: 1.63 on alpaca_en_demo and 1.67 on
 * the demo task (measured with its tokenizer). Exact counts would need that tokenizer on every row, which takes
 * seconds per thousand rows: too slow for an estimate.
 */
const CHARS_PER_TOKEN = 1.65;

/** About how many of the model's tokens a text takes (its dummy-prefix token included); non-ASCII falls back to bytes. */
export function approxModelTokens(text: string): number {
  if (!text) return 0;
  let ascii = 0;
  let other = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x80) ascii++;
    else other += c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return 1 + Math.ceil(ascii / CHARS_PER_TOKEN) + other;
}

/**
 * What a training processes: the model's inputs of every step, each batch padded to its longest example (BOS,
 * prompt, completion, EOS; at most `maxSeqLen` inputs), and the steps' mean padded length.
 */
export function paddedWork(
  rows: readonly LocatedRow[],
  h: { epochs: number; batchSize: number; seed: number },
  maxSeqLen = 512,
): { tokens: number; tokensPerRow: number } {
  const lengths = rows.map((r) => {
    const ex = chatToExample((r.messages ?? []) as ChatMessage[], r.text);
    if (!ex) return 0;
    // [BOS] + prompt + completion + [EOS], minus the last id (the model sees n - 1 inputs).
    return Math.min(maxSeqLen, approxModelTokens(ex.prompt) + approxModelTokens(ex.completion) + 1);
  });
  let tokens = 0;
  let steps = 0;
  let padded = 0;
  for (const batch of batchPlan(lengths.length, h)) {
    const t = Math.max(1, ...batch.map((i) => lengths[i]));
    tokens += batch.length * t;
    padded += t;
    steps++;
  }
  return { tokens, tokensPerRow: steps ? padded / steps : 0 };
}
