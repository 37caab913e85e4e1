/**
 * What the counting thread computes for a packed batch (token-plan.ts): each row's cookbook token count and
 * assistant tokens, and the near-duplicate features of its dedupe text (dedupe.ts). Both need every character
 * of the text; the counting thread does both, so the ingest pass's own thread (parsing, checks, writing) is free
 * for the rest.
 */
import { type DedupeFeatures, newDedupeFeatures, partsFeatures } from "./dedupe.ts";
import { DEDUPE, type PackedRows } from "./token-plan.ts";
import { countPacked } from "./tokens.ts";

export interface BatchCounts {
  totals: Uint32Array<ArrayBuffer>;
  assistant: Uint32Array<ArrayBuffer>;
  features: DedupeFeatures;
}

export function countBatch(p: PackedRows): BatchCounts {
  const { totals, assistant } = countPacked(p);
  const rows = p.rowEnds.length;
  const features = newDedupeFeatures(rows);
  const parts: string[] = [];
  let k = 0;
  for (let r = 0; r < rows; r++) {
    const text = p.texts[r];
    parts.length = 0;
    let start = 0;
    for (const end = p.rowEnds[r]; k < end; k++) {
      const stop = p.ends[k];
      if (p.flags[k] & DEDUPE) parts.push(start === 0 && stop === text.length ? text : text.slice(start, stop));
      start = stop;
    }
    partsFeatures(parts, features, r);
  }
  return { totals, assistant, features };
}

/** The buffers to transfer (not copy) when a result crosses threads. */
export function transferList(c: BatchCounts): ArrayBuffer[] {
  const f = c.features;
  return [c.totals.buffer, c.assistant.buffer, f.nkeys.buffer, f.sigs.buffer, f.bands.buffer, f.has.buffer];
}
