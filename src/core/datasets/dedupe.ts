/**
 * Exact and near-duplicate detection, train/eval overlap, and prompt grouping for splitters.
 *
 * Exact duplicates: identical canonical rows (`hashRow`: SHA-256 of the row's canonical key).
 *
 * Near duplicates (not exact):
 *  1. the same normalised text (`normalizeText` of the row's dedupe text: whitespace, case, punctuation and
 *     Unicode-compatibility differences only) — reported with similarity 1; or
 *  2. estimated Jaccard similarity of shingle sets >= threshold (default 0.85).
 *
 * The dedupe text is `dedupeText(row)`: the role-tagged messages WITHOUT system/developer messages (a long
 * system prompt shared by every row would otherwise make unrelated rows look alike), or the text of a text
 * row. Shingles are word bigrams of the normalised text (with 2-word shingles one changed word in a 40-word
 * row keeps J ≈ 0.90, comfortably over 0.85; with 3-word shingles it falls to ≈ 0.85, a coin flip);
 * texts of fewer than 12 words, or whose "words" average more than 15 characters (CJK and other unspaced
 * scripts), use character 5-grams of the normalised text instead. The words are found by a fused scanner
 * (no normalised string is built) that yields exactly `normalizeText(text).split(" ")`.
 *
 * Signature: one-permutation MinHash (OPH) with 128 bins — each shingle is hashed once (32-bit), its top
 * 7 bits pick the bin and the bin keeps the minimum. Similarity is estimated as
 * matching bins / (128 - bins empty in both) (Li, Owen & Zhang 2012): close to exact for short texts,
 * about ±0.03 (one s.d.) around 0.85 for long ones. Candidates come from LSH banding, 12 bands x 8 bins,
 * over the densified signature (an empty bin borrows a non-empty bin along a fixed pseudo-random probe
 * sequence): a pair at J = 0.85 becomes a candidate with probability 1 - (1 - 0.85^8)^12 ≈ 97.8 %, at
 * J = 0.9 ≈ 99.9 %, at J = 0.5 ≈ 4.6 %. (16 bands would give 99.4 % at 0.85 for ~10 % more time; the
 * estimate's own noise at the threshold is larger than that difference.)
 *
 * Memory per indexed row: the SHA-256 hex (Map key), a 53-bit key of the normalised text, the 512-byte
 * signature and 12 bucket entries in typed-array hash tables — about 1 KB; never the text.
 *
 * Quadratic guard (templated data, where thousands of rows share buckets): a bucket keeps at most
 * BUCKET_CAP (64) rows — the earliest ones, so "earliest match" is preserved — and a row is compared with
 * at most MAX_VERIFY (128) candidates, earliest first, stopping at the first match. A comparison stops as
 * soon as the mismatching bins rule the threshold out. A row whose only similar rows all sit beyond those
 * caps can be missed; with the caps, work is O(rows x min(12 x 64, 128)) comparisons in the worst case.
 */
import type { NormalizedRow } from "./types.ts";
import { dedupeText, hashRow, messageText, normalizeText, promptText } from "./text.ts";

export const DEFAULT_THRESHOLD = 0.85;
/** Signature size (bins of the one-permutation MinHash). */
export const SIG_BINS = 128;
const BIN_SHIFT = 25; // 32 - log2(SIG_BINS)
export const LSH_BANDS = 12;
export const LSH_ROWS = 8;
/** Bins used by the bands (the first LSH_BANDS * LSH_ROWS of the signature). */
const LSH_BINS = LSH_BANDS * LSH_ROWS;
export const CHAR_SHINGLE = 5;
export const MIN_WORDS_FOR_WORD_SHINGLES = 12;
const MAX_AVG_WORD_LENGTH = 15;
/** Rows kept per LSH bucket (the earliest ones). */
export const BUCKET_CAP = 64;
/** Candidate comparisons per row at most. */
export const MAX_VERIFY = 128;
/** findOverlap: pairs reported per train row and kind at most. */
export const MAX_PAIRS_PER_ROW = 20;

const EMPTY = 0xffffffff;

// ---------------------------------------------------------------------------------------------------------
// Hashing primitives (32-bit, Math.imul based).

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

// ---------------------------------------------------------------------------------------------------------
// Fused normalisation + word hashing: the words found here are exactly `normalizeText(s).split(" ")`
// (letters, marks and digits after NFKC + lower-casing), but no string is built.

/** Per UTF-16 code unit: 0 unknown, 1 word character, 2 separator, 3 surrogate (decided per pair). */
const CLASS = new Uint8Array(65536);
const WORD_CHAR = /^[\p{L}\p{M}\p{N}]$/u;
for (let c = 0; c < 128; c++) {
  CLASS[c] = (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90) ? 1 : 2;
}
for (let c = 0xd800; c <= 0xdfff; c++) CLASS[c] = 3;
const astralClass = new Map<number, boolean>();

function classifyBmp(c: number): number {
  const k = WORD_CHAR.test(String.fromCharCode(c)) ? 1 : 2;
  CLASS[c] = k;
  return k;
}

function isAstralWord(cp: number): boolean {
  let w = astralClass.get(cp);
  if (w === undefined) {
    w = WORD_CHAR.test(String.fromCodePoint(cp));
    astralClass.set(cp, w);
  }
  return w;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

/*
 * Scratch output of the scanner (module-level, reused; the functions here are not re-entrant). Only
 * small integers live in module variables (a full 32-bit value there would be boxed on every store); the
 * word hashes go to an Int32Array and the two sequence keys (seqKey) are computed by endScan.
 */
let words = new Int32Array(1024);
let wordCount = 0;
let wordChars = 0;
const seqKey = new Int32Array(2);

function pushWord(h: number, len: number): void {
  if (wordCount === words.length) {
    const bigger = new Int32Array(words.length * 2);
    bigger.set(words);
    words = bigger;
  }
  words[wordCount++] = h ^ Math.imul(len, 0x9e3779b1); // FNV-1a of the word; shingles are fmix32-ed
  wordChars += len;
}

function beginScan(): void {
  wordCount = 0;
  wordChars = 0;
}

/** Two 32-bit hashes of the word sequence (order-sensitive), into seqKey. */
function endScan(): void {
  let a = 0x12345678;
  let b = 0x3c6ef372;
  const w = words;
  const n = wordCount;
  for (let i = 0; i < n; i++) {
    const wh = w[i];
    a = Math.imul(rotl(a, 5) ^ wh, 0x9e3779b1);
    b = Math.imul(rotl(b, 13) + wh, 0x85ebca77) ^ (b >>> 15);
  }
  seqKey[0] = fmix32(a ^ n);
  seqKey[1] = fmix32(b ^ Math.imul(n, 0x27d4eb2d));
}

/**
 * Appends the normalised words of one part of a text (parts are separated, as by the newline or ": " that
 * joins them in rowText). Parts made of ASCII and inert separators are scanned as they are (NFKC is the
 * identity on them; A-Z are folded here); otherwise the part is rescanned from
 * `part.normalize("NFKC").toLowerCase()`.
 */
function scanPart(part: string): void {
  const c0 = wordCount;
  const ch0 = wordChars;
  if (scanFast(part)) return;
  wordCount = c0;
  wordChars = ch0;
  scanUnicode(part.normalize("NFKC").toLowerCase());
}

/** Scans one whole text. */
function scanWords(raw: string): void {
  beginScan();
  scanPart(raw);
  endScan();
}

/** Scans the dedupe text of a row (the same words as `normalizeText(dedupeText(row))`), without building it. */
function scanDedupe(row: NormalizedRow): void {
  const msgs = row.messages;
  if (row.kind === "text" || !msgs) {
    scanWords(row.text ?? "");
    return;
  }
  beginScan();
  let any = false;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (m.role === "system" || m.role === "developer") continue;
    any = true;
    scanPart(m.role);
    scanPart(messageText(m));
  }
  if (!any) {
    for (let i = 0; i < msgs.length; i++) {
      scanPart(msgs[i].role);
      scanPart(messageText(msgs[i]));
    }
  }
  endScan();
}

/** Scans the prompt of a row (the same words as `normalizeText(promptText(row))`). */
function scanPrompt(row: NormalizedRow): void {
  const msgs = row.messages;
  if (row.kind === "text" || !msgs) {
    scanWords(row.text ?? "");
    return;
  }
  beginScan();
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (m.role === "user" && typeof m.content === "string") scanPart(m.content);
  }
  endScan();
}

/** Per UTF-8 byte: lower-cased ASCII letter/digit, 0 = ASCII separator, 255 = non-ASCII byte. */
const BYTE_CLASS = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  BYTE_CLASS[c] = c >= 128 ? 255 : (c >= 48 && c <= 57) || (c >= 97 && c <= 122) ? c : c >= 65 && c <= 90 ? c | 32 : 0;
}
const utf8 = new TextEncoder();
let byteBuf = new Uint8Array(8192);

/**
 * Per BMP code point: 0 unknown, 1 "inert separator" (not a letter/mark/digit, and unchanged by NFKC and by
 * lower-casing: typographic quotes, dashes, most symbols and emoji), 2 anything else.
 */
const INERT = new Uint8Array(65536);
const inertAstral = new Map<number, boolean>();

function isInertSeparator(cp: number): boolean {
  if (cp < 65536) {
    let k = INERT[cp];
    if (k === 0) {
      const ch = String.fromCharCode(cp);
      k = !WORD_CHAR.test(ch) && ch.normalize("NFKC") === ch && ch.toLowerCase() === ch ? 1 : 2;
      INERT[cp] = k;
    }
    return k === 1;
  }
  let w = inertAstral.get(cp);
  if (w === undefined) {
    const ch = String.fromCodePoint(cp);
    w = !WORD_CHAR.test(ch) && ch.normalize("NFKC") === ch && ch.toLowerCase() === ch;
    inertAstral.set(cp, w);
  }
  return w;
}

/**
 * Fast scan on the UTF-8 bytes (TextEncoder.encodeInto + a byte loop, faster than charCodeAt). Handles
 * ASCII and inert non-ASCII separators; returns false, having pushed some words, at the first character
 * that needs Unicode processing (a non-ASCII letter/mark/digit, or anything NFKC/lower-casing changes).
 */
function scanFast(s: string): boolean {
  if (byteBuf.length < s.length * 3) byteBuf = new Uint8Array(Math.max(s.length * 3, byteBuf.length * 2));
  const buf = byteBuf;
  const n = utf8.encodeInto(s, buf).written;
  // at most one word per two bytes: make room once, then keep the scanner state in locals
  if (words.length < wordCount + (n >> 1) + 1) {
    const bigger = new Int32Array(Math.max(words.length * 2, wordCount + (n >> 1) + 1));
    bigger.set(words.subarray(0, wordCount));
    words = bigger;
  }
  const w = words;
  let wc = wordCount;
  let chars = wordChars;
  let h = FNV_OFFSET;
  let len = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i];
    const c = BYTE_CLASS[b];
    if (c === 0) {
      if (len > 0) {
        w[wc++] = h ^ Math.imul(len, 0x9e3779b1);
        chars += len;
        h = FNV_OFFSET;
        len = 0;
      }
    } else if (c !== 255) {
      h = Math.imul(h ^ c, FNV_PRIME);
      len++;
    } else {
      // multi-byte UTF-8 sequence (encodeInto output is well-formed)
      let cp: number;
      if (b < 0xe0) {
        cp = ((b & 0x1f) << 6) | (buf[i + 1] & 0x3f);
        i += 1;
      } else if (b < 0xf0) {
        cp = ((b & 0x0f) << 12) | ((buf[i + 1] & 0x3f) << 6) | (buf[i + 2] & 0x3f);
        i += 2;
      } else {
        cp = ((b & 0x07) << 18) | ((buf[i + 1] & 0x3f) << 12) | ((buf[i + 2] & 0x3f) << 6) | (buf[i + 3] & 0x3f);
        i += 3;
      }
      if (!isInertSeparator(cp)) return false;
      if (len > 0) {
        w[wc++] = h ^ Math.imul(len, 0x9e3779b1);
        chars += len;
        h = FNV_OFFSET;
        len = 0;
      }
    }
  }
  if (len > 0) {
    w[wc++] = h ^ Math.imul(len, 0x9e3779b1);
    chars += len;
  }
  wordCount = wc;
  wordChars = chars;
  return true;
}

/** Scans an NFKC-normalised, lower-cased text of any script. */
function scanUnicode(s: string): void {
  let h = FNV_OFFSET;
  let len = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let k = CLASS[c];
    if (k === 0) k = classifyBmp(c);
    if (k === 1) {
      h = Math.imul(h ^ (c < 128 ? BYTE_CLASS[c] : c), FNV_PRIME);
      len++;
      continue;
    }
    if (k === 3 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff && isAstralWord(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000)) {
        h = Math.imul(Math.imul(h ^ c, FNV_PRIME) ^ d, FNV_PRIME);
        len += 2;
        i++;
        continue;
      }
    }
    // separator
    if (len > 0) {
      pushWord(h, len);
      h = FNV_OFFSET;
      len = 0;
    }
  }
  if (len > 0) pushWord(h, len);
}

/** 53-bit number key of the last scanned word sequence (for Maps). */
function numericKey(): number {
  return (seqKey[0] >>> 0) * 2097152 + (seqKey[1] >>> 11);
}

function hex8(x: number): string {
  return (x >>> 0).toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------------------------------------------------
// Signatures.

/** Where the last scanned words came from, for the character-shingle fallback (which needs the text). */
type TextSource =
  | { kind: "text"; text: string }
  | { kind: "dedupe"; row: NormalizedRow }
  | { kind: "prompt"; row: NormalizedRow }
  | { kind: "parts"; parts: string[] };

function sourceText(src: TextSource): string {
  switch (src.kind) {
    case "text":
      return src.text;
    case "dedupe":
      return dedupeText(src.row);
    case "prompt":
      return promptText(src.row);
    case "parts":
      return src.parts.join("\n");
  }
}

/** Fills sig[off .. off+SIG_BINS) with the OPH MinHash of the last scanned text; returns the shingle count. */
function fillSignature(src: TextSource, sig: Uint32Array, off: number): number {
  sig.fill(EMPTY, off, off + SIG_BINS);
  let shingles = 0;
  if (wordCount >= MIN_WORDS_FOR_WORD_SHINGLES && wordChars <= MAX_AVG_WORD_LENGTH * wordCount) {
    let prev = words[0];
    for (let i = 1; i < wordCount; i++) {
      const w = words[i];
      const u = fmix32(Math.imul(prev, 0xcc9e2d51) ^ rotl(w, 15)) >>> 0;
      prev = w;
      const b = off + (u >>> BIN_SHIFT);
      if (u < sig[b]) sig[b] = u;
      shingles++;
    }
    return shingles;
  }
  // Character 5-grams of the normalised text (short or unspaced texts).
  const norm = normalizeText(sourceText(src));
  const n = norm.length;
  if (n === 0) return 0;
  const last = n >= CHAR_SHINGLE ? n - CHAR_SHINGLE : 0;
  const width = Math.min(n, CHAR_SHINGLE);
  for (let i = 0; i <= last; i++) {
    let h = 0x5bd1e995;
    for (let j = 0; j < width; j++) h = Math.imul(h ^ norm.charCodeAt(i + j), FNV_PRIME);
    const u = fmix32(h) >>> 0;
    const b = off + (u >>> BIN_SHIFT);
    if (u < sig[b]) sig[b] = u;
    shingles++;
  }
  return shingles;
}

/** OPH MinHash signature of a text (SIG_BINS bins, 0xffffffff = empty bin). Exposed for tests/diagnostics. */
export function signature(text: string): Uint32Array {
  const sig = new Uint32Array(SIG_BINS);
  scanWords(text);
  fillSignature({ kind: "text", text }, sig, 0);
  return sig;
}

/** Signature of a row's dedupe text (what DuplicateFinder and findOverlap compare). */
export function rowSignature(row: NormalizedRow): Uint32Array {
  const sig = new Uint32Array(SIG_BINS);
  scanDedupe(row);
  fillSignature({ kind: "dedupe", row }, sig, 0);
  return sig;
}

/**
 * What the near-duplicate check needs of each row of a batch, computed where the text is (during an upload, on
 * the token-counting thread, which has time to spare): the 53-bit key of its normalised words, its signature,
 * its LSH band keys and whether it has any shingle. `DuplicateFinder.addFeatures` takes them.
 */
export interface DedupeFeatures {
  nkeys: Float64Array<ArrayBuffer>;
  sigs: Uint32Array<ArrayBuffer>;
  bands: Int32Array<ArrayBuffer>;
  has: Uint8Array<ArrayBuffer>;
}

export function newDedupeFeatures(rows: number): DedupeFeatures {
  return {
    nkeys: new Float64Array(rows),
    sigs: new Uint32Array(rows * SIG_BINS),
    bands: new Int32Array(rows * LSH_BANDS),
    has: new Uint8Array(rows),
  };
}

const bandScratch = new Int32Array(LSH_BANDS);

/**
 * Features of the text made of `parts` (a row's dedupe text in pieces: each role and message text of
 * `dedupeText`; the words are the same as in that text, where the parts are joined by separators) into slot `i`.
 */
export function partsFeatures(parts: string[], out: DedupeFeatures, i: number): void {
  beginScan();
  for (const part of parts) scanPart(part);
  endScan();
  out.nkeys[i] = numericKey();
  fillSignature({ kind: "parts", parts }, out.sigs, i * SIG_BINS);
  const has = bandKeys(out.sigs, i * SIG_BINS, bandScratch);
  out.has[i] = has ? 1 : 0;
  if (has) out.bands.set(bandScratch, i * LSH_BANDS);
}

/**
 * Estimated Jaccard similarity of two signatures: matching non-empty bins / bins non-empty in either.
 * With `threshold`, returns 0 early once the threshold is out of reach (more than (1 - t) * SIG_BINS
 * mismatching bins).
 */
export function estimateSimilarity(a: Uint32Array, b: Uint32Array, threshold = 0, aOff = 0, bOff = 0): number {
  const maxMismatch = threshold > 0 ? (1 - threshold) * SIG_BINS : SIG_BINS + 1;
  let match = 0;
  let empty = 0;
  let mismatch = 0;
  for (let j = 0; j < SIG_BINS; j++) {
    const x = a[aOff + j];
    if (x === b[bOff + j]) {
      if (x === EMPTY) empty++;
      else match++;
    } else if (++mismatch > maxMismatch) {
      return 0;
    }
  }
  const denom = SIG_BINS - empty;
  return denom === 0 ? 1 : match / denom;
}

const densScratch = new Uint32Array(SIG_BINS);
const PROBES = 16;
/** Fixed pseudo-random probe sequence per bin for densification (the same for every signature). */
const PROBE = new Uint8Array(SIG_BINS * PROBES);
for (let j = 0; j < SIG_BINS; j++) {
  for (let t = 0; t < PROBES; t++)
    PROBE[j * PROBES + t] = fmix32(Math.imul(j + 1, 0x9e3779b1) ^ Math.imul(t + 1, 0x85ebca6b)) >>> BIN_SHIFT;
}

/**
 * LSH band keys (30-bit hash of each band's densified bins); false for an empty signature.
 * Densification: an empty bin takes the value of the first non-empty bin along its fixed pseudo-random
 * probe sequence (mixed with the attempt number), falling back to the nearest non-empty bin to its right.
 * Borrowing from random bins rather than the neighbour keeps a band's values nearly independent, so
 * dissimilar rows collide less often.
 */
function bandKeys(sig: Uint32Array, off: number, out: Int32Array): boolean {
  let any = false;
  for (let j = 0; j < SIG_BINS; j++) {
    if (sig[off + j] !== EMPTY) {
      any = true;
      break;
    }
  }
  if (!any) return false;
  for (let j = 0; j < LSH_BINS; j++) {
    const v = sig[off + j];
    if (v !== EMPTY) {
      densScratch[j] = v;
      continue;
    }
    let d = EMPTY;
    for (let t = 0; t < PROBES; t++) {
      const x = sig[off + PROBE[j * PROBES + t]];
      if (x !== EMPTY) {
        d = fmix32(x ^ Math.imul(t + 1, 0x9e3779b9)) >>> 0;
        break;
      }
    }
    if (d === EMPTY) {
      for (let k = 1; k < SIG_BINS; k++) {
        const x = sig[off + ((j + k) & (SIG_BINS - 1))];
        if (x !== EMPTY) {
          d = fmix32(x ^ Math.imul(k + PROBES, 0x9e3779b9)) >>> 0;
          break;
        }
      }
    }
    densScratch[j] = d;
  }
  for (let band = 0; band < LSH_BANDS; band++) {
    let h = Math.imul(band + 1, 0x27d4eb2f);
    const base = band * LSH_ROWS;
    for (let r = 0; r < LSH_ROWS; r++) h = Math.imul(rotl(h, 13) ^ densScratch[base + r], 0x9e3779b1);
    out[band] = fmix32(h) & 0x3fffffff;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// A growable store of signatures + LSH buckets (shared by the finder, the overlap check and the grouper).

const CHUNK_BITS = 10;
const CHUNK_ROWS = 1 << CHUNK_BITS;

/**
 * Open-addressing multimap from a 31-bit key to at most BUCKET_CAP ids, in typed arrays (no per-bucket
 * objects: 16 entries a row would otherwise be 16 small arrays and Map entries a row).
 */
const INITIAL_SLOTS = 1 << 15;

class BucketTable {
  private mask = INITIAL_SLOTS - 1;
  private slotKey = new Int32Array(INITIAL_SLOTS).fill(-1); // -1 = free slot (keys are >= 0)
  private slotHead = new Int32Array(INITIAL_SLOTS);
  private slotCount = new Uint16Array(INITIAL_SLOTS);
  private used = 0;
  private nodeId = new Int32Array(1 << 14);
  private nodeNext = new Int32Array(1 << 14);
  private nodes = 0;

  private find(key: number): number {
    const keys = this.slotKey;
    const mask = this.mask;
    let i = key & mask;
    for (;;) {
      const k = keys[i];
      if (k === key || k === -1) return i;
      i = (i + 1) & mask;
    }
  }

  /** First node of key's list (newest first), or -1. */
  head(key: number): number {
    const i = this.find(key);
    return this.slotKey[i] === key ? this.slotHead[i] : -1;
  }

  idOf(node: number): number {
    return this.nodeId[node];
  }

  next(node: number): number {
    return this.nodeNext[node];
  }

  /** Appends id to key's list (unless it holds BUCKET_CAP ids) and returns the list's previous head. */
  add(key: number, id: number): number {
    let i = this.find(key);
    if (this.slotKey[i] === key) {
      if (this.slotCount[i] >= BUCKET_CAP) return this.slotHead[i];
    } else {
      if ((this.used + 1) * 2 > this.mask + 1) {
        this.grow();
        i = this.find(key);
      }
      this.slotKey[i] = key;
      this.slotHead[i] = -1;
      this.slotCount[i] = 0;
      this.used++;
    }
    if (this.nodes === this.nodeId.length) {
      const ids = new Int32Array(this.nodes * 2);
      ids.set(this.nodeId);
      this.nodeId = ids;
      const next = new Int32Array(this.nodes * 2);
      next.set(this.nodeNext);
      this.nodeNext = next;
    }
    const node = this.nodes++;
    const previous = this.slotHead[i];
    this.nodeId[node] = id;
    this.nodeNext[node] = previous;
    this.slotHead[i] = node;
    this.slotCount[i]++;
    return previous;
  }

  private grow(): void {
    const oldKey = this.slotKey;
    const oldHead = this.slotHead;
    const oldCount = this.slotCount;
    const size = oldKey.length * 2;
    this.mask = size - 1;
    this.slotKey = new Int32Array(size).fill(-1);
    this.slotHead = new Int32Array(size);
    this.slotCount = new Uint16Array(size);
    for (let j = 0; j < oldKey.length; j++) {
      const k = oldKey[j];
      if (k === -1) continue;
      const i = this.find(k);
      this.slotKey[i] = k;
      this.slotHead[i] = oldHead[j];
      this.slotCount[i] = oldCount[j];
    }
  }
}

/** Table key of an LSH band value: band and 30-bit band hash mixed into 31 bits. */
function tableKey(band: number, bandHash: number): number {
  return fmix32(bandHash ^ Math.imul(band + 1, 0x9e3779b1)) & 0x7fffffff;
}

class LshIndex {
  /** Signatures, CHUNK_ROWS per chunk. */
  private chunks: Uint32Array[] = [];
  private table = new BucketTable();
  private stamp = new Int32Array(CHUNK_ROWS);
  private stampGen = 0;
  private cand: number[] = [];
  /** Band keys of the last `add`. */
  readonly keys = new Int32Array(LSH_BANDS);
  /** Whether the last `add` had any shingle (false: nothing to compare or insert). */
  lastHasShingles = false;
  size = 0;

  /** Stores the signature of the last scanned text under a new id (returned); fills `keys`. */
  add(src: TextSource): number {
    const id = this.newId();
    const arr = this.chunks[id >> CHUNK_BITS];
    const off = (id & (CHUNK_ROWS - 1)) * SIG_BINS;
    fillSignature(src, arr, off);
    this.lastHasShingles = bandKeys(arr, off, this.keys);
    return id;
  }

  /** A new id, with room for its signature and its stamp. */
  private newId(): number {
    const id = this.size++;
    if (this.chunks.length <= id >> CHUNK_BITS) this.chunks.push(new Uint32Array(CHUNK_ROWS * SIG_BINS));
    if (this.stamp.length < this.size) {
      const bigger = new Int32Array(this.stamp.length * 2);
      bigger.set(this.stamp);
      this.stamp = bigger;
    }
    return id;
  }

  /** Stores a signature computed elsewhere (slot `i` of `f`) under a new id (returned); fills `keys`. */
  addFeatures(f: DedupeFeatures, i: number): number {
    const id = this.newId();
    this.chunks[id >> CHUNK_BITS].set(
      f.sigs.subarray(i * SIG_BINS, (i + 1) * SIG_BINS),
      (id & (CHUNK_ROWS - 1)) * SIG_BINS,
    );
    this.lastHasShingles = f.has[i] === 1;
    if (this.lastHasShingles) this.keys.set(f.bands.subarray(i * LSH_BANDS, (i + 1) * LSH_BANDS));
    return id;
  }

  /** Inserts id under `keys` (a bucket keeps its BUCKET_CAP earliest ids). */
  insert(id: number, keys: Int32Array): void {
    for (let band = 0; band < LSH_BANDS; band++) this.table.add(tableKey(band, keys[band]), id);
  }

  /**
   * Inserts `id` under `keys` and returns the distinct ids that were already in those buckets, ascending
   * (one probe per band instead of a query and an insert). The array is reused.
   */
  insertAndQuery(id: number, keys: Int32Array): number[] {
    const gen = ++this.stampGen;
    const out = this.cand;
    const table = this.table;
    const stamp = this.stamp;
    out.length = 0;
    for (let band = 0; band < LSH_BANDS; band++) {
      for (let node = table.add(tableKey(band, keys[band]), id); node !== -1; node = table.next(node)) {
        const other = table.idOf(node);
        if (stamp[other] === gen) continue;
        stamp[other] = gen;
        out.push(other);
      }
    }
    sortSmall(out);
    return out;
  }

  /** Distinct ids sharing a bucket with `keys`, ascending (= insertion order). The array is reused. */
  candidates(keys: Int32Array, exclude: number): number[] {
    const gen = ++this.stampGen;
    const out = this.cand;
    const table = this.table;
    const stamp = this.stamp;
    out.length = 0;
    for (let band = 0; band < LSH_BANDS; band++) {
      for (let node = table.head(tableKey(band, keys[band])); node !== -1; node = table.next(node)) {
        const id = table.idOf(node);
        if (id === exclude || stamp[id] === gen) continue;
        stamp[id] = gen;
        out.push(id);
      }
    }
    sortSmall(out);
    return out;
  }

  /** Similarity of stored id `a` to stored id `b`, or to an external signature when `b` < 0. */
  similarity(a: number, b: number, threshold: number, ext?: Uint32Array): number {
    const aArr = this.chunks[a >> CHUNK_BITS];
    const aOff = (a & (CHUNK_ROWS - 1)) * SIG_BINS;
    if (b < 0) return estimateSimilarity(aArr, ext as Uint32Array, threshold, aOff, 0);
    return estimateSimilarity(aArr, this.chunks[b >> CHUNK_BITS], threshold, aOff, (b & (CHUNK_ROWS - 1)) * SIG_BINS);
  }
}

function ascending(x: number, y: number): number {
  return x - y;
}

/** Ascending sort; insertion sort for the usual handful of candidates. */
function sortSmall(a: number[]): void {
  const n = a.length;
  if (n > 32) {
    a.sort(ascending);
    return;
  }
  for (let i = 1; i < n; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function checkThreshold(t: number): number {
  if (!(t > 0 && t <= 1)) throw new RangeError(`threshold must be in (0, 1], got ${t}`);
  return t;
}

// ---------------------------------------------------------------------------------------------------------
// Streaming duplicate finder.

export interface DuplicateResult {
  exact: Array<{ line: number; duplicateOf: number }>;
  near: Array<{ line: number; similarTo: number; similarity: number }>;
}

export class DuplicateFinder {
  readonly threshold: number;
  private readonly exactFirst = new Map<string, number>();
  private readonly normFirst = new Map<number, number>();
  private readonly index = new LshIndex();
  private readonly lineOf: number[] = [];
  private readonly exact: DuplicateResult["exact"] = [];
  private readonly near: DuplicateResult["near"] = [];
  private rows = 0;

  constructor(opts: { threshold?: number } = {}) {
    this.threshold = checkThreshold(opts.threshold ?? DEFAULT_THRESHOLD);
  }

  /** Number of rows added. */
  get count(): number {
    return this.rows;
  }

  /**
   * Adds a row. Add rows in file order: a duplicate is reported against the first-added row it matches
   * (the earliest line when rows come in order).
   */
  add(line: number, row: NormalizedRow): void {
    if (this.isExact(line, hashRow(row))) return;
    scanDedupe(row);
    if (this.isSameWords(line, numericKey())) return;
    this.near1(line, this.index.add({ kind: "dedupe", row }));
  }

  /**
   * Adds a row whose features were computed elsewhere (`partsFeatures`, slot `i` of `f`) and whose exact key is
   * `exactKey` (`hashRow`). The same result as `add` with the row.
   */
  addFeatures(line: number, exactKey: string, f: DedupeFeatures, i: number): void {
    if (this.isExact(line, exactKey)) return;
    if (this.isSameWords(line, f.nkeys[i])) return;
    this.near1(line, this.index.addFeatures(f, i));
  }

  private isExact(line: number, h: string): boolean {
    this.rows++;
    const firstExact = this.exactFirst.get(h);
    if (firstExact !== undefined) {
      this.exact.push({ line, duplicateOf: firstExact });
      return true;
    }
    this.exactFirst.set(h, line);
    return false;
  }

  /** Same normalised words as an indexed row: reported with similarity 1, nothing new to index. */
  private isSameWords(line: number, nk: number): boolean {
    const firstNorm = this.normFirst.get(nk);
    if (firstNorm !== undefined) {
      this.near.push({ line, similarTo: firstNorm, similarity: 1 });
      return true;
    }
    this.normFirst.set(nk, line);
    return false;
  }

  /** Indexes the row just stored as `id` and reports its earliest near duplicate, if any. */
  private near1(line: number, id: number): void {
    const index = this.index;
    this.lineOf.push(line);
    if (!index.lastHasShingles) return; // no shingles (empty text)
    const cands = index.insertAndQuery(id, index.keys);
    if (cands.length > 0) {
      // candidates are in insertion order: the first one at or over the threshold is the earliest match
      const limit = Math.min(cands.length, MAX_VERIFY);
      for (let i = 0; i < limit; i++) {
        const other = cands[i];
        const sim = index.similarity(id, other, this.threshold);
        if (sim >= this.threshold) {
          this.near.push({ line, similarTo: this.lineOf[other], similarity: round3(sim) });
          break;
        }
      }
    }
  }

  /** Duplicates found so far, each list sorted by line. */
  result(): DuplicateResult {
    return {
      exact: this.exact.slice().sort((a, b) => a.line - b.line),
      near: this.near.slice().sort((a, b) => a.line - b.line),
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Train/eval overlap.

export interface OverlapResult {
  exact: Array<{ aLine: number; bLine: number }>;
  near: Array<{ aLine: number; bLine: number; similarity: number }>;
  samePrompt: Array<{ aLine: number; bLine: number }>;
  /**
   * How many rows of `b` (the eval set) overlap, by kind and in all: what a leak costs the eval, where the pair
   * lists above count pairs (one eval row can pair with many training rows). Exact and same-prompt counts are
   * complete; near counts the rows of the reported near pairs.
   */
  overlappingB: { exact: number; samePrompt: number; near: number; any: number };
}

function pushToList<K>(map: Map<K, number[]>, key: K, value: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/**
 * Overlap between two sets, e.g. a = train, b = eval. `b` is indexed in memory (signatures, no texts), `a`
 * is streamed: give the smaller set as `b`.
 *  - exact: identical canonical rows;
 *  - samePrompt: equal normalised prompt (`promptKey`), pairs that are not exact;
 *  - near: estimated Jaccard of the dedupe texts >= threshold (or equal normalised dedupe texts, reported
 *    with similarity 1), pairs that are not exact. A pair can be both samePrompt and near.
 * At most MAX_PAIRS_PER_ROW pairs of each kind are reported per `a` row (the earliest `b` lines first).
 */
export function findOverlap(
  a: Iterable<{ line: number; row: NormalizedRow }>,
  b: Iterable<{ line: number; row: NormalizedRow }>,
  opts: { threshold?: number } = {},
): OverlapResult {
  const threshold = checkThreshold(opts.threshold ?? DEFAULT_THRESHOLD);
  const byHash = new Map<string, number[]>();
  const byPrompt = new Map<number, number[]>();
  const byNorm = new Map<number, number>(); // normalised dedupe text -> index id (one id per distinct text)
  const index = new LshIndex();
  const linesOfId: number[][] = []; // by index id: the b lines whose normalised dedupe text it stands for

  for (const { line, row } of b) {
    pushToList(byHash, hashRow(row), line);
    scanPrompt(row);
    pushToList(byPrompt, numericKey(), line);
    scanDedupe(row);
    const nk = numericKey();
    const same = byNorm.get(nk);
    if (same !== undefined) {
      linesOfId[same].push(line);
      continue;
    }
    const id = index.add({ kind: "dedupe", row });
    byNorm.set(nk, id);
    linesOfId.push([line]);
    if (index.lastHasShingles) index.insert(id, index.keys);
  }

  const out: OverlapResult = {
    exact: [],
    near: [],
    samePrompt: [],
    overlappingB: { exact: 0, samePrompt: 0, near: 0, any: 0 },
  };
  const exactB = new Set<number>();
  const sameB = new Set<number>();
  const sig = new Uint32Array(SIG_BINS);
  const keys = new Int32Array(LSH_BANDS);
  const exactLines = new Set<number>();
  for (const { line, row } of a) {
    exactLines.clear();
    const ex = byHash.get(hashRow(row));
    if (ex !== undefined) {
      for (const l of ex) exactB.add(l);
      for (let i = 0; i < ex.length && i < MAX_PAIRS_PER_ROW; i++) {
        out.exact.push({ aLine: line, bLine: ex[i] });
        exactLines.add(ex[i]);
      }
    }
    scanPrompt(row);
    const sp = byPrompt.get(numericKey());
    if (sp !== undefined) {
      for (const l of sp) if (!ex?.includes(l)) sameB.add(l);
      let n = 0;
      for (let i = 0; i < sp.length && n < MAX_PAIRS_PER_ROW; i++) {
        if (exactLines.has(sp[i])) continue;
        out.samePrompt.push({ aLine: line, bLine: sp[i] });
        n++;
      }
    }
    scanDedupe(row);
    let nearCount = 0;
    const sameId = byNorm.get(numericKey()) ?? -1;
    if (sameId >= 0) {
      for (const l of linesOfId[sameId]) {
        if (exactLines.has(l) || nearCount >= MAX_PAIRS_PER_ROW) continue;
        out.near.push({ aLine: line, bLine: l, similarity: 1 });
        nearCount++;
      }
    }
    fillSignature({ kind: "dedupe", row }, sig, 0);
    if (nearCount >= MAX_PAIRS_PER_ROW || !bandKeys(sig, 0, keys)) continue;
    const cands = index.candidates(keys, sameId);
    const limit = Math.min(cands.length, MAX_VERIFY);
    for (let i = 0; i < limit && nearCount < MAX_PAIRS_PER_ROW; i++) {
      const id = cands[i];
      const sim = index.similarity(id, -1, threshold, sig);
      if (sim < threshold) continue;
      for (const l of linesOfId[id]) {
        if (exactLines.has(l) || nearCount >= MAX_PAIRS_PER_ROW) continue;
        out.near.push({ aLine: line, bLine: l, similarity: round3(sim) });
        nearCount++;
      }
    }
  }
  const nearB = new Set(out.near.map((p) => p.bLine));
  out.overlappingB = {
    exact: exactB.size,
    samePrompt: sameB.size,
    near: nearB.size,
    any: new Set([...exactB, ...sameB, ...nearB]).size,
  };
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Prompt keys and grouping (for train/eval splitters: keep rows that share a prompt on one side).

/**
 * Key of a row's normalised prompt (`normalizeText(promptText(row))`), as 16 hex digits: a 64-bit hash of
 * the normalised word sequence, computed without building the normalised string. Equal normalised prompts
 * always give equal keys; different ones collide with negligible probability (about 2^-32 for two prompts
 * that differ in a single word, far less otherwise) — good for grouping, not for proofs of identity.
 */
export function promptKey(row: NormalizedRow): string {
  scanPrompt(row);
  return hex8(seqKey[0]) + hex8(seqKey[1]);
}

class UnionFind {
  private parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) {
      p[x] = p[p[x]];
      x = p[x];
    }
    return x;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    // the smaller position stays the root, so a group's root is its first member
    if (ra < rb) this.parent[rb] = ra;
    else this.parent[ra] = rb;
  }
}

/**
 * Group id per row (aligned with `rows`; ids are 0, 1, 2... in order of first appearance) such that rows
 * with the same normalised prompt, or near-duplicate prompts (estimated Jaccard >= threshold of the
 * prompt shingles; MinHash + LSH, transitively via union-find), share a group. Same caps as DuplicateFinder.
 * `index` is not used for grouping (positions in `rows` are); it is accepted so callers can pass their rows.
 */
export function groupNearPrompts(
  rows: ReadonlyArray<{ index: number; row: NormalizedRow }>,
  threshold = DEFAULT_THRESHOLD,
): number[] {
  checkThreshold(threshold);
  const n = rows.length;
  const uf = new UnionFind(n);
  const firstByKey = new Map<number, number>();
  const index = new LshIndex();
  const posOfId: number[] = [];
  for (let pos = 0; pos < n; pos++) {
    const row = rows[pos].row;
    scanPrompt(row);
    const k = numericKey();
    const first = firstByKey.get(k);
    if (first !== undefined) {
      uf.union(first, pos);
      continue;
    }
    firstByKey.set(k, pos);
    const id = index.add({ kind: "prompt", row });
    posOfId.push(pos);
    if (!index.lastHasShingles) continue;
    const cands = index.insertAndQuery(id, index.keys);
    const limit = Math.min(cands.length, MAX_VERIFY);
    for (let i = 0; i < limit; i++) {
      const other = posOfId[cands[i]];
      if (uf.find(other) === uf.find(pos)) continue;
      if (index.similarity(id, cands[i], threshold) >= threshold) uf.union(other, pos);
    }
  }
  const groupOfRoot = new Map<number, number>();
  const out = new Array<number>(n);
  for (let pos = 0; pos < n; pos++) {
    const r = uf.find(pos);
    let g = groupOfRoot.get(r);
    if (g === undefined) {
      g = groupOfRoot.size;
      groupOfRoot.set(r, g);
    }
    out[pos] = g;
  }
  return out;
}
