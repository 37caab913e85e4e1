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

/** Where a command's output goes: the process's own streams (bin/tuneloop.mjs), or a test's buffers. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Progress lines go to stderr with --json only where a person watches it. */
  stderrIsTTY: boolean;
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  stderrIsTTY: Boolean(process.stderr.isTTY),
};

/** Runs one command as `tuneloop ARGV` would, settings from the environment; resolves with the exit code. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
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
      io.stderr(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // `worker` and `db copy` are processes' roles, not chat commands (docs/scale.md).
  if (words[0] === "worker" || words[0] === "db") {
    try {
      // loaded here, not at start: pg-boss and pg are not every command's to pay for
      const { runScaleCommand } = await import("./scale/cli.ts");
      return await runScaleCommand(app, words, (line) => io.stdout(`${scrubSecrets(line, config.secrets)}\n`));
    } catch (err) {
      if (!isTuneError(err)) throw err;
      io.stderr(`${scrubSecrets(err.message, config.secrets)}\n`);
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
        if (!json || io.stderrIsTTY) io.stderr(`${m}\n`);
      },
    });
    const secrets = config.secrets;
    // The reply's files and its thread's (a run's verdict charts) are saved under <data>/files or already kept.
    const paths = saveCardFiles(config.dataDir, out.card.files);
    const threadFilePaths = (out.card.thread ?? []).map((t) => saveCardFiles(config.dataDir, t.files));
    if (json) {
      io.stdout(`${scrubSecrets(JSON.stringify(out.data, null, 2), secrets)}\n`);
      for (const p of [...paths, ...threadFilePaths.flat()]) io.stderr(`[file] ${p}\n`);
    } else {
      const write = out.exitCode === 0 ? io.stdout : io.stderr;
      const text = renderCard(out.card, { filePaths: paths, withThread: true, threadFilePaths, cli: true });
      write(`${scrubSecrets(text, secrets)}\n`);
    }
    return out.exitCode;
  } finally {
    await app.close();
  }
}
