/**
 * `npm start`: runs the bot. Slack when SLACK_BOT_TOKEN is set, Discord when DISCORD_TOKEN is set, otherwise the
 * console chat in this terminal. One chat platform per process (run two processes on one data folder for both:
 * the database queue gives each run to exactly one of them).
 */
import { createApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { loadDotEnv } from "./env.ts";
import { ErrorCode, isTuneError, TuneError } from "./errors.ts";
import { attachIterationNotices, createScheduler } from "./iterations.ts";
import { createLogger } from "./log.ts";
import { PLATFORMS, type Platform, type PlatformHandle } from "./platforms.ts";
import { loadProviderSettings } from "./providers/settings.ts";
import { startWebhookServer } from "./webhooks.ts";
import { startScale } from "./scale/index.ts";

async function main(): Promise<number> {
  loadDotEnv();
  let config: ReturnType<typeof loadConfig>;
  let platform: Platform;
  let settings: unknown = null;
  try {
    config = loadConfig();
    loadProviderSettings(); // a bad provider setting is named here, before anything starts
    const configured = PLATFORMS.map((p) => ({ p, s: p.settings(process.env) })).filter((x) => x.s !== null);
    if (configured.length > 1) {
      throw new TuneError(
        ErrorCode.ConfigInvalid,
        `More than one chat platform is configured (${configured.map((x) => x.p.name).join(", ")}: e.g. both SLACK_BOT_TOKEN and DISCORD_TOKEN are set): run one process per platform, each with its own settings, on the same TUNELOOP_DATA.`,
      );
    }
    platform = configured[0]?.p ?? (PLATFORMS.find((p) => p.name === "console") as Platform);
    settings = configured[0]?.s ?? null;
  } catch (err) {
    if (isTuneError(err)) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const log = createLogger(config, { toFile: platform.name === "console" });
  const app = createApp(config, log);
  log.info({ dataDir: config.dataDir, platform: platform.name }, "tuneloop started");
  // With Postgres (docs/scale.md): jobs through the shared queue, schedules fired once across replicas.
  const scale = config.scale.databaseUrl ? await startScale(app, { role: "chat", label: platform.label }) : null;
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

  // The platform's adapter makes itself the app's chat and keeps run cards and threads current. The worker runs
  // queued runs (also those started from the CLI without --wait) and resumes the runs a stopped process left behind;
  // with Postgres the queue hands this process its runs instead.
  // Socket Mode and the Discord gateway allow one connection: with replicas, only the lease holder connects.
  const single = scale ? platform.singleConnection?.(settings) : null;
  const leader = single && scale ? scale.leader(single) : null;
  let bot: PlatformHandle | null = null;
  if (leader) {
    leader.start({
      lead: async () => {
        bot = await platform.start(app, settings);
      },
      follow: async () => {
        await bot?.stop();
        bot = null;
      },
    });
  } else bot = await platform.start(app, settings);
  if (!scale) app.worker.start({ label: platform.label });
  await app.scheduler.start();
  void app.ingest.warm();
  const done = (bot as PlatformHandle | null)?.done;
  if (done) {
    // The console ends when the person leaves (Ctrl-D, /quit).
    try {
      await done;
    } finally {
      await stopAll();
    }
    return 0;
  }
  const port = (bot as PlatformHandle | null)?.port;
  process.stdout.write(
    `tuneloop is running on ${platform.name}${port ? ` (HTTP on port ${port})` : ""}${leader ? " (connects while it holds the leader lease)" : ""}. Ctrl-C stops it.\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  log.info("stopping");
  // Disconnect first, then give the lease up: another replica connects only after this one has closed.
  await (bot as PlatformHandle | null)?.stop();
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
