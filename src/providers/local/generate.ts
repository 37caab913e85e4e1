/**
 * Batched generation with the local model: greedy (temperature 0, the default) or sampled (temperature, top-p, seed),
 * with or without a LoRA adapter (folded into the weights once per call).
 *
 * Prompts are encoded as [BOS] + encode(prompt) (the same as in training, see train.ts). The returned text is the
 * decoded completion without its first leading space (the dummy-prefix space that training puts before every
 * completion, and that llama2.c drops after BOS): "A:" -> " sad" comes back as "sad". Rows are sorted by prompt
 * length and decoded in batches with a per-row key/value cache (rows of a batch may have different lengths); a row
 * stops at EOS (or BOS, which also ends a TinyStories story) or after maxTokens. Sampling draws from a generator seeded per row (seed + row index), so a row's output
 * does not depend on how the rows were batched.
 */
import type { LlamaModel, LoraWeights } from "./model.ts";
import { disposeMerged, newCache } from "./model.ts";
import { mulberry32 } from "./rng.ts";
import { BOS, EOS, type Tokenizer } from "./tokenizer.ts";

export interface GenerateOptions {
  /** Most tokens to generate per prompt (also capped by the model's context length). */
  maxTokens: number;
  /** 0 or absent: greedy. */
  temperature?: number;
  /** Nucleus sampling mass (0 < topP <= 1; default 1). */
  topP?: number;
  /** Seed of the sampler (default 0). */
  seed?: number;
  /** Rows decoded together (default 64). */
  batchSize?: number;
}

export interface Generation {
  text: string;
  promptTokens: number;
  completionTokens: number;
  /** Time from the start of the row's batch to the row's last token. */
  latencyMs: number;
  /** The generated token ids (without the stop token). */
  tokens: number[];
  finishReason: "stop" | "length";
}

export function generate(
  model: LlamaModel,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  adapter: LoraWeights | null,
  opts: GenerateOptions,
): Generation[] {
  const cfg = model.config;
  const maxTokens = Math.max(0, Math.floor(opts.maxTokens));
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  const seed = opts.seed ?? 0;
  const batchSize = Math.max(1, opts.batchSize ?? 64);
  const encoded = prompts.map((p) => {
    const ids = tokenizer.encode(p, { bos: true });
    // Keep the end of an over-long prompt (room for at least one generated token).
    return ids.length > cfg.seqLen - 1 ? [BOS, ...ids.slice(ids.length - (cfg.seqLen - 2))] : ids;
  });
  const results: Generation[] = new Array(prompts.length);
  // Rows sorted by prompt length, so each batch pads little; a batch decodes until all its rows stop.
  const order = Array.from(encoded.keys()).sort((x, y) => encoded[x].length - encoded[y].length || x - y);
  const merged = model.mergeLora(adapter);
  try {
    for (let start = 0; start < order.length; start += batchSize) {
      const rows = order.slice(start, start + batchSize);
      const B = rows.length;
      const t0 = performance.now();
      const lens = Int32Array.from(rows, (r) => encoded[r].length);
      const T = Math.max(...lens);
      const steps = Int32Array.from(lens, (len) => Math.min(maxTokens, cfg.seqLen - len));
      const out: number[][] = rows.map(() => []);
      const done = Array.from(steps, (s) => s <= 0);
      const finished = new Array<number>(B).fill(0);
      const reason = new Array<"stop" | "length">(B).fill("length");
      const rngs = rows.map((r) => mulberry32((seed + r * 0x9e3779b1) >>> 0));
      if (!done.every(Boolean)) {
        const cache = newCache(cfg, B, T + Math.max(...steps));
        const tokens = new Int32Array(B * T);
        rows.forEach((r, b) => {
          tokens.set(encoded[r], b * T);
        });
        let logits = model.forwardInfer(
          tokens,
          B,
          T,
          lens,
          Int32Array.from(lens, (n) => n - 1),
          merged,
          cache,
        );
        const zero = new Int32Array(B);
        for (;;) {
          const next = new Int32Array(B);
          for (let b = 0; b < B; b++) {
            if (done[b]) continue;
            const row = logits.subarray(b * cfg.vocabSize, (b + 1) * cfg.vocabSize);
            const tok = temperature > 0 ? sample(row, temperature, topP, rngs[b]) : argmax(row);
            next[b] = tok;
            if (tok === EOS || tok === BOS) {
              done[b] = true;
              reason[b] = "stop";
              finished[b] = performance.now() - t0;
            } else {
              out[b].push(tok);
              if (out[b].length >= steps[b]) {
                done[b] = true;
                finished[b] = performance.now() - t0;
              }
            }
          }
          if (done.every(Boolean)) break;
          // Finished rows ride along with no token (count 0: nothing computed for them is used or cached).
          logits = model.forwardInfer(
            next,
            B,
            1,
            Int32Array.from(done, (d) => (d ? 0 : 1)),
            zero,
            merged,
            cache,
          );
        }
      }
      rows.forEach((r, b) => {
        results[r] = {
          text: stripOneSpace(tokenizer.decode(out[b])),
          promptTokens: encoded[r].length,
          completionTokens: out[b].length,
          latencyMs: finished[b] || performance.now() - t0,
          tokens: out[b],
          finishReason: reason[b],
        };
      });
    }
  } finally {
    disposeMerged(merged);
  }
  return results;
}

function stripOneSpace(s: string): string {
  return s.startsWith(" ") ? s.slice(1) : s;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Samples from softmax(row / temperature), restricted to the smallest set of tokens with mass >= topP. */
function sample(row: Float32Array, temperature: number, topP: number, rand: () => number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of row) if (v > max) max = v;
  const probs = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    probs[i] = Math.exp((row[i] - max) / temperature);
    sum += probs[i];
  }
  let order: number[];
  let mass = sum;
  if (topP < 1) {
    order = Array.from(row.keys()).sort((a, b) => probs[b] - probs[a] || a - b);
    let acc = 0;
    let cut = order.length;
    for (let k = 0; k < order.length; k++) {
      acc += probs[order[k]];
      if (acc >= topP * sum) {
        cut = k + 1;
        break;
      }
    }
    order = order.slice(0, cut);
    mass = acc;
  } else {
    order = Array.from(row.keys());
  }
  let u = rand() * mass;
  for (const i of order) {
    u -= probs[i];
    if (u <= 0) return i;
  }
  return order[order.length - 1];
}
