/**
 * How long a training takes: the estimate a run shows before it starts, and how it learns from the runs that ended.
 *
 * Model: wall = overhead + tokens / rate, in the training tokens the cost estimate counts (epochs x the rows' tokens
 * up to the model's context). The rate depends on the provider, the base model and the sequence length (long rows
 * train far slower per token on the local trainer: padding and attention), so it is kept per provider, base model
 * and sequence-length bucket (tokens per row rounded to a power of two).
 *
 * 1. Measured: the newest runs of the same provider, base model and bucket that trained here (the
 *    `throughput_samples` table, one row per finished training). Each says how far the table was off for it
 *    (its wall time / the table's prediction); the estimate is the table's prediction times the median of those
 *    factors, so a run like an earlier one is estimated at what that one took, and the fixed overhead of a hosted
 *    job is not stretched over its tokens. The figure shown is those runs' median tokens/s, wall to wall.
 * 2. Otherwise the default table, src/providers/throughput.json (loaded and validated by the providers and handed in
 *    with `useThroughputTable`): entries per
 *    provider and model ("*" = any), each with tokensPerRow (null = any length; between two entries of one model the
 *    rate is interpolated on log scales), tokensPerSec, overheadSeconds, and where the numbers come from (`source`,
 *    `date`, a short `note` shown with the estimate).
 */
import { z } from "zod";
import { fmt } from "../cards.ts";
import type { ThroughputSample } from "../ports.ts";

export const ThroughputEntrySchema = z
  .object({
    provider: z.string().min(1),
    model: z.string().min(1),
    tokensPerRow: z.number().int().positive().nullable(),
    tokensPerSec: z.number().positive(),
    overheadSeconds: z.number().nonnegative(),
    note: z.string().min(1),
    source: z.string().min(1),
    date: z.iso.date(),
  })
  .strict();

export type ThroughputEntry = z.infer<typeof ThroughputEntrySchema>;

let table: readonly ThroughputEntry[] | undefined;

export function parseThroughputTable(data: unknown): ThroughputEntry[] {
  const r = z.array(ThroughputEntrySchema).safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new Error(`throughput.json is invalid: ${issues}`);
  }
  return r.data;
}

/** Hands the core the default throughput table (the providers load and validate it: src/providers/tables.ts). */
export function useThroughputTable(entries: readonly ThroughputEntry[]): void {
  table = Object.freeze([...entries]);
}

/** The default throughput table handed in by the providers. */
export function throughputTable(): readonly ThroughputEntry[] {
  if (table === undefined) {
    throw new Error("no throughput table: the wiring hands it in (installCostTables in src/providers/tables.ts)");
  }
  return table;
}

/** Newest samples an estimate looks at. */
export const SAMPLE_WINDOW = 10;

/** The sequence-length bucket of a training: tokens per row rounded to the nearest power of two (at least 8). */
export function seqBucket(tokensPerRow: number): number {
  return 2 ** Math.max(3, Math.round(Math.log2(Math.max(1, tokensPerRow))));
}

export interface WallEstimate {
  seconds: number;
  tokensPerSec: number;
  overheadSeconds: number;
  basis: "measured" | "table";
  /** Measured: how many earlier runs the rate comes from. */
  runs: number;
  /** The sequence-length bucket (tokens per row) of this training. */
  bucket: number;
  /** Says where the figure comes from: "from 3 earlier runs of stories260K at ~128 tokens/row: 4,900 tokens/s". */
  source: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The table's rate and overhead for a provider, model and row length (null when the table has no entry). */
export function tableThroughput(
  provider: string,
  model: string,
  tokensPerRow: number,
  entries: readonly ThroughputEntry[] = throughputTable(),
): { tokensPerSec: number; overheadSeconds: number; note: string; byRowLength: boolean } | null {
  const mine = entries.filter((e) => e.provider === provider && e.model === model);
  const pool = mine.length ? mine : entries.filter((e) => e.provider === provider && e.model === "*");
  if (!pool.length) return null;
  const any = pool.find((e) => e.tokensPerRow === null);
  const sized = pool
    .filter((e) => e.tokensPerRow !== null)
    .sort((a, b) => (a.tokensPerRow ?? 0) - (b.tokensPerRow ?? 0));
  if (!sized.length) return any ? { ...any, byRowLength: false } : null;
  const x = Math.max(1, tokensPerRow);
  const lo = [...sized].reverse().find((e) => (e.tokensPerRow ?? 0) <= x) ?? sized[0];
  const hi = sized.find((e) => (e.tokensPerRow ?? 0) >= x) ?? sized[sized.length - 1];
  if (lo === hi)
    return { tokensPerSec: lo.tokensPerSec, overheadSeconds: lo.overheadSeconds, note: lo.note, byRowLength: true };
  // Interpolate log(rate) on log(tokens per row) between the two neighbouring entries.
  const t = Math.log(x / (lo.tokensPerRow ?? 1)) / Math.log((hi.tokensPerRow ?? 1) / (lo.tokensPerRow ?? 1));
  const rate = Math.exp(Math.log(lo.tokensPerSec) + t * (Math.log(hi.tokensPerSec) - Math.log(lo.tokensPerSec)));
  return {
    tokensPerSec: rate,
    overheadSeconds: lo.overheadSeconds + t * (hi.overheadSeconds - lo.overheadSeconds),
    note: lo.note,
    byRowLength: true,
  };
}

/**
 * The wall time of a training of `tokens` training tokens over `rows` rows: from the measured samples of the same
 * provider, model and bucket when there are any, otherwise from the default table; null when neither knows the
 * provider.
 */
export function estimateWall(input: {
  provider: string;
  model: string;
  /** The training's size: billed tokens, or the trainer's own (TrainerProvider.trainingWork). */
  work: { tokens: number; tokensPerRow: number; unit?: string };
  samples: readonly ThroughputSample[];
  entries?: readonly ThroughputEntry[];
}): WallEstimate | null {
  const perRow = input.work.tokensPerRow;
  const tokens = input.work.tokens;
  const bucket = seqBucket(perRow);
  const unit = input.work.unit && input.work.unit !== "billed tokens" ? `, counting ${input.work.unit}` : "";
  const t = tableThroughput(input.provider, input.model, perRow, input.entries);
  const overhead = t?.overheadSeconds ?? 0;
  const rate = (r: number) => `${fmt.int(r)} tokens/s`;
  if (input.samples.length) {
    // Without a table entry the prediction is the tokens themselves: the factor is then seconds per token.
    const predict = (tokens: number, perRowTokens: number) => {
      const e = tableThroughput(input.provider, input.model, perRowTokens, input.entries);
      return e ? e.overheadSeconds + tokens / e.tokensPerSec : tokens;
    };
    const factor = median(input.samples.map((s) => s.wallMs / 1000 / predict(s.tokens, s.seqBucket)));
    const seen = median(input.samples.map((s) => s.tokens / Math.max(0.001, s.wallMs / 1000)));
    const n = input.samples.length;
    return {
      seconds: factor * predict(tokens, bucket),
      tokensPerSec: seen,
      overheadSeconds: overhead * factor,
      basis: "measured",
      runs: n,
      bucket,
      source: `from ${fmt.count(n, "earlier run")} of ${input.model} at ~${bucket} tokens/row: ${rate(seen)}${unit}`,
    };
  }
  if (!t) return null;
  return {
    seconds: overhead + tokens / t.tokensPerSec,
    tokensPerSec: t.tokensPerSec,
    overheadSeconds: overhead,
    basis: "table",
    runs: 0,
    bucket,
    source: `from the default table, ${t.note}: ${rate(t.tokensPerSec)}${t.byRowLength ? ` at ~${bucket} tokens/row` : ""}${unit}${overhead >= 60 ? ` plus ${Math.round(overhead / 60)} min of queue and setup` : ""}`,
  };
}

/** "+13%" / "-20%": how far the actual time was from the estimate. */
export function estimateError(estimatedSeconds: number, actualSeconds: number): string {
  const pct = Math.round(((actualSeconds - estimatedSeconds) / Math.max(estimatedSeconds, 1e-9)) * 100);
  return `${pct >= 0 ? "+" : ""}${pct}%`;
}
