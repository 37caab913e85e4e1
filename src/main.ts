/** `npm start`: runs the bot. With no chat platform configured it opens the console chat. */
import { runCardFor, runVerdictCard } from "../commands/run.ts";
import { consoleChat } from "./adapters/console/chat.ts";
import { attachIterationNotices, createScheduler } from "./iterations.ts";
import { loadProviderSettings } from "./providers/settings.ts";
import { startWebhookServer } from "./webhooks.ts";
import { createApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { loadDotEnv } from "./env.ts";
import { isTuneError } from "./errors.ts";
import { createLogger } from "./log.ts";
import { attachRunNotifier } from "./core/runs/notifier.ts";

async function main(): Promise<number> {
  loadDotEnv();
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (isTuneError(err)) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const log = createLogger(config, { toFile: true });
  const app = createApp(config, log);
  log.info({ dataDir: config.dataDir }, "tuneloop started (console chat)");
  // The bot's worker runs queued runs (also those started from the CLI without --wait) and resumes the runs a
  // stopped process left behind; the notifier keeps their cards and threads current in the chat.
  attachRunNotifier(app.runs.events, {
    chat: () => app.chat,
    card: (run) => runCardFor(app, run),
    verdictCard: (run, v) => runVerdictCard(app, run, v),
    onError: (err) => log.warn({ err }, "chat update failed"),
  });
  app.scheduler = createScheduler(app);
  attachIterationNotices(app);
  const openai = loadProviderSettings().openai;
  const webhooks = openai?.webhookSecret
    ? await startWebhookServer({ port: config.webhookPort, openaiSecret: openai.webhookSecret, log })
    : null;
  const chat = consoleChat(app);
  app.worker.start();
  await app.scheduler.start();
  void app.ingest.warm();
  try {
    await chat;
  } finally {
    await webhooks?.close();
    await app.close();
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(
      `tuneloop: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 2;
  },
);
