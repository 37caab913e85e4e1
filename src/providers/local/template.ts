/**
 * How chat rows become text for the tiny local model (one template for training and inference).
 *
 * A conversation is rendered as plain lines, one per message, and ends with the answer cue "A:":
 *
 *     system/developer/tool/function message   ->  "<content>\n"
 *     user message                              ->  "Q: <content>\n"
 *     assistant message (an earlier turn)       ->  "A: <content>\n"
 *     then                                      ->  "A:"
 *
 * The completion is the content of the final assistant message, as written. The local trainer encodes it as a new
 * word (a leading space token, like sentencepiece's dummy prefix), and generation strips that space again, so a
 * tuned model's output can be compared with the expected answer as is. Example: [user "Lily lost her kite. How did
 * Lily feel?", assistant "sad"] -> prompt "Q: Lily lost her kite. How did Lily feel?\nA:", completion "sad".
 *
 * Messages with null content (tool calls) render as empty lines' worth of nothing and are skipped.
 */
import type { ChatMessage } from "../../core/datasets/types.ts";
import type { TrainExample } from "./train.ts";

export const ANSWER_CUE = "A:";

function line(m: ChatMessage): string | null {
  const content = typeof m.content === "string" ? m.content : null;
  if (content === null || content === "") return null;
  if (m.role === "user") return `Q: ${content}`;
  if (m.role === "assistant") return `A: ${content}`;
  return content;
}

/** The prompt for a conversation (every message given, then the answer cue). */
export function promptFromMessages(messages: readonly ChatMessage[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    const l = line(m);
    if (l !== null) lines.push(l);
  }
  lines.push(ANSWER_CUE);
  return lines.join("\n");
}

/**
 * A training example from a chat row: everything before the LAST assistant message is the prompt, that message is
 * the completion. A row without messages but with `text` trains on the text itself (empty prompt). Null when there
 * is nothing to learn (no assistant message with text content).
 */
export function chatToExample(messages: readonly ChatMessage[], text?: string): TrainExample | null {
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "assistant" && typeof messages[i].content === "string" && messages[i].content !== "") {
      last = i;
      break;
    }
  }
  if (last === -1) {
    if (messages.length === 0 && typeof text === "string" && text.trim() !== "")
      return { prompt: "", completion: text };
    return null;
  }
  return { prompt: promptFromMessages(messages.slice(0, last)), completion: messages[last].content as string };
}
