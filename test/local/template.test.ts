import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatMessage } from "../../src/core/datasets/types.ts";
import { chatToExample, promptFromMessages } from "../../src/providers/local/template.ts";

test("template: system and user turns as lines, then the answer cue; the final assistant message is the completion", () => {
  const messages: ChatMessage[] = [
    { role: "system", content: "Answer with one word." },
    { role: "user", content: "Lily lost her kite. How did Lily feel?" },
    { role: "assistant", content: "sad" },
  ];
  assert.deepEqual(chatToExample(messages), {
    prompt: "Answer with one word.\nQ: Lily lost her kite. How did Lily feel?\nA:",
    completion: "sad",
  });
  // Inference renders the same prompt from the messages before the answer (as the eval runner passes them).
  assert.equal(
    promptFromMessages(messages.slice(0, 2)),
    "Answer with one word.\nQ: Lily lost her kite. How did Lily feel?\nA:",
  );
});

test("template: earlier turns, tool calls, rows without an answer, text rows", () => {
  const multi: ChatMessage[] = [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello" },
    { role: "user", content: "Name a color" },
    { role: "assistant", content: null, tool_calls: [{}] },
    { role: "tool", content: "red" },
    { role: "assistant", content: "red" },
  ];
  assert.deepEqual(chatToExample(multi), { prompt: "Q: Hi\nA: Hello\nQ: Name a color\nred\nA:", completion: "red" });
  assert.equal(chatToExample([{ role: "user", content: "no answer" }]), null);
  assert.deepEqual(chatToExample([], "Once upon a time"), { prompt: "", completion: "Once upon a time" });
  assert.equal(chatToExample([], "  "), null);
  assert.equal(promptFromMessages([]), "A:");
});
