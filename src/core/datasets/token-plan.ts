/**
 * What the cookbook token count of a row tokenises (tokens.ts has the rule): the row's strings ("pieces"), each
 * marked when it is assistant output, and a constant (3 per conversation, 3 per message, 1 per name).
 *
 * A batch of rows is sent to the counting thread packed: each row's pieces joined into one string, with their
 * end offsets. Strings cross threads as plain copies, where the rows themselves (objects, arrays, keys) cost a
 * structured clone on both sides and leave the counting thread more garbage to collect. (One string per row,
 * not per batch: a string over 128 KB would go to V8's large-object space, freed only by a full collection.)
 * No tokenizer here: the thread that packs need not load one.
 */
import type { ChatMessage, NormalizedRow } from "./types.ts";

export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const TOKENS_PER_CONVERSATION = 3;

/** A value counted as text: a string as it is, anything else as its JSON (null and undefined: nothing). */
function jsonPiece(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** Called for each piece: its text, whether it is assistant output, whether it is in the row's dedupe text. */
export type OnPiece = (s: string, assistant: boolean, dedupe: boolean) => void;

/** The part of a message the assistant produces (the message text of text.ts): content, tool calls, function call. */
function bodyPieces(m: ChatMessage, piece: OnPiece, assistant: boolean, dedupe: boolean) {
  if (typeof m.content === "string") piece(m.content, assistant, dedupe);
  if (m.tool_calls !== undefined && m.tool_calls.length > 0) piece(jsonPiece(m.tool_calls), assistant, dedupe);
  if (m.function_call !== undefined) piece(jsonPiece(m.function_call), assistant, dedupe);
}

const isSystem = (role: string) => role === "system" || role === "developer";

/**
 * Calls `piece` for every string the row's count tokenises (in order; `assistant` for assistant output;
 * `dedupe` for the roles and message texts that make up `dedupeText(row)`) and returns the row's constant
 * tokens. Text rows: the text, counted as assistant output too.
 */
export function rowPieces(row: NormalizedRow, piece: OnPiece): number {
  if (row.kind === "text" || !row.messages) {
    piece(row.text ?? "", true, true);
    return 0;
  }
  // dedupeText leaves out system and developer messages, unless the row has nothing else
  const allInDedupe = row.messages.every((m) => isSystem(m.role));
  let base = TOKENS_PER_CONVERSATION;
  for (const m of row.messages) {
    const dedupe = allInDedupe || !isSystem(m.role);
    base += TOKENS_PER_MESSAGE;
    piece(m.role, false, dedupe);
    bodyPieces(m, piece, m.role === "assistant", dedupe);
    if (m.name !== undefined) {
      piece(m.name, false, false);
      base += TOKENS_PER_NAME;
    }
    if (m.tool_call_id !== undefined) piece(m.tool_call_id, false, false);
  }
  if (row.tools !== undefined && row.tools !== null) piece(jsonPiece(row.tools), false, false);
  return base;
}

export const ASSISTANT = 1;
export const DEDUPE = 2;

/** Rows packed for counting. */
export interface PackedRows {
  /** Per row: its pieces, concatenated. */
  texts: string[];
  /** End offset of each piece in its row's text. */
  ends: Uint32Array<ArrayBuffer>;
  /** Per piece: ASSISTANT when it is assistant output, DEDUPE when it is in the row's dedupe text. */
  flags: Uint8Array<ArrayBuffer>;
  /** Per row: one past the index of its last piece. */
  rowEnds: Uint32Array<ArrayBuffer>;
  /** Per row: its constant tokens. */
  base: Uint32Array<ArrayBuffer>;
}

/** Piece `k` of row `r` of a packed batch (row r's pieces are rowEnds[r - 1] .. rowEnds[r] - 1). */
export function packedPiece(p: PackedRows, r: number, k: number): string {
  const text = p.texts[r];
  const start = k === (r === 0 ? 0 : p.rowEnds[r - 1]) ? 0 : p.ends[k - 1];
  const stop = p.ends[k];
  return start === 0 && stop === text.length ? text : text.slice(start, stop);
}

export function packRows(rows: NormalizedRow[]): PackedRows {
  const texts: string[] = new Array(rows.length);
  const ends: number[] = [];
  const flags: number[] = [];
  const rowEnds = new Uint32Array(rows.length);
  const base = new Uint32Array(rows.length);
  let text = "";
  const piece = (s: string, assistant: boolean, dedupe: boolean) => {
    if (s.length === 0) return; // no tokens, no words
    text += s;
    ends.push(text.length);
    flags.push((assistant ? ASSISTANT : 0) | (dedupe ? DEDUPE : 0));
  };
  for (let i = 0; i < rows.length; i++) {
    text = "";
    base[i] = rowPieces(rows[i], piece);
    texts[i] = text;
    rowEnds[i] = ends.length;
  }
  return { texts, ends: Uint32Array.from(ends), flags: Uint8Array.from(flags), rowEnds, base };
}
