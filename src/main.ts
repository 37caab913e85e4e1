/**
 * `npm start`: runs the bot. Slack when SLACK_BOT_TOKEN is set, Discord when DISCORD_TOKEN is set, otherwise the
 * console chat in this terminal. One chat platform per process (run two processes on one data folder for both:
 * the database queue gives each run to exactly one of them).
 */
import { runCardFor, runVerdictCard } from "../commands/run.ts";
import { consoleChat } from "./adapters/console/chat.ts";
import { discordSettings } from "./adapters/discord/settings.ts";
import { slackSettings } from "./adapters/slack/settings.ts";
import { createApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { attachRunNotifier } from "./core/runs/notifier.ts";
import { loadDotEnv } from "./env.ts";
import { ErrorCode, isTuneError, TuneError } from "./errors.ts";
import { attachIterationNotices, createScheduler } from "./iterations.ts";
import { createLogger } from "./log.ts";
import { loadProviderSettings } from "./providers/settings.ts";
import { startWebhookServer } from "./webhooks.ts";
import { startScale } from "./scale/index.ts";

async function main(): Promise<number> {
  loadDotEnv();
  let config: ReturnType<typeof loadConfig>;
  let slack: ReturnType<typeof slackSettings>;
  let discord: ReturnType<typeof discordSettings>;
  try {
    config = loadConfig();
    loadProviderSettings(); // a bad provider setting is named here, before anything starts
    slack = slackSettings(process.env);
    discord = discordSettings(process.env);
    if (slack && discord) {
      throw new TuneError(
        ErrorCode.ConfigInvalid,
        "Both SLACK_BOT_TOKEN and DISCORD_TOKEN are set: run one process per platform (each with one of them) on the same TUNELOOP_DATA.",
      );
    }
  } catch (err) {
    if (isTuneError(err)) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const platform = slack ? "slack" : discord ? "discord" : "console";
  const log = createLogger(config, { toFile: platform === "console" });
  const app = createApp(config, log);
  log.info({ dataDir: config.dataDir, platform }, "tuneloop started");
  // With Postgres (docs/scale.md): jobs through the shared queue, schedules fired once across replicas.
  const scale = config.scale.databaseUrl ? await startScale(app, { role: "chat", label: `the ${platform} bot` }) : null;
  app.scheduler = createScheduler(app, scale?.timer);
  attachIterationNotices(app);
  const openai = loadProviderSettings().openai;
  const webhooks = openai?.webhookSecret
    ? await startWebhookServer({ port: config.webhookPort, openaiSecret: openai.webhookSecret, log })
    : null;
  const stopAll = async () => {
    await webhooks?.close();
    await app.worker.stop();
    await scale?.stop();
    await app.close();
  };

  if (platform === "console") {
    // The worker runs queued runs (also those started from the CLI without --wait) and resumes the runs a stopped
    // process left behind; the notifier keeps their cards and threads current in the chat.
    attachRunNotifier(app.runs.events, {
      chat: () => app.chat,
      card: (run) => runCardFor(app, run),
      verdictCard: (run, v) => runVerdictCard(app, run, v),
      onError: (err) => log.warn({ err }, "chat update failed"),
    });
    // Ctrl-D during a run: stop its work and wait for it before the database closes; the run resumes at the next start.
    const chat = consoleChat(app, {
      async beforeExit() {
        await app.scheduler?.stop();
        const id = await app.worker.stop();
        return id === null
          ? undefined
          : `Run ${id} was interrupted: it resumes when tuneloop starts again (npm start), or drop it with npx tuneloop run cancel ${id}.`;
      },
    });
    if (!scale) app.worker.start({ label: "the console bot" });
    await app.scheduler.start();
    void app.ingest.warm();
    try {
      await chat;
    } finally {
      await stopAll();
    }
    return 0;
  }

  // Slack or Discord: the adapter sets app.chat and attaches the run notifier itself.
  // The platform SDKs load only when used.
  const connect = async () =>
    slack
      ? await (await import("./adapters/slack/index.ts")).startSlack(app, slack)
      : await (await import("./adapters/discord/index.ts")).startDiscord(app, discord as NonNullable<typeof discord>);
  // Socket Mode and the Discord gateway allow one connection: with replicas, only the lease holder connects.
  const single = scale && (discord || slack?.mode === "socket");
  let bot: Awaited<ReturnType<typeof connect>> | null = null;
  const leader = single ? scale.leader(slack ? "slack-socket" : "discord-gateway") : null;
  if (leader) {
    leader.start({
      lead: async () => {
        bot = await connect();
      },
      follow: async () => {
        await bot?.stop();
        bot = null;
      },
    });
  } else bot = await connect();
  if (!scale) app.worker.start({ label: slack ? "the Slack bot" : "the Discord bot" });
  await app.scheduler.start();
  void app.ingest.warm();
  process.stdout.write(
    `tuneloop is running on ${platform}${bot && "port" in bot && bot.port ? ` (HTTP on port ${bot.port})` : ""}${leader ? " (connects while it holds the leader lease)" : ""}. Ctrl-C stops it.\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  log.info("stopping");
  // Disconnect first, then give the lease up: another replica connects only after this one has closed.
  await (bot as { stop(): Promise<void> } | null)?.stop();
  await leader?.stop();
  await stopAll();
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
