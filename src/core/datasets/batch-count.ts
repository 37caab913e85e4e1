/**
 * What the counting thread computes for a packed batch (token-plan.ts): each row's cookbook token count and
 * assistant tokens, and the near-duplicate features of its dedupe text (dedupe.ts). Both need every character
 * of the text; the counting thread does both, unless the ingest thread (parsing, checks, writing) finds it
 * behind and computes a batch's features itself (ingest.ts), which balances the two threads.
 */
import { batchFeatures } from "./batch-features.ts";
import type { DedupeFeatures } from "./dedupe.ts";
import type { PackedRows } from "./token-plan.ts";
import { countPacked } from "./tokens.ts";

export interface BatchCounts {
  totals: Uint32Array<ArrayBuffer>;
  assistant: Uint32Array<ArrayBuffer>;
  /** Null when the sender computes them itself (see ingest.ts). */
  features: DedupeFeatures | null;
}

export function countBatch(p: PackedRows, withFeatures = true): BatchCounts {
  const { totals, assistant } = countPacked(p);
  return { totals, assistant, features: withFeatures ? batchFeatures(p) : null };
}

/** The buffers to transfer (not copy) when a result crosses threads. */
export function transferList(c: BatchCounts): ArrayBuffer[] {
  const f = c.features;
  const out = [c.totals.buffer, c.assistant.buffer];
  if (f) out.push(f.nkeys.buffer, f.sigs.buffer, f.bands.buffer, f.has.buffer);
  return out;
}
