/** The OpenAI-compatible fake in its own process (so the bench measures the runner, not the fake). */
import { startFakeOpenAI } from "../test/fakes/openai-compatible.ts";

const latencyMs = Number(process.argv[2] ?? 50);
const fake = await startFakeOpenAI({ latencyMs, answer: (m) => ((m.at(-1)?.content.length ?? 0) % 2 ? "yes" : "no") });
process.stdout.write(`${fake.baseUrl}\n`);
process.stdin.on("data", () => process.stdout.write(`${JSON.stringify({ maxInFlight: fake.maxInFlight })}\n`));
process.stdin.on("end", () => void fake.close().then(() => process.exit(0)));
