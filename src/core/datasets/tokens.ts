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
 */
import { countTokens } from "gpt-tokenizer/encoding/o200k_base";
import type { ChatMessage, NormalizedRow } from "./types.ts";

const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Cookbook constants. */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const TOKENS_PER_CONVERSATION = 3;

/** o200k_base tokens of a string (0 for the empty string). */
export function countTextTokens(s: string): number {
  return s.length === 0 ? 0 : countTokens(s, PLAIN_TEXT);
}

function jsonTokens(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "string") return countTextTokens(v);
  return countTextTokens(JSON.stringify(v));
}

/** Tokens of a message's content plus its tool calls (the part the assistant produces). */
function messageBodyTokens(m: ChatMessage): number {
  let n = typeof m.content === "string" ? countTextTokens(m.content) : 0;
  if (m.tool_calls !== undefined && m.tool_calls.length > 0) n += jsonTokens(m.tool_calls);
  if (m.function_call !== undefined) n += jsonTokens(m.function_call);
  return n;
}

export interface RowTokenCounts {
  /** Cookbook total for the row (what counts against the context limit and is billed). */
  total: number;
  /** Tokens in assistant messages (content + tool calls). For text rows, the text's tokens. */
  assistant: number;
}

/**
 * Both counts in one pass (each message is tokenised once). Prefer this to calling
 * `countRowTokens` and `countAssistantTokens` separately, which tokenises assistant messages twice.
 */
export function countRowTokenDetail(row: NormalizedRow): RowTokenCounts {
  if (row.kind === "text" || !row.messages) {
    const n = countTextTokens(row.text ?? "");
    return { total: n, assistant: n };
  }
  let total = TOKENS_PER_CONVERSATION;
  let assistant = 0;
  for (const m of row.messages) {
    const body = messageBodyTokens(m);
    total += TOKENS_PER_MESSAGE + countTextTokens(m.role) + body;
    if (m.name !== undefined) total += countTextTokens(m.name) + TOKENS_PER_NAME;
    if (m.tool_call_id !== undefined) total += countTextTokens(m.tool_call_id);
    if (m.role === "assistant") assistant += body;
  }
  if (row.tools !== undefined && row.tools !== null) total += jsonTokens(row.tools);
  return { total, assistant };
}

/** Cookbook token count of a row (see the module comment). */
export function countRowTokens(row: NormalizedRow): number {
  return countRowTokenDetail(row).total;
}

/** Tokens of the assistant messages (content and tool calls); for text rows, the whole text. */
export function countAssistantTokens(row: NormalizedRow): number {
  if (row.kind === "text" || !row.messages) return countTextTokens(row.text ?? "");
  let n = 0;
  for (const m of row.messages) if (m.role === "assistant") n += messageBodyTokens(m);
  return n;
}
