/**
 * Token counts with gpt-tokenizer's o200k_base encoding (GPT-4o / GPT-4.1 family), following the OpenAI
 * cookbook's "chat fine-tuning data prep" rule (https://cookbook.openai.com/examples/chat_finetuning_data_prep):
 *
 *   per message: 3 + tokens(role) + tokens(content) + tokens(name) (+1 when `name` is present)
 *   per conversation: +3
 *
 * Extensions beyond the cookbook (it only sees string values): `tool_call_id` (a string value, counted like
 * the others), `tool_calls` / `function_call` (counted as their JSON text), and the row's `tools`
 * definitions (their JSON text, once per row). `weight` is a number and is not counted.
 * Text rows count the tokens of their text.
 *
 * Special-token strings inside data (e.g. a literal "<|endoftext|>") are counted as ordinary text, never
 * rejected: `countTokens` is called with an empty `disallowedSpecial` set (which also skips the
 * tokenizer's per-call special-token regex scan).
 *
 * Speed: `countTextTokens` does what gpt-tokenizer's count does (split the text with the encoding's regex; a
 * piece that is a vocabulary entry is one token, any other is byte-pair merged) with the count of each short
 * piece remembered. Words repeat (a dataset has tens of thousands of distinct pieces in millions), and a small
 * map answers faster than the 200,000-entry vocabulary: counting is ~1.5-2x faster than `countTokens` on the
 * shared datasets, with the same numbers (checked when the module loads, and in tests). Where the library's
 * internals are not as expected it counts with `countTokens` itself.
 */
import o200k, { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import { ASSISTANT, type PackedRows, packedPiece, rowPieces } from "./token-plan.ts";
import type { NormalizedRow } from "./types.ts";

export { TOKENS_PER_CONVERSATION, TOKENS_PER_MESSAGE, TOKENS_PER_NAME } from "./token-plan.ts";

const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** The parts of gpt-tokenizer's encoder the memoised count uses (runtime fields, not its typed API). */
interface EncoderCore {
  tokenSplitRegex: RegExp;
  bytePairStringRankEncoder: Map<string, number>;
  bytePairEncode(piece: string): number[];
}

/** Pieces of at most this many characters are remembered (V8 copies them: a memo never pins a row's text). */
const MEMO_PIECE_CHARS = 12;
/** Pieces longer than this are counted in slices of this length (see pieceTokens). */
const LONG_PIECE_CHARS = 256;
/** Remembered pieces at most (~5 MB); the memo starts again when full. */
const MEMO_SIZE = 1 << 16;

function memoCounter(): ((s: string) => number) | null {
  const core = (o200k as unknown as { bytePairEncodingCoreProcessor?: Partial<EncoderCore> })
    .bytePairEncodingCoreProcessor;
  if (
    !core ||
    !(core.tokenSplitRegex instanceof RegExp) ||
    !core.tokenSplitRegex.global ||
    !(core.bytePairStringRankEncoder instanceof Map) ||
    typeof core.bytePairEncode !== "function"
  ) {
    return null;
  }
  // Own copies (own lastIndex). The sticky one finds each piece where the last one ended without building a
  // match array (the split covers every character in practice); where it does not match, the global one finds
  // the next piece, as the library's matchAll would.
  const split = new RegExp(core.tokenSplitRegex.source, core.tokenSplitRegex.flags);
  const at = new RegExp(core.tokenSplitRegex.source, `${core.tokenSplitRegex.flags.replace("g", "")}y`);
  const ranks = core.bytePairStringRankEncoder;
  const encode = core.bytePairEncode.bind(core);
  let memo = new Map<string, number>();
  const pieceTokens = (piece: string): number => {
    if (piece.length > LONG_PIECE_CHARS) {
      // Byte-pair merging is quadratic in a piece's length (100,000 "a"s: over a minute): a piece this long is no
      // word (a run of one letter, a blob) and is counted in slices, which bounds the work at ~2 µs a character.
      let n = 0;
      for (let i = 0; i < piece.length; i += LONG_PIECE_CHARS) n += pieceTokens(piece.slice(i, i + LONG_PIECE_CHARS));
      return n;
    }
    if (piece.length > MEMO_PIECE_CHARS) {
      // A long piece is a slice of the text, and the encoder keeps what it merges in its own cache: hand it a
      // copy, or that cache would hold on to every text it has seen a long piece of.
      return ranks.has(piece) ? 1 : encode(` ${piece}`.slice(1)).length;
    }
    let c = memo.get(piece);
    if (c === undefined) {
      c = ranks.has(piece) ? 1 : encode(piece).length;
      if (memo.size >= MEMO_SIZE) memo = new Map();
      memo.set(piece, c);
    }
    return c;
  };
  const count = (text: string): number => {
    let n = 0;
    let pos = 0;
    const len = text.length;
    while (pos < len) {
      at.lastIndex = pos;
      if (at.test(text) && at.lastIndex > pos) {
        const end = at.lastIndex;
        n += pieceTokens(text.slice(pos, end));
        pos = end;
        continue;
      }
      split.lastIndex = pos;
      const m = split.exec(text);
      if (m === null) break;
      if (m[0].length) n += pieceTokens(m[0]);
      pos = Math.max(m.index + m[0].length, pos + 1);
    }
    return n;
  };
  // Same numbers as the library on text that exercises every branch of its split, or not used at all.
  const probe = [
    "Hello, world! It's 12345 o'clock\n\n  indented\ttabs   and spaces ",
    "naïve café — ÜBER straße; 日本語のテキスト, emoji 🎉🎉 and <|endoftext|> as text",
    'const x = {"a": [1, 2, 3]};\r\n// comment\n\n\n',
    "I'M WE'RE they'll you've   \u00a0 non-breaking\u2003space",
  ];
  for (const t of probe) if (count(t) !== countTokens(t, PLAIN_TEXT)) return null;
  memo = new Map();
  return count;
}

const memoCount = memoCounter();

/** o200k_base tokens of a string (0 for the empty string). */
export function countTextTokens(s: string): number {
  if (s.length === 0) return 0;
  return memoCount ? memoCount(s) : countTokens(s, PLAIN_TEXT);
}

/** Whether counts go through the memoised path (false: gpt-tokenizer's countTokens). For tests and the bench. */
export const MEMOISED = memoCount !== null;

export interface RowTokenCounts {
  /** Cookbook total for the row (what counts against the context limit and is billed). */
  total: number;
  /** Tokens in assistant messages (content + tool calls). For text rows, the text's tokens. */
  assistant: number;
}

/** Both counts in one pass (each message is tokenised once). */
export function countRowTokenDetail(row: NormalizedRow): RowTokenCounts {
  let total = 0;
  let assistant = 0;
  const base = rowPieces(row, (s, isAssistant) => {
    const n = countTextTokens(s);
    total += n;
    if (isAssistant) assistant += n;
  });
  return { total: total + base, assistant };
}

/** Cookbook token count of a row (see the module comment). */
export function countRowTokens(row: NormalizedRow): number {
  return countRowTokenDetail(row).total;
}

/** Tokens of the assistant messages (content and tool calls); for text rows, the whole text. */
export function countAssistantTokens(row: NormalizedRow): number {
  let n = 0;
  rowPieces(row, (s, isAssistant) => {
    if (isAssistant) n += countTextTokens(s); // only the assistant's pieces are tokenised
  });
  return n;
}

/** Per-row totals and assistant tokens of packed rows (see token-plan.ts). */
export function countPacked(p: PackedRows): { totals: Uint32Array<ArrayBuffer>; assistant: Uint32Array<ArrayBuffer> } {
  const rows = p.rowEnds.length;
  const totals = new Uint32Array(rows);
  const assistant = new Uint32Array(rows);
  for (let r = 0, k = 0; r < rows; r++) {
    let total = p.base[r];
    let a = 0;
    for (const end = p.rowEnds[r]; k < end; k++) {
      const n = countTextTokens(packedPiece(p, r, k));
      total += n;
      if (p.flags[k] & ASSISTANT) a += n;
    }
    totals[r] = total;
    assistant[r] = a;
  }
  return { totals, assistant };
}
