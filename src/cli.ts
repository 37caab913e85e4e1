/**
 * `tuneloop <command words> [--json]` (also `npm run tune -- ...`): runs one registry command against the data
 * folder and prints the reply, or with --json the command's result as JSON (docs/cli.md).
 * Exit codes: 0 success, 1 user error (including an upload refused for its errors), 2 bug.
 */
import { runCommand } from "../commands/dispatch.ts";
import { createApp } from "./app.ts";
import { createScheduler } from "./iterations.ts";
import { renderCard } from "./adapters/console/render.ts";
import { saveCardFiles } from "./adapters/console/files.ts";
import { loadConfig } from "./config.ts";
import { loadDotEnv } from "./env.ts";
import { isTuneError } from "./errors.ts";
import { createLogger, scrubSecrets } from "./log.ts";

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const words = argv.filter((a) => a !== "--json");
  if (words[0] === "--help" || words[0] === "-h") words.splice(0, 1, "help");
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
  const log = createLogger(config);
  const app = createApp(config, log);
  // Not started: schedule commands write to the database, and a running bot picks the changes up.
  app.scheduler = createScheduler(app);
  try {
    const out = await runCommand(words, {
      app,
      user: { id: "cli", name: config.consoleUser },
      channelId: "cli",
      surface: "cli",
      progress: (m) => {
        if (!json || process.stderr.isTTY) process.stderr.write(`${m}\n`);
      },
    });
    const secrets = config.secrets;
    if (json) {
      process.stdout.write(`${scrubSecrets(JSON.stringify(out.data, null, 2), secrets)}\n`);
      const paths = saveCardFiles(config.dataDir, out.card.files);
      for (const p of paths) process.stderr.write(`[file] ${p}\n`);
    } else {
      const paths = saveCardFiles(config.dataDir, out.card.files);
      const stream = out.exitCode === 0 ? process.stdout : process.stderr;
      stream.write(
        `${scrubSecrets(renderCard(out.card, { filePaths: paths, withThread: true, cli: true }), secrets)}\n`,
      );
    }
    return out.exitCode;
  } finally {
    await app.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tuneloop: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
