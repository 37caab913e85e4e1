/**
 * The teacher: any OpenAI-compatible model asked to write new training rows like a cluster's failures. Its reply is
 * read as JSONL (a fenced block is unwrapped); each line is validated like an upload's record (the same normalizer),
 * and a line that fails is dropped with its reason.
 */
import { classifyRecord, normalizeRecord } from "../datasets/formats.ts";
import type { ProposedRow } from "./types.ts";

export const TEACHER_TOKENS_PER_ROW = 120;
const MAX_REPLY_LINES = 2000;

export function teacherMessages(
  clusterLabel: string,
  examples: Array<{ prompt: string; expected: string }>,
  trainExamples: Array<{ prompt: string; expected: string }>,
  rows: number,
) {
  const ex = examples
    .map((e, i) => `${i + 1}. prompt: ${JSON.stringify(e.prompt)}\n   ideal answer: ${JSON.stringify(e.expected)}`)
    .join("\n");
  const style = trainExamples
    .map((e) =>
      JSON.stringify({
        messages: [
          { role: "user", content: e.prompt },
          { role: "assistant", content: e.expected },
        ],
      }),
    )
    .join("\n");
  return [
    {
      role: "system" as const,
      content:
        'You write training data for fine-tuning a small model. Reply with JSONL only: one JSON object a line, each {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]}, no commentary.',
    },
    {
      role: "user" as const,
      content: `The model fails on a group of cases (${clusterLabel}). Examples of the cases it fails:\n${ex}\n\nRows of the existing training set, for the format and style:\n${style}\n\nWrite ${rows} NEW training rows for cases like the failing ones: new wording, new names and details, never copying an example above. Ideal answers follow the same conventions as the training rows.`,
    },
  ];
}

/** The rows of a teacher's reply, and the lines dropped with why. */
export function parseTeacherReply(text: string): {
  rows: ProposedRow[];
  dropped: Array<{ line: number; reason: string }>;
} {
  const fenced = /```(?:jsonl?|)\s*\n([\s\S]*?)```/.exec(text);
  const body = fenced ? fenced[1] : text;
  const rows: ProposedRow[] = [];
  const dropped: Array<{ line: number; reason: string }> = [];
  const lines = body.split(/\r?\n/).slice(0, MAX_REPLY_LINES);
  lines.forEach((raw, i) => {
    const s = raw.trim();
    if (!s) return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch {
      dropped.push({ line: i + 1, reason: "not JSON" });
      return;
    }
    const format = classifyRecord(v);
    if (format !== "openai-chat") {
      dropped.push({ line: i + 1, reason: "not a chat row ({messages: [...]})" });
      return;
    }
    const r = normalizeRecord(v, format, i + 1);
    if (!r.row?.messages) {
      dropped.push({ line: i + 1, reason: r.issues[0]?.message ?? "invalid row" });
      return;
    }
    const msgs = r.row.messages;
    if (msgs.at(-1)?.role !== "assistant" || msgs.some((m) => typeof m.content !== "string" || !m.content.trim())) {
      dropped.push({ line: i + 1, reason: "a row ends with a non-empty assistant answer" });
      return;
    }
    rows.push({
      messages: msgs.map((m) => ({ role: m.role as "system" | "user" | "assistant", content: m.content as string })),
    });
  });
  return { rows, dropped };
}
