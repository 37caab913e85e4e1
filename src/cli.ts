/**
 * `npx tuneloop <command words> [--json]` (or `npm run -s tune -- ...`): runs one registry command against the data
 * folder and prints the reply, or with --json the command's result as JSON (docs/cli.md).
 * Exit codes: 0 success, 1 user error (including an upload refused for its errors), 2 bug.
 */
import { HostAccess } from "../commands/attachments.ts";
import { runCommand } from "../commands/dispatch.ts";
import { createApp, type App } from "./app.ts";
import { createScheduler } from "./iterations.ts";
import { renderCard } from "./adapters/console/render.ts";
import { saveCardFiles } from "./adapters/console/files.ts";
import { loadConfig } from "./config.ts";
import { loadDotEnv } from "./env.ts";
import { isTuneError } from "./errors.ts";
import { createLogger, scrubSecrets } from "./log.ts";
import { runScaleCommand, SCALE_COMMANDS } from "./scale/cli.ts";

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const words = argv.filter((a) => a !== "--json");
  if (words[0] === "--help" || words[0] === "-h") words.splice(0, 1, "help");
  loadDotEnv();
  let config: ReturnType<typeof loadConfig>;
  let app: App;
  try {
    // A bad setting (the general ones, or a provider's, read as the app is made) is the user's to fix.
    config = loadConfig();
    app = createApp(config, createLogger(config));
  } catch (err) {
    if (isTuneError(err)) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // `worker` and `db copy` are processes' roles, not chat commands (docs/scale.md).
  if (SCALE_COMMANDS.includes(words[0] ?? "")) {
    try {
      return await runScaleCommand(app, words, (line) =>
        process.stdout.write(`${scrubSecrets(line, config.secrets)}\n`),
      );
    } catch (err) {
      if (!isTuneError(err)) throw err;
      process.stderr.write(`${scrubSecrets(err.message, config.secrets)}\n`);
      return 1;
    } finally {
      await app.close();
    }
  }
  // Not started: schedule commands write to the database, and a running bot picks the changes up.
  app.scheduler = createScheduler(app);
  try {
    const out = await runCommand(words, {
      app,
      user: { id: "cli", name: config.consoleUser },
      channelId: "cli",
      surface: "cli",
      // The person at the machine names files on it (dataset upload FILE, --out PATH).
      host: HostAccess.forTerminal("cli"),
      progress: (m) => {
        if (!json || process.stderr.isTTY) process.stderr.write(`${m}\n`);
      },
    });
    const secrets = config.secrets;
    // The reply's files and its thread's (a run's verdict charts) are saved under <data>/files or already kept.
    const paths = saveCardFiles(config.dataDir, out.card.files);
    const threadFilePaths = (out.card.thread ?? []).map((t) => saveCardFiles(config.dataDir, t.files));
    if (json) {
      process.stdout.write(`${scrubSecrets(JSON.stringify(out.data, null, 2), secrets)}\n`);
      for (const p of [...paths, ...threadFilePaths.flat()]) process.stderr.write(`[file] ${p}\n`);
    } else {
      const stream = out.exitCode === 0 ? process.stdout : process.stderr;
      const text = renderCard(out.card, { filePaths: paths, withThread: true, threadFilePaths, cli: true });
      stream.write(`${scrubSecrets(text, secrets)}\n`);
    }
    return out.exitCode;
  } finally {
    await app.close();
  }
}

// A reader that stops early (`| head`, or jq giving up) closes the pipe: stop quietly, as other command-line tools do.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tuneloop: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
