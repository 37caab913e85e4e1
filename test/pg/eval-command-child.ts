/**
 * A chat replica in its own process for the eval-jobs test (test/pg/eval-jobs.test.ts): it joins the deployment on
 * Postgres (the queue, eval changes; it runs no jobs itself), then runs one command as the console would (channel
 * `c-eval`), printing each progress line and, at the end, the outcome as one JSON line. The test kills it mid-command.
 * argv: dataDir databaseUrl ...words
 */
import { runCommand } from "../../commands/dispatch.ts";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { startScale } from "../../src/scale/index.ts";
import { answerFor, ctxFor } from "../engine/engine-helpers.ts";
import { fakeProviders } from "../fakes/providers.ts";

const [dataDir, databaseUrl, ...words] = process.argv.slice(2);
const config = loadConfig({
  TUNELOOP_DATA: dataDir,
  LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
  TUNELOOP_DATABASE_URL: databaseUrl,
  TUNELOOP_EVAL_LEASE_S: process.env.TUNELOOP_EVAL_LEASE_S ?? "30",
  TUNELOOP_ENDPOINTS: process.env.TUNELOOP_ENDPOINTS ?? "",
});
const app = createApp(config, createLogger(config), {
  providers: fakeProviders({ answers: answerFor, endpoints: config.endpoints }),
});
const scale = await startScale(app, { role: "chat", providers: [] });
process.stdout.write("ready\n");
const ctx = {
  ...ctxFor(app, "console"),
  channelId: "c-eval",
  progress: (m: string) => process.stdout.write(`progress: ${m}\n`),
};
const out = await runCommand(words, ctx);
process.stdout.write(`${JSON.stringify({ exitCode: out.exitCode, error: out.error?.message, card: out.card })}\n`);
await scale.stop();
await app.close();
process.exit(0);
