/** `npm start`: runs the bot. With no chat platform configured it opens the console chat. */
import { consoleChat } from "./adapters/console/chat.ts";
import { createApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { loadDotEnv } from "./env.ts";
import { isTuneError } from "./errors.ts";
import { createLogger } from "./log.ts";

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
  try {
    await consoleChat(app);
  } finally {
    await app.close();
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tuneloop: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  },
);
