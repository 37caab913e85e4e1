/**
 * Shared types of the dataset pipeline: what the reader yields, what a normalised row looks like,
 * and how problems are reported (always with a 1-based line number, and a field path where one applies).
 */

export type Role = "system" | "developer" | "user" | "assistant" | "tool" | "function";

export interface ChatMessage {
  role: Role;
  /** null is allowed only for an assistant message that carries tool_calls/function_call. */
  content: string | null;
  name?: string;
  tool_calls?: unknown[];
  tool_call_id?: string;
  function_call?: unknown;
  /** OpenAI's per-message training weight (0 or 1) on assistant messages; kept as given. */
  weight?: number;
}

export type DatasetFormat = "openai-chat" | "prompt-completion" | "alpaca" | "sharegpt" | "text";

export const DATASET_FORMATS: readonly DatasetFormat[] = [
  "openai-chat",
  "prompt-completion",
  "alpaca",
  "sharegpt",
  "text",
];

/** One training example after normalisation. Text rows stay completion-style (`text`), everything else is chat. */
export interface NormalizedRow {
  kind: "chat" | "text";
  messages?: ChatMessage[];
  text?: string;
  /** Tool/function definitions carried by the row (OpenAI `tools`/`functions`, ShareGPT `tools`), kept as given. */
  tools?: unknown;
  /** Rows sharing a cluster key are related (same source document, user, template); evals cluster their errors. */
  cluster?: string;
}

/** A row with where it came from. */
export interface LocatedRow extends NormalizedRow {
  /** 1-based line of the original file where the row starts. */
  line: number;
  /** 0-based index of the row among the file's records (valid or not). */
  index: number;
}

export type IssueKind =
  // reader level (one line / one record)
  | "bom"
  | "blank_line"
  | "invalid_utf8"
  | "invalid_json"
  | "line_too_long"
  // row shape (the OpenAI cookbook's checks keep their names)
  | "data_type"
  | "missing_messages_list"
  | "message_missing_key"
  | "message_unrecognized_key"
  | "unrecognized_role"
  | "missing_content"
  | "example_missing_assistant_message"
  | "empty_conversation"
  | "last_message_not_assistant"
  | "unknown_key"
  | "wrong_type"
  | "missing_field"
  | "empty_field"
  | "format_mismatch"
  | "too_deep"
  // size
  | "over_context_limit";

export interface RowIssue {
  line: number;
  /** Dotted/indexed path of the offending field, e.g. `messages[2].role`; absent for line-level problems. */
  field?: string;
  kind: IssueKind;
  message: string;
}

export type PiiKind = "email" | "phone" | "card_number" | "national_id" | "api_key";

export interface PiiFinding {
  line: number;
  kind: PiiKind;
  /** Where in the row (e.g. `messages[1].content`). The matched value itself is never reported. */
  field?: string;
}

export interface Warning {
  line?: number;
  kind: string;
  message: string;
}
