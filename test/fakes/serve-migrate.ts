/**
 * The OpenAI and Together fakes as servers, to rehearse docs/migrate.md without keys:
 *
 *   node --import tsx test/fakes/serve-migrate.ts
 *
 * The OpenAI fake holds three finished jobs of a made-up team: `support` (a training and a validation file),
 * `colours` (a training file only) and `prefs` (a DPO job). OpenAI's tuned models and Together's tuned models answer
 * the task (the tuned OpenAI model misses every 7th row, Together's every 9th); base models answer "I don't know".
 * It prints the settings to export. Ctrl-C stops it.
 */
import { fileURLToPath } from "node:url";
import { startFakeOpenAI, type FakeOpenAI } from "./openai.ts";
import { startFakeTogether, type FakeTogether } from "./together.ts";

export const REHEARSAL_KEY = "rehearsal-key-not-a-real-one";

const COLOURS = ["red", "green", "blue", "yellow"];
const itemOf = (m: Array<{ role: string; content: string }>) =>
  Number(/item (\d+)/.exec([...m].reverse().find((x) => x.role === "user")?.content ?? "")?.[1] ?? -1);
const rows = (from: number, n: number) =>
  `${Array.from({ length: n }, (_, k) =>
    JSON.stringify({
      messages: [
        { role: "system", content: "Answer with the colour only." },
        { role: "user", content: `What colour is item ${from + k}?` },
        { role: "assistant", content: COLOURS[(from + k) % 4] },
      ],
    }),
  ).join("\n")}\n`;

export async function startMigrationRehearsal(): Promise<{ openai: FakeOpenAI; together: FakeTogether }> {
  const answer = (every: number, prefix: string) => (m: Array<{ role: string; content: string }>, model: string) => {
    const i = itemOf(m);
    if (!model.startsWith(prefix) || i < 0) return "I don't know";
    return i % every === 3 ? "purple" : COLOURS[i % 4];
  };
  const openai = await startFakeOpenAI({ apiKey: REHEARSAL_KEY, answer: answer(7, "ft:") });
  const together = await startFakeTogether({ apiKey: REHEARSAL_KEY, steps: 6, answer: answer(9, "fakeuser/") });
  openai.seedJob({
    id: "ftjob-Pr3fEr9nCeDp0aB7",
    createdAt: Date.UTC(2025, 5, 2, 9, 30) / 1000,
    suffix: "prefs",
    method: "dpo",
    training: {
      filename: "prefs.jsonl",
      content: `${JSON.stringify({
        input: { messages: [{ role: "user", content: "What colour is item 1?" }] },
        preferred_output: [{ role: "assistant", content: "green" }],
        non_preferred_output: [{ role: "assistant", content: "It is green, I think." }],
      })}\n`,
    },
  });
  openai.seedJob({
    id: "ftjob-C0l0uRs5hEldOut1",
    createdAt: Date.UTC(2025, 8, 14, 16, 5) / 1000,
    suffix: "colours",
    training: { filename: "colours.jsonl", content: rows(0, 200) },
    hyperparameters: { n_epochs: "auto", batch_size: "auto", learning_rate_multiplier: "auto" },
  });
  openai.seedJob({
    id: "ftjob-Su9pOrt4VaLid2Xq",
    createdAt: Date.UTC(2026, 1, 23, 11, 42) / 1000,
    suffix: "support",
    training: { filename: "support-train.jsonl", content: rows(0, 300) },
    validation: { filename: "support-valid.jsonl", content: rows(5000, 120) },
    hyperparameters: { n_epochs: 3, batch_size: 8, learning_rate_multiplier: 1.8 },
  });
  return { openai, together };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { openai, together } = await startMigrationRehearsal();
  process.stdout.write(
    `OpenAI fake on ${openai.baseUrl}, Together fake on ${together.baseUrl}. In another shell:\n  export OPENAI_BASE_URL=${openai.baseUrl} OPENAI_API_KEY=${REHEARSAL_KEY} TOGETHER_BASE_URL=${together.baseUrl} TOGETHER_API_KEY=${REHEARSAL_KEY} TUNELOOP_POLL_INTERVAL_MS=200 TUNELOOP_POLL_MAX_MS=500\n`,
  );
  process.once("SIGINT", () => void Promise.all([openai.close(), together.close()]).then(() => process.exit(0)));
}
