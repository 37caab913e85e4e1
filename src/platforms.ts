/**
 * The chat platforms the bot runs on, one line each: a platform is its adapter's folder (src/adapters/<name>/) plus
 * its line here. `npm start` runs the one whose settings are present (the console when none is).
 */
import type { App } from "./app.ts";
import { discordSettings } from "./adapters/discord/settings.ts";
import { type SlackSettings, slackSettings } from "./adapters/slack/settings.ts";

/** A running platform: stop() takes it down; `done` settles when it ends by itself (the console: Ctrl-D). */
export interface PlatformHandle {
  port?: number;
  done?: Promise<void>;
  stop(): Promise<void>;
}

export interface Platform {
  name: string;
  /** Who runs queued runs in this process, for people ("the Slack bot"). */
  label: string;
  /** Its settings from the environment, or null when it is not configured (throws on a bad setting). */
  settings(env: NodeJS.ProcessEnv): unknown;
  /**
   * The leader lease's name when its connection allows one replica (Socket Mode, the Discord gateway): with
   * Postgres, only the replica holding the lease connects (docs/scale.md). Absent or null: every replica connects.
   */
  singleConnection?(settings: unknown): string | null;
  /** Starts it: its adapter makes itself the app's chat and keeps run cards current. SDKs load only here. */
  start(app: App, settings: unknown): Promise<PlatformHandle>;
}

export const PLATFORMS: Platform[] = [
  {
    name: "slack",
    label: "the Slack bot",
    settings: slackSettings,
    singleConnection: (s) => ((s as SlackSettings).mode === "socket" ? "slack-socket" : null),
    start: async (app, s) => (await import("./adapters/slack/index.ts")).startSlack(app, s as never),
  },
  {
    name: "discord",
    label: "the Discord bot",
    settings: discordSettings,
    singleConnection: () => "discord-gateway",
    start: async (app, s) => (await import("./adapters/discord/index.ts")).startDiscord(app, s as never),
  },
  {
    name: "console",
    label: "the console bot",
    settings: () => null,
    start: async (app) => (await import("./adapters/console/index.ts")).startConsole(app),
  },
];
