/** Near-duplicate features of a packed batch (no tokenizer here: the ingest thread computes some batches too). */
import { type DedupeFeatures, newDedupeFeatures, partsFeatures } from "./dedupe.ts";
import { DEDUPE, type PackedRows, packedPiece } from "./token-plan.ts";

/** The near-duplicate features of each row of a packed batch (from the pieces of its dedupe text). */
export function batchFeatures(p: PackedRows): DedupeFeatures {
  const rows = p.rowEnds.length;
  const features = newDedupeFeatures(rows);
  const parts: string[] = [];
  for (let r = 0, k = 0; r < rows; r++) {
    parts.length = 0;
    for (const end = p.rowEnds[r]; k < end; k++) if (p.flags[k] & DEDUPE) parts.push(packedPiece(p, r, k));
    partsFeatures(parts, features, r);
  }
  return features;
}
