/**
 * The Together fake as a server, to rehearse docs/together.md without a key (and what its test runs the walkthrough
 * against):
 *
 *   node --import tsx test/fakes/serve-together.ts support.jsonl
 *
 * prints the settings to export. A tuned model (a completed job's output) answers each prompt of the file with the
 * file's answer, as a fine-tune that learnt the task would; base models answer "I don't know". Ctrl-C stops it.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { startFakeTogether, type FakeTogether } from "./together.ts";

export const REHEARSAL_KEY = "rehearsal-key-not-a-real-one";

/** Answers from a chat JSONL file: the last user message -> the last assistant message of its row. */
export function answersFrom(
  file: string,
): (messages: Array<{ role: string; content: string }>, model: string) => string {
  const known = new Map<string, string>();
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const m = (JSON.parse(line) as { messages: Array<{ role: string; content: string }> }).messages;
    const user = [...m].reverse().find((x) => x.role === "user")?.content;
    const answer = [...m].reverse().find((x) => x.role === "assistant")?.content;
    if (user !== undefined && answer !== undefined) known.set(user, answer);
  }
  return (messages, model) => {
    const user = [...messages].reverse().find((x) => x.role === "user")?.content ?? "";
    return model.startsWith("fakeuser/") ? (known.get(user) ?? "I don't know") : "I don't know";
  };
}

export function startRehearsal(file: string): Promise<FakeTogether> {
  return startFakeTogether({ apiKey: REHEARSAL_KEY, steps: 6, answer: answersFrom(file) });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node --import tsx test/fakes/serve-together.ts DATA.jsonl\n");
    process.exit(1);
  }
  const fake = await startRehearsal(file);
  process.stdout.write(
    `Together fake on ${fake.baseUrl}. In another shell:\n  export TOGETHER_BASE_URL=${fake.baseUrl} TOGETHER_API_KEY=${REHEARSAL_KEY} TUNELOOP_POLL_INTERVAL_MS=200 TUNELOOP_POLL_MAX_MS=500\n`,
  );
  process.once("SIGINT", () => void fake.close().then(() => process.exit(0)));
}
