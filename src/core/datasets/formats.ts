/**
 * Dataset formats: recognising a record's format from its keys, detecting a file's format from its first records,
 * and validating + normalising each record to a chat conversation (or a text row).
 *
 * The OpenAI chat checks follow the OpenAI cookbook's "Data preparation and analysis for chat model fine-tuning"
 * (https://cookbook.openai.com/examples/chat_finetuning_data_prep) and keep its error names as issue kinds, with a
 * few more checks on top. Every problem of a row is reported, not only the first, each with a field path such as
 * `messages[2].role` and a message that says what is wrong and what to do.
 */
import { MAX_JSON_DEPTH, tooDeep } from "./depth.ts";
import type { ChatMessage, DatasetFormat, IssueKind, NormalizedRow, Role, RowIssue } from "./types.ts";

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const has = (o: JsonObject, key: string): boolean => Object.hasOwn(o, key);
const isBlank = (s: string): boolean => s.trim() === "";

/** "a string", "an array", "null"... for messages. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  const t = typeof v;
  return t === "object" ? "an object" : t === "undefined" ? "nothing" : `a ${t}`;
}

const quote = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);

const FORMAT_LABEL: Record<DatasetFormat, string> = {
  "openai-chat": "OpenAI chat",
  "prompt-completion": "prompt/completion",
  alpaca: "Alpaca",
  sharegpt: "ShareGPT",
  text: "text",
};

/** "an Alpaca", "a ShareGPT"...: the format's label with its article. */
const aFormat = (format: DatasetFormat): string =>
  `${/^[AEIOU]/.test(FORMAT_LABEL[format]) ? "an" : "a"} ${FORMAT_LABEL[format]}`;

const FORMAT_EXAMPLE: Record<DatasetFormat, string> = {
  "openai-chat": '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}',
  "prompt-completion": '{"prompt": "...", "completion": "..."}',
  alpaca: '{"instruction": "...", "input": "", "output": "..."}',
  sharegpt: '{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}]}',
  text: '{"text": "..."}',
};

/** The keys that give each format away, for format_mismatch messages. */
const FORMAT_KEYS: Record<DatasetFormat, string> = {
  "openai-chat": "messages with role/content",
  "prompt-completion": "prompt/completion",
  alpaca: "instruction/output",
  sharegpt: "conversations with from/value",
  text: "text",
};

/** Whether a `messages`/`conversations` list uses ShareGPT turns ({from, value}) rather than OpenAI's {role, content}. */
function hasShareGptTurns(list: unknown): boolean {
  if (!Array.isArray(list)) return false;
  const first = list.find(isObject);
  return first !== undefined && has(first, "from") && !has(first, "role");
}

/**
 * The format a record's keys point to, or null. A record with both keys of a pair wins over one with a single key
 * (so `{"instruction": ..., "output": ...}` is Alpaca, while `{"instruction": ...}` alone is still taken for a
 * broken Alpaca record rather than for nothing).
 */
export function classifyRecord(value: unknown): DatasetFormat | null {
  if (!isObject(value)) return null;
  if (has(value, "messages")) return hasShareGptTurns(value.messages) ? "sharegpt" : "openai-chat";
  if (has(value, "conversations")) return "sharegpt";
  if (has(value, "prompt") && has(value, "completion")) return "prompt-completion";
  if (has(value, "instruction") && has(value, "output")) return "alpaca";
  if (has(value, "text")) return "text";
  if (has(value, "instruction") || has(value, "output")) return "alpaca";
  if (has(value, "prompt") || has(value, "completion")) return "prompt-completion";
  return null;
}

/** The format most of the sample records have (ties go to the format seen first), or null when none has one. */
export function detectFormat(samples: unknown[]): DatasetFormat | null {
  const votes = new Map<DatasetFormat, number>();
  for (const sample of samples) {
    const format = classifyRecord(sample);
    if (format) votes.set(format, (votes.get(format) ?? 0) + 1);
  }
  let best: DatasetFormat | null = null;
  // Map iteration follows insertion order, i.e. first appearance: a strict > keeps the earliest on ties.
  for (const [format, count] of votes) if (best === null || count > (votes.get(best) ?? 0)) best = format;
  return best;
}

/** Collects the issues of one record. */
class Problems {
  readonly issues: RowIssue[] = [];
  constructor(private readonly line: number) {}
  add(kind: IssueKind, field: string | undefined, message: string): void {
    this.issues.push(
      field === undefined ? { line: this.line, kind, message } : { line: this.line, field, kind, message },
    );
  }
}

/**
 * Validates one record against the file's format and normalises it. `row` is set only when there is no issue;
 * otherwise `issues` lists every problem found.
 */
export function normalizeRecord(
  value: unknown,
  format: DatasetFormat,
  line: number,
): { row?: NormalizedRow; issues: RowIssue[] } {
  const p = new Problems(line);
  if (!isObject(value)) {
    p.add(
      "data_type",
      undefined,
      `The record is ${describe(value)}, not a JSON object. Each record must be an object such as ${FORMAT_EXAMPLE[format]}.`,
    );
    return { issues: p.issues };
  }
  const deep = tooDeep(value);
  if (deep) {
    p.add(
      "too_deep",
      deep.field,
      `${deep.field} is nested more than ${MAX_JSON_DEPTH} levels deep (arrays and objects inside each other); no training row needs that. Flatten it, or remove the row.`,
    );
    return { issues: p.issues };
  }
  const looksLike = classifyRecord(value);
  if (looksLike !== null && looksLike !== format) {
    p.add(
      "format_mismatch",
      undefined,
      `This record looks like ${FORMAT_LABEL[looksLike]} (${FORMAT_KEYS[looksLike]}), but the file is ${FORMAT_LABEL[format]} (detected from its first records). Convert it to ${FORMAT_LABEL[format]}, e.g. ${FORMAT_EXAMPLE[format]}, or upload the two formats as separate files.`,
    );
    return { issues: p.issues };
  }
  const row = NORMALIZERS[format](value, p);
  const cluster = clusterKey(value, p);
  if (p.issues.length || !row) return { issues: p.issues };
  if (cluster !== undefined) row.cluster = cluster;
  return { row, issues: [] };
}

// ---------------------------------------------------------------------------------------------------------------
// Shared checks

/**
 * Every format may carry a `cluster` key (a string or number): rows that share one are not independent (the same
 * document, user or template), and evals then report clustered standard errors. It is not exported to providers.
 */
function clusterKey(record: JsonObject, p: Problems): string | undefined {
  const c = record.cluster;
  if (c === undefined || c === null) return undefined;
  if (typeof c === "string" || typeof c === "number") return String(c);
  p.add(
    "wrong_type",
    "cluster",
    `"cluster" is ${describe(c)}; it must be a string or a number that groups related rows.`,
  );
  return undefined;
}

function unknownKeys(record: JsonObject, allowedKeys: readonly string[], format: DatasetFormat, p: Problems): void {
  const allowed = [...allowedKeys, "cluster"];
  for (const key of Object.keys(record)) {
    if (allowed.includes(key)) continue;
    p.add(
      "unknown_key",
      key,
      `Unknown key ${quote(key)} at the top of the record: ${FORMAT_LABEL[format]} records may only have ${allowed.join(", ")}. Remove it (or rename it if it is misspelt).`,
    );
  }
}

/**
 * A required string field: reports it missing, of the wrong type or blank, and returns it when usable. `what`
 * says what belongs in it, for the messages.
 */
function requiredString(
  record: JsonObject,
  key: string,
  what: string,
  format: DatasetFormat,
  p: Problems,
): string | undefined {
  const v = record[key];
  if (!has(record, key) || v === null) {
    p.add(
      "missing_field",
      key,
      `${quote(key)} is ${v === null ? "null" : "missing"}: ${aFormat(format)} record needs it. Add ${what}.`,
    );
    return undefined;
  }
  if (typeof v !== "string") {
    p.add("wrong_type", key, `${quote(key)} must be a string, but it is ${describe(v)}. Put ${what} in a string.`);
    return undefined;
  }
  if (isBlank(v)) {
    p.add("empty_field", key, `${quote(key)} is empty. Write ${what}, or remove the record.`);
    return undefined;
  }
  return v;
}

/** An optional string field: absent or null means "not given". */
function optionalString(record: JsonObject, key: string, p: Problems): string | undefined {
  const v = record[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  p.add("wrong_type", key, `${quote(key)} must be a string, but it is ${describe(v)}. Make it a string, or remove it.`);
  return undefined;
}

/** A conversation list (`messages` or `conversations`): reports it missing, not a list or empty. */
function conversationList(record: JsonObject, key: string, format: DatasetFormat, p: Problems): unknown[] | undefined {
  const list = record[key];
  if (list === undefined || list === null) {
    p.add(
      "missing_messages_list",
      key,
      `The record has no ${quote(key)} list: ${aFormat(format)} record holds its conversation there, e.g. ${FORMAT_EXAMPLE[format]}. Add it.`,
    );
    return undefined;
  }
  if (!Array.isArray(list)) {
    p.add(
      "wrong_type",
      key,
      `${quote(key)} must be a list of messages, but it is ${describe(list)}. Make it a JSON array.`,
    );
    return undefined;
  }
  if (list.length === 0) {
    p.add(
      "empty_conversation",
      key,
      `${quote(key)} is empty. Add at least a user message and the assistant's reply, or remove the record.`,
    );
    return undefined;
  }
  return list;
}

/**
 * The assistant checks shared by chat formats. `roles` are the messages' chat roles (undefined where missing or
 * unrecognised, which is reported already); `speaker` names the last message's speaker as the file does.
 */
function assistantChecks(
  roles: (Role | undefined)[],
  speaker: string,
  key: string,
  roleField: string,
  p: Problems,
): void {
  if (!roles.includes("assistant")) {
    p.add(
      "example_missing_assistant_message",
      key,
      "The conversation has no assistant message, so there is nothing to learn from it. Add the assistant's reply, or remove the record.",
    );
    return;
  }
  const last = roles.length - 1;
  const lastRole = roles[last];
  if (lastRole !== undefined && lastRole !== "assistant") {
    p.add(
      "last_message_not_assistant",
      `${key}[${last}].${roleField}`,
      `${key}[${last}]: the conversation ends with a ${speaker} message. End it with the assistant's reply to that message, or remove the trailing message.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAI chat

const OPENAI_ROW_KEYS = ["messages", "tools", "functions", "parallel_tool_calls"] as const;
const OPENAI_MESSAGE_KEYS = [
  "role",
  "content",
  "name",
  "function_call",
  "tool_calls",
  "tool_call_id",
  "weight",
] as const;
const ROLES: readonly Role[] = ["system", "developer", "user", "assistant", "tool", "function"];

/** Roles other tools use, with the OpenAI role to rename them to. */
const ROLE_SUGGESTIONS: Record<string, Role> = {
  human: "user",
  gpt: "assistant",
  bot: "assistant",
  model: "assistant",
  ai: "assistant",
  chatgpt: "assistant",
  observation: "tool",
};

function openAiChat(record: JsonObject, p: Problems): NormalizedRow | undefined {
  unknownKeys(record, OPENAI_ROW_KEYS, "openai-chat", p);
  for (const key of ["tools", "functions"] as const) {
    if (has(record, key) && !Array.isArray(record[key])) {
      p.add(
        "wrong_type",
        key,
        `${quote(key)} must be a list of definitions, but it is ${describe(record[key])}. Make it a JSON array, or remove it.`,
      );
    }
  }
  if (has(record, "parallel_tool_calls") && typeof record.parallel_tool_calls !== "boolean") {
    p.add(
      "wrong_type",
      "parallel_tool_calls",
      `"parallel_tool_calls" must be true or false, but it is ${describe(record.parallel_tool_calls)}.`,
    );
  }
  const list = conversationList(record, "messages", "openai-chat", p);
  if (!list) return undefined;
  const messages: ChatMessage[] = [];
  const roles = list.map((m, i) => openAiMessage(m, `messages[${i}]`, p, messages));
  assistantChecks(roles, `"${roles.at(-1)}"`, "messages", "role", p);
  const row: NormalizedRow = { kind: "chat", messages };
  if (has(record, "tools")) row.tools = record.tools;
  else if (has(record, "functions")) row.tools = record.functions;
  return row;
}

/**
 * Checks one OpenAI message (at `path`, e.g. `messages[2]`), appends it to `out` when usable, and returns its role
 * when that role is valid.
 */
function openAiMessage(m: unknown, path: string, p: Problems, out: ChatMessage[]): Role | undefined {
  if (!isObject(m)) {
    p.add(
      "wrong_type",
      path,
      `${path}: a message must be an object with "role" and "content", but it is ${describe(m)}.`,
    );
    return undefined;
  }
  let ok = true;
  for (const key of Object.keys(m)) {
    if ((OPENAI_MESSAGE_KEYS as readonly string[]).includes(key)) continue;
    ok = false;
    p.add(
      "message_unrecognized_key",
      `${path}.${key}`,
      `${path}: unrecognized key ${quote(key)}; a message may only have ${OPENAI_MESSAGE_KEYS.join(", ")}. Remove it (or rename it if it is misspelt).`,
    );
  }

  let role: Role | undefined;
  if (!has(m, "role")) {
    ok = false;
    p.add("message_missing_key", `${path}.role`, `${path}: the message has no "role". Add one of ${ROLES.join(", ")}.`);
  } else if (typeof m.role === "string" && (ROLES as readonly string[]).includes(m.role)) {
    role = m.role as Role;
  } else {
    ok = false;
    const roles = ROLES.join(", ");
    if (typeof m.role !== "string") {
      p.add(
        "unrecognized_role",
        `${path}.role`,
        `${path}: role must be a string, one of ${roles}, but it is ${describe(m.role)}.`,
      );
    } else {
      const lower = m.role.toLowerCase();
      const suggestion = (ROLES as readonly string[]).includes(lower)
        ? lower
        : Object.hasOwn(ROLE_SUGGESTIONS, lower)
          ? ROLE_SUGGESTIONS[lower]
          : undefined;
      const fix = suggestion
        ? `Rename it to "${suggestion}".`
        : 'Rename it to one of these (ShareGPT-style data with from: human/gpt belongs in a "conversations" list).';
      p.add("unrecognized_role", `${path}.role`, `${path}: role ${quote(m.role)} is not one of ${roles}. ${fix}`);
    }
  }

  const hasCalls = has(m, "tool_calls") || has(m, "function_call");
  if (!has(m, "content")) {
    ok = false;
    const nullable = role === "assistant" ? ' (it may be null when the message has "tool_calls")' : "";
    p.add(
      "message_missing_key",
      `${path}.content`,
      `${path}: the message has no "content". Add the message text${nullable}.`,
    );
  } else if (m.content === null) {
    if (!(role === "assistant" && hasCalls)) {
      ok = false;
      p.add(
        "missing_content",
        `${path}.content`,
        `${path}: content is null, which is only allowed on an assistant message with "tool_calls" or "function_call". Put the message text in a string.`,
      );
    }
  } else if (Array.isArray(m.content)) {
    ok = false;
    p.add(
      "missing_content",
      `${path}.content`,
      `${path}: content is a list of content parts; only plain-text content is supported. Join the text parts into one string.`,
    );
  } else if (typeof m.content !== "string") {
    ok = false;
    p.add(
      "missing_content",
      `${path}.content`,
      `${path}: content must be a string, but it is ${describe(m.content)}. Put the message text in a string.`,
    );
  } else if (isBlank(m.content) && !hasCalls) {
    ok = false;
    p.add(
      "missing_content",
      `${path}.content`,
      `${path}: content is empty. Write the message text, or remove the message.`,
    );
  }

  if (has(m, "name") && typeof m.name !== "string") {
    ok = false;
    p.add("wrong_type", `${path}.name`, `${path}: "name" must be a string, but it is ${describe(m.name)}.`);
  }
  if (has(m, "tool_calls") && !Array.isArray(m.tool_calls)) {
    ok = false;
    p.add(
      "wrong_type",
      `${path}.tool_calls`,
      `${path}: "tool_calls" must be a list of calls, but it is ${describe(m.tool_calls)}. Make it a JSON array.`,
    );
  }
  if (has(m, "tool_call_id") && typeof m.tool_call_id !== "string") {
    ok = false;
    p.add(
      "wrong_type",
      `${path}.tool_call_id`,
      `${path}: "tool_call_id" must be a string, but it is ${describe(m.tool_call_id)}.`,
    );
  }
  if (has(m, "function_call") && !isObject(m.function_call)) {
    ok = false;
    p.add(
      "wrong_type",
      `${path}.function_call`,
      `${path}: "function_call" must be an object like {"name": ..., "arguments": ...}, but it is ${describe(m.function_call)}.`,
    );
  }
  if (has(m, "weight")) {
    if (m.weight !== 0 && m.weight !== 1) {
      ok = false;
      p.add(
        "wrong_type",
        `${path}.weight`,
        `${path}: "weight" must be 0 (do not train on this message) or 1, but it is ${JSON.stringify(m.weight)}.`,
      );
    } else if (role !== undefined && role !== "assistant") {
      ok = false;
      p.add(
        "wrong_type",
        `${path}.weight`,
        `${path}: "weight" is only allowed on assistant messages. Remove it from this ${role} message.`,
      );
    }
  }

  if (ok && role !== undefined) {
    const message: ChatMessage = { role, content: m.content as string | null };
    if (has(m, "name")) message.name = m.name as string;
    if (has(m, "tool_calls")) message.tool_calls = m.tool_calls as unknown[];
    if (has(m, "tool_call_id")) message.tool_call_id = m.tool_call_id as string;
    if (has(m, "function_call")) message.function_call = m.function_call;
    if (has(m, "weight")) message.weight = m.weight as number;
    out.push(message);
  }
  return role;
}

// ---------------------------------------------------------------------------------------------------------------
// Prompt/completion

function promptCompletion(record: JsonObject, p: Problems): NormalizedRow | undefined {
  unknownKeys(record, ["prompt", "completion"], "prompt-completion", p);
  const prompt = requiredString(record, "prompt", "the prompt text", "prompt-completion", p);
  const completion = requiredString(record, "completion", "the expected completion", "prompt-completion", p);
  if (prompt === undefined || completion === undefined) return undefined;
  return {
    kind: "chat",
    messages: [
      { role: "user", content: prompt },
      { role: "assistant", content: completion },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Alpaca

function alpaca(record: JsonObject, p: Problems): NormalizedRow | undefined {
  unknownKeys(record, ["instruction", "input", "output", "system", "history"], "alpaca", p);
  const input = optionalString(record, "input", p);
  const system = optionalString(record, "system", p);
  // The request may sit in "input" alone, with an empty or absent instruction.
  const requestInInput = input !== undefined && !isBlank(input) && (record.instruction ?? "") === "";
  const instruction = requestInInput
    ? ""
    : requiredString(record, "instruction", "the instruction (the user's request)", "alpaca", p);
  const output = requiredString(record, "output", "the expected answer", "alpaca", p);

  const history: ChatMessage[] = [];
  const rawHistory = record.history;
  if (rawHistory !== undefined && rawHistory !== null) {
    if (!Array.isArray(rawHistory)) {
      p.add(
        "wrong_type",
        "history",
        `"history" must be a list of [instruction, answer] pairs, but it is ${describe(rawHistory)}.`,
      );
    } else {
      rawHistory.forEach((pair, i) => {
        if (!(Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" && typeof pair[1] === "string")) {
          p.add(
            "wrong_type",
            `history[${i}]`,
            `history[${i}] must be a pair of strings [instruction, answer], but it is ${describe(pair)}.`,
          );
        } else if (isBlank(pair[0]) || isBlank(pair[1])) {
          p.add(
            "empty_field",
            `history[${i}]`,
            `history[${i}] has an empty ${isBlank(pair[0]) ? "instruction" : "answer"}. Fill it in, or remove the pair.`,
          );
        } else {
          history.push({ role: "user", content: pair[0] }, { role: "assistant", content: pair[1] });
        }
      });
    }
  }

  if (instruction === undefined || output === undefined) return undefined;
  const user = [instruction, input ?? ""].filter((s) => !isBlank(s)).join("\n\n");
  const messages: ChatMessage[] = [];
  if (system !== undefined && !isBlank(system)) messages.push({ role: "system", content: system });
  messages.push(...history, { role: "user", content: user }, { role: "assistant", content: output });
  return { kind: "chat", messages };
}

// ---------------------------------------------------------------------------------------------------------------
// ShareGPT

/** ShareGPT speakers and the chat role each becomes. */
const SHAREGPT_ROLES: Record<string, Role> = {
  system: "system",
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  chatgpt: "assistant",
  // A tool call the assistant makes: kept as the assistant message's text.
  function_call: "assistant",
  observation: "tool",
  tool: "tool",
  function: "tool",
};
const SHAREGPT_FROM = "human, gpt, system, function_call, observation (also user, assistant, chatgpt, tool, function)";

function shareGpt(record: JsonObject, p: Problems): NormalizedRow | undefined {
  const key = has(record, "messages") && !has(record, "conversations") ? "messages" : "conversations";
  unknownKeys(record, [key, "system", "tools"], "sharegpt", p);
  const system = optionalString(record, "system", p);
  if (has(record, "tools") && typeof record.tools !== "string" && !Array.isArray(record.tools)) {
    p.add(
      "wrong_type",
      "tools",
      `"tools" must be a list of tool definitions (or that list as a JSON string), but it is ${describe(record.tools)}.`,
    );
  }
  const list = conversationList(record, key, "sharegpt", p);
  if (!list) return undefined;

  const messages: ChatMessage[] = [];
  if (system !== undefined && !isBlank(system)) messages.push({ role: "system", content: system });
  const roles = list.map((turn, i) => shareGptTurn(turn, `${key}[${i}]`, p, messages));
  const lastTurn = list[list.length - 1];
  assistantChecks(roles, isObject(lastTurn) ? `from ${JSON.stringify(lastTurn.from)}` : "", key, "from", p);
  const row: NormalizedRow = { kind: "chat", messages };
  if (has(record, "tools")) row.tools = record.tools;
  return row;
}

function shareGptTurn(turn: unknown, path: string, p: Problems, out: ChatMessage[]): Role | undefined {
  if (!isObject(turn)) {
    p.add(
      "wrong_type",
      path,
      `${path}: a turn must be an object with "from" and "value", but it is ${describe(turn)}.`,
    );
    return undefined;
  }
  let ok = true;
  for (const key of Object.keys(turn)) {
    if (key === "from" || key === "value") continue;
    ok = false;
    p.add(
      "message_unrecognized_key",
      `${path}.${key}`,
      `${path}: unrecognized key ${quote(key)}; a ShareGPT turn may only have from and value. Remove it.`,
    );
  }
  let role: Role | undefined;
  if (!has(turn, "from")) {
    ok = false;
    p.add("message_missing_key", `${path}.from`, `${path}: the turn has no "from". Add who speaks: ${SHAREGPT_FROM}.`);
  } else if (typeof turn.from === "string" && Object.hasOwn(SHAREGPT_ROLES, turn.from)) {
    role = SHAREGPT_ROLES[turn.from];
  } else {
    ok = false;
    const problem =
      typeof turn.from === "string"
        ? `from ${quote(turn.from)} is not one of`
        : `from must be a string, but it is ${describe(turn.from)}; use one of`;
    p.add("unrecognized_role", `${path}.from`, `${path}: ${problem} ${SHAREGPT_FROM}. Rename it.`);
  }
  if (!has(turn, "value")) {
    ok = false;
    p.add("message_missing_key", `${path}.value`, `${path}: the turn has no "value". Add the message text.`);
  } else if (typeof turn.value !== "string") {
    ok = false;
    p.add(
      "missing_content",
      `${path}.value`,
      `${path}: value must be a string, but it is ${describe(turn.value)}. Put the message text in a string.`,
    );
  } else if (isBlank(turn.value)) {
    ok = false;
    p.add("missing_content", `${path}.value`, `${path}: value is empty. Write the message text, or remove the turn.`);
  }
  if (ok && role !== undefined) out.push({ role, content: turn.value as string });
  return role;
}

// ---------------------------------------------------------------------------------------------------------------
// Text

function textRow(record: JsonObject, p: Problems): NormalizedRow | undefined {
  unknownKeys(record, ["text"], "text", p);
  const text = requiredString(record, "text", "the training text", "text", p);
  return text === undefined ? undefined : { kind: "text", text };
}

/** Each format's validation + normalisation: returns the row (ignored when problems were found). */
const NORMALIZERS: Record<DatasetFormat, (record: JsonObject, p: Problems) => NormalizedRow | undefined> = {
  "openai-chat": openAiChat,
  "prompt-completion": promptCompletion,
  alpaca,
  sharegpt: shareGpt,
  text: textRow,
};
