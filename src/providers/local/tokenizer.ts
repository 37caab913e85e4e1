/**
 * The llama2.c tokenizer (tokenizer.bin, e.g. tok512.bin): a sentencepiece BPE vocabulary exported with merge scores.
 *
 * Layout: int32 max_token_length, then per token: float32 score, int32 byte length, the piece's bytes. Ids 0..2 are
 * <unk>, BOS ("\n<s>\n") and EOS ("\n</s>\n"); ids 3..258 are the byte-fallback pieces <0x00>..<0xFF>.
 *
 * encode() mirrors llama2.c's encode(): optional BOS, a dummy-prefix " " token when the text is not empty, one piece
 * per UTF-8 code point (or its bytes as byte-fallback tokens when the code point is not in the vocabulary), then
 * greedy merges of the adjacent pair whose merged piece has the highest score (leftmost on ties), and optional EOS.
 */
import fs from "node:fs";

export const BOS = 1;
export const EOS = 2;

export interface EncodeOptions {
  bos?: boolean;
  eos?: boolean;
  /** Prepend the " " token like sentencepiece's add_dummy_prefix (llama2.c always does for non-empty text). Default true. */
  dummyPrefix?: boolean;
}

export interface DecodeOptions {
  /**
   * The token that came before ids[0] (e.g. the last prompt token). As in llama2.c, a piece that follows BOS loses its
   * leading space. Default: none.
   */
  prevToken?: number;
}

/** A piece as a "binary string" (one char per byte), so pieces can be compared and concatenated cheaply. */
type BinStr = string;

export class Tokenizer {
  readonly vocabSize: number;
  readonly maxTokenLength: number;
  /** Pieces as byte strings (one char per byte). */
  private readonly pieces: BinStr[];
  private readonly scores: Float32Array;
  private readonly lookup = new Map<BinStr, number>();
  private readonly pieceBytes: Uint8Array[];

  constructor(bytes: Uint8Array, vocabSize = 512) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxTokenLength = view.getInt32(0, true);
    this.vocabSize = vocabSize;
    this.pieces = [];
    this.pieceBytes = [];
    this.scores = new Float32Array(vocabSize);
    let off = 4;
    for (let i = 0; i < vocabSize; i++) {
      if (off + 8 > bytes.byteLength) throw new Error(`tokenizer file ends at token ${i} of ${vocabSize}`);
      this.scores[i] = view.getFloat32(off, true);
      const len = view.getInt32(off + 4, true);
      off += 8;
      const b = bytes.slice(off, off + len);
      off += len;
      this.pieceBytes.push(b);
      const s = Buffer.from(b).toString("latin1");
      this.pieces.push(s);
      if (!this.lookup.has(s)) this.lookup.set(s, i);
    }
    // Byte-fallback pieces decode to their byte, not to the text "<0xAB>".
    for (let i = 0; i < vocabSize; i++) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(this.pieces[i]);
      if (m) this.pieceBytes[i] = Uint8Array.of(Number.parseInt(m[1], 16));
    }
  }

  static fromFile(file: string, vocabSize = 512): Tokenizer {
    return new Tokenizer(fs.readFileSync(file), vocabSize);
  }

  /** The piece of one token, as text (byte-fallback tokens as the byte they stand for). */
  piece(id: number): string {
    return Buffer.from(this.pieceBytes[id] ?? new Uint8Array()).toString("utf8");
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const tokens: number[] = [];
    if (opts.bos) tokens.push(BOS);
    const bytes = Buffer.from(text, "utf8");
    if (bytes.length > 0 && opts.dummyPrefix !== false) {
      const sp = this.lookup.get(" ");
      if (sp !== undefined) tokens.push(sp);
    }
    // One piece per UTF-8 code point (at most 4 bytes), byte fallback (+3) when it is not in the vocabulary.
    let i = 0;
    while (i < bytes.length) {
      let j = i + 1;
      while (j < bytes.length && (bytes[j] & 0xc0) === 0x80 && j - i < 4) j++;
      const cp = bytes.subarray(i, j).toString("latin1");
      const id = this.lookup.get(cp);
      if (id !== undefined) tokens.push(id);
      else for (let k = i; k < j; k++) tokens.push(bytes[k] + 3);
      i = j;
    }
    // Greedy merges by score (the leftmost pair wins ties, as in llama2.c).
    for (;;) {
      let bestScore = -1e10;
      let bestId = -1;
      let bestIdx = -1;
      for (let k = 0; k < tokens.length - 1; k++) {
        const id = this.lookup.get(this.pieces[tokens[k]] + this.pieces[tokens[k + 1]]);
        if (id !== undefined && this.scores[id] > bestScore) {
          bestScore = this.scores[id];
          bestId = id;
          bestIdx = k;
        }
      }
      if (bestIdx === -1) break;
      tokens.splice(bestIdx, 2, bestId);
    }
    if (opts.eos) tokens.push(EOS);
    return tokens;
  }

  /** Bytes of a token sequence, skipping BOS/EOS; a piece right after BOS loses its leading space (llama2.c). */
  decodeBytes(ids: readonly number[], opts: DecodeOptions = {}): Uint8Array {
    const parts: Uint8Array[] = [];
    let prev = opts.prevToken ?? -1;
    for (const id of ids) {
      if (id === BOS || id === EOS || id < 0 || id >= this.vocabSize) {
        prev = id;
        continue;
      }
      let b = this.pieceBytes[id];
      if (prev === BOS && b.length > 0 && b[0] === 0x20) b = b.subarray(1);
      parts.push(b);
      prev = id;
    }
    return Buffer.concat(parts);
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return Buffer.from(this.decodeBytes(ids, opts)).toString("utf8");
  }
}
