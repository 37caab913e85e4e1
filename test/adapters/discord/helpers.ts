/** A tuneloop app with the fake trainer, a fake Discord on loopback, and the real bot (discord.js) between them. */
import fs from "node:fs";
import path from "node:path";
import type { App } from "../../../src/app.ts";
import {
  deployCommands,
  discordSettings,
  startDiscord,
  type DiscordBot,
  type DiscordSettings,
} from "../../../src/adapters/discord/index.ts";
import { engineApp, fakeEndpoint } from "../../engine/engine-helpers.ts";
import { startFakeDiscord, type FakeDiscord, type FakeInteraction } from "../../fakes/discord.ts";
import { startFakeOpenAI, type FakeEndpoint, type FakeOptions } from "../../fakes/openai-compatible.ts";
import type { EndpointConfig } from "../../../src/providers/openai-compatible.ts";
import { tmpDir } from "../../helpers.ts";

export interface Harness {
  app: App;
  fake: FakeDiscord;
  bot: DiscordBot;
  settings: DiscordSettings;
  endpoint: FakeEndpoint;
  logFile: string;
  dataDir: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Roles the guild has besides @everyone, trainers and admins (names), known to the bot from READY. */
  roles?: string[];
  /** Settings over the defaults (TUNELOOP_SPENDERS role:trainers, TUNELOOP_ADMINS role:admins). */
  env?: (fake: FakeDiscord) => Record<string, string>;
  /** The fake OpenAI-compatible endpoint's answers (default: it echoes), and endpoints on it besides `big`. */
  answer?: FakeOptions["answer"];
  endpoints?: (baseUrl: string) => EndpointConfig[];
  /** What the tuned local model answers (engineApp's default: every colour right). */
  answers?: (prompt: string) => string;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const fake = await startFakeDiscord();
  for (const name of opts.roles ?? []) fake.roles.push({ id: fake.snowflake(), name });
  const endpoint = await startFakeOpenAI(opts.answer ? { answer: opts.answer } : {});
  let app: App | undefined;
  try {
    return await connect(fake, endpoint, opts, (a) => {
      app = a;
    });
  } catch (err) {
    // Leave nothing listening: a failed start must not keep the test process alive.
    await app?.close().catch(() => {});
    await fake.close();
    await endpoint.close();
    throw err;
  }
}

async function connect(
  fake: FakeDiscord,
  endpoint: FakeEndpoint,
  opts: HarnessOptions,
  started: (app: App) => void,
): Promise<Harness> {
  const extra = opts.env?.(fake) ?? {};
  const dataDir = tmpDir("discord");
  const logFile = path.join(dataDir, "bot.log");
  const env = {
    DISCORD_TOKEN: fake.token,
    DISCORD_APPLICATION_ID: fake.applicationId,
    DISCORD_GUILD_ID: fake.guildId,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_WATCH_CHANNELS: fake.watchChannelId,
  };
  const { app } = await engineApp({
    dataDir,
    env: {
      ...env,
      LOG_LEVEL: "debug",
      TUNELOOP_LOG_FILE: logFile,
      // A priced baseline and a threshold of $0: every run waits for its Confirm button.
      TUNELOOP_CONFIRM_ABOVE_USD: "0",
      TUNELOOP_SPENDERS: "role:trainers",
      TUNELOOP_ADMINS: "role:admins",
      ...extra,
    },
    endpoints: [
      fakeEndpoint("big", endpoint.baseUrl, { inputPer1M: 1, outputPer1M: 1 }),
      ...(opts.endpoints?.(endpoint.baseUrl) ?? []),
    ],
    answers: opts.answers,
  });
  started(app);
  const settings = discordSettings(env);
  if (!settings) throw new Error("settings");
  await deployCommands(settings);
  const bot = await startDiscord(app, settings, {
    notifier: { threadEveryMs: 0, cardEveryMs: 0 },
    progressEveryMs: 200,
  });
  const harness: Harness = {
    app,
    fake,
    bot,
    settings,
    endpoint,
    logFile,
    dataDir,
    async close() {
      await harness.bot.stop(); // the bot now (a test may have restarted it)
      await app.close();
      await fake.close();
      await endpoint.close();
    },
  };
  return harness;
}

export const jsonl = (rows: number, offset = 0) =>
  `${Array.from({ length: rows }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `Where is parcel ${i + offset}?` },
        { role: "assistant", content: `Parcel ${i + offset} is in depot ${(i + offset) % 7}.` },
      ],
    }),
  ).join("\n")}\n`;

/** Temporary files the bot left in the data folder (downloads must be removed after the upload). */
export const leftovers = (dataDir: string) => {
  const tmp = path.join(dataDir, "tmp");
  return fs.existsSync(tmp) ? fs.readdirSync(tmp).filter((f) => f.includes("discord-")) : [];
};

/** The interaction's answer, once it is final (not the "thinking" placeholder). */
export const finalAnswer = (fake: FakeDiscord, i: FakeInteraction) =>
  fake.waitFor(`the answer to interaction ${i.id}`, () => {
    const m = fake.original(i);
    return m && !(m.flags & 128) ? m : undefined; // 128: LOADING
  });
