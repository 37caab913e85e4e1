/**
 * Text views of a normalised row, and the normalisation used for duplicate / overlap matching.
 *
 * - `rowText`        every message, role-tagged (`role: content`, one per line), or the row's text.
 * - `promptText`     the user side only (user messages; system/developer/assistant/tool excluded), or the text.
 * - `normalizeText`  NFKC, lower case, every run of characters that are not letters, marks or digits
 *                    (punctuation, symbols, whitespace, controls) collapsed to one space, trimmed.
 * - `canonicalRowKey` / `hashRow`  exact-duplicate identity (canonical, length-prefixed form of the row's
 *                    stable JSON content), SHA-256 hex.
 */
import * as crypto from "node:crypto";
import type { ChatMessage, NormalizedRow } from "./types.ts";

/** Content of a message as text; tool/function calls (which may stand in for content) are JSON. */
export function messageText(m: ChatMessage): string {
  let s = typeof m.content === "string" ? m.content : "";
  if (m.tool_calls !== undefined && m.tool_calls.length > 0) {
    s = s ? `${s}\n${JSON.stringify(m.tool_calls)}` : JSON.stringify(m.tool_calls);
  }
  if (m.function_call !== undefined && m.function_call !== null) {
    const fc = JSON.stringify(m.function_call);
    s = s ? `${s}\n${fc}` : fc;
  }
  return s;
}

/** All message contents, role-tagged (`user: ...`), joined by newlines; for text rows the text. */
export function rowText(row: NormalizedRow): string {
  if (row.kind === "text" || !row.messages) return row.text ?? "";
  let out = "";
  const msgs = row.messages;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    out += (i === 0 ? "" : "\n") + m.role + ": " + messageText(m);
  }
  return out;
}

/**
 * Text used for near-duplicate detection: like `rowText` but without system/developer messages, so that
 * rows sharing one long system prompt are not taken for near duplicates of each other. Falls back to
 * `rowText` when a row has nothing else.
 */
export function dedupeText(row: NormalizedRow): string {
  if (row.kind === "text" || !row.messages) return row.text ?? "";
  let out = "";
  let first = true;
  for (const m of row.messages) {
    if (m.role === "system" || m.role === "developer") continue;
    out += (first ? "" : "\n") + m.role + ": " + messageText(m);
    first = false;
  }
  return first ? rowText(row) : out;
}

/** The user side of a row: user message contents joined by newlines; for text rows the whole text. */
export function promptText(row: NormalizedRow): string {
  if (row.kind === "text" || !row.messages) return row.text ?? "";
  let out = "";
  let first = true;
  for (const m of row.messages) {
    if (m.role !== "user") continue;
    out += (first ? "" : "\n") + (typeof m.content === "string" ? m.content : "");
    first = false;
  }
  return out;
}

/** Separators for normalizeText: anything that is not a letter, mark or digit. */
const NON_WORD_RUN = /[^\p{L}\p{M}\p{N}]+/gu;

/**
 * NFKC, lower-case, strip punctuation/symbols (every run of non letter/mark/digit characters, whitespace
 * included, becomes one space), trim. `"  Hello,   WORLD!! ﬁ "` → `"hello world fi"`.
 */
export function normalizeText(s: string): string {
  return s.normalize("NFKC").toLowerCase().replace(NON_WORD_RUN, " ").trim();
}

/**
 * Stable JSON (object keys sorted, `undefined` members dropped, like JSON.stringify otherwise).
 * Used for canonical row identity; values inside `tool_calls`/`tools` are canonicalised the same way.
 */
export function stableStringify(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (Array.isArray(value)) {
        let s = "[";
        for (let i = 0; i < value.length; i++) {
          const v = value[i];
          s += (i ? "," : "") + (v === undefined || typeof v === "function" ? "null" : stableStringify(v));
        }
        return s + "]";
      }
      const obj = value as Record<string, unknown>;
      if (typeof (obj as { toJSON?: unknown }).toJSON === "function") {
        return stableStringify((obj as { toJSON: () => unknown }).toJSON());
      }
      const keys = Object.keys(obj).sort();
      let s = "{";
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
        s += (first ? "" : ",") + JSON.stringify(k) + ":" + stableStringify(v);
        first = false;
      }
      return s + "}";
    }
    default:
      // undefined, function, symbol, bigint at top level
      return typeof value === "bigint" ? JSON.stringify(value.toString()) : "null";
  }
}

/** Message keys in sorted order (the fast path of canonicalRowKey writes them without sorting). */
const MESSAGE_KEYS = ["content", "function_call", "name", "role", "tool_call_id", "tool_calls", "weight"] as const;
const MESSAGE_KEY_SET: ReadonlySet<string> = new Set(MESSAGE_KEYS);
const QUOTED_KEYS: Readonly<Record<string, string>> = Object.fromEntries(
  MESSAGE_KEYS.map((k) => [k, JSON.stringify(k)]),
);

/** Length-prefixed value: strings raw (`=len:text`), anything else as stable JSON (`~len:json`). */
function encodeValue(v: unknown): string {
  if (typeof v === "string") return "=" + v.length + ":" + v;
  const j = stableStringify(v);
  return "~" + j.length + ":" + j;
}

function encodeMessage(m: unknown): string {
  if (m === null || typeof m !== "object" || Array.isArray(m)) return "|" + encodeValue(m);
  const rec = m as Record<string, unknown>;
  let known = true;
  for (const k in rec) {
    if (!MESSAGE_KEY_SET.has(k)) {
      known = false;
      break;
    }
  }
  const keys = known ? MESSAGE_KEYS : Object.keys(rec).sort();
  let s = "|{";
  for (const k of keys) {
    const v = rec[k];
    if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
    s += (QUOTED_KEYS[k] ?? JSON.stringify(k)) + encodeValue(v);
  }
  return s;
}

/**
 * Canonical identity of a row for exact-duplicate detection. Two rows get the same key iff their stable
 * JSON (`stableStringify` of `{ kind, messages | text, tools }`: keys sorted, undefined dropped) is the
 * same, i.e. the same roles, contents, names, tool calls, weights and tool definitions, byte for byte.
 *
 * The key is a length-prefixed encoding of that content rather than the JSON text itself: JSON-escaping
 * every message cost ~7 µs for a 2 KB row on the test VM (more than the SHA-256 itself), while this form
 * only concatenates the raw strings (~1 µs). Layout: `chat` | `text`, then `|{` per message followed by
 * `"key"=len:string` or `"key"~len:stable-json` for each defined member in sorted key order, then
 * `|t=len:text` (text rows) and `|T~len:json` (tools). Lengths make it unambiguous.
 */
export function canonicalRowKey(row: NormalizedRow): string {
  let s: string;
  if (row.kind === "chat") {
    s = "chat";
    const msgs = row.messages;
    if (msgs !== undefined) {
      s += "|m" + msgs.length;
      for (let i = 0; i < msgs.length; i++) s += encodeMessage(msgs[i]);
    }
  } else {
    s = "text";
    if (row.text !== undefined) s += "|t" + encodeValue(row.text);
  }
  if (row.tools !== undefined) s += "|T" + encodeValue(row.tools);
  return s;
}

type OneShotHash = (algorithm: string, data: string, encoding: "hex") => string;
const oneShot: OneShotHash | undefined =
  typeof (crypto as { hash?: unknown }).hash === "function"
    ? (crypto as unknown as { hash: OneShotHash }).hash
    : undefined;

/** SHA-256 hex of a string (node:crypto; the one-shot `crypto.hash` where the runtime has it). */
export function sha256Hex(s: string): string {
  return oneShot ? oneShot("sha256", s, "hex") : crypto.createHash("sha256").update(s).digest("hex");
}

/**
 * SHA-256 hex of `canonicalRowKey(row)`. A cryptographic hash is kept (rather than a faster 64-bit one)
 * because "exact duplicate" is reported as a fact; with the key it costs ~4 µs for a 2 KB row on the test VM
 * (a JS 64-bit hash over the same characters would be slower than native SHA-256).
 */
export function hashRow(row: NormalizedRow): string {
  return sha256Hex(canonicalRowKey(row));
}
