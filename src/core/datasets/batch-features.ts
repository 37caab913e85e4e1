/** Near-duplicate features of a packed batch (no tokenizer here: the ingest thread computes some batches too). */
import { type DedupeFeatures, newDedupeFeatures, partsFeatures } from "./dedupe.ts";
import { DEDUPE, type PackedRows } from "./token-plan.ts";

/** The near-duplicate features of each row of a packed batch (from the pieces of its dedupe text). */
export function batchFeatures(p: PackedRows): DedupeFeatures {
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
  return features;
}
