/**
 * The Slack settings, read from the environment once at start. A bad value stops the bot with a message that
 * names the setting (and never shows a token's value).
 */
import { z } from "zod";
import { ErrorCode, TuneError } from "../../errors.ts";

export interface SlackSettings {
  /** xoxb-… bot token (SLACK_BOT_TOKEN). */
  botToken: string;
  /** Signing secret of the app (SLACK_SIGNING_SECRET): needed in HTTP mode, not in Socket Mode. */
  signingSecret?: string;
  /** xapp-… app-level token with connections:write (SLACK_APP_TOKEN): set, the bot runs in Socket Mode. */
  appToken?: string;
  mode: "http" | "socket";
  /** HTTP mode: the port Bolt's HTTPReceiver listens on (PORT; 0 picks a free one). */
  port: number;
  /** Web API base URL ending in "/" (SLACK_API_URL; default https://slack.com/api/). */
  apiUrl: string;
  /** Least time between two messages the bot writes into one channel (default 1,000 ms: Slack's ~1 message/s). */
  outboxIntervalMs?: number;
}

const schema = z.object({
  SLACK_BOT_TOKEN: z.string().regex(/^xox[bp]-[\w-]+$/, "must be a bot token (xoxb-…, from OAuth & Permissions)"),
  SLACK_SIGNING_SECRET: z
    .string()
    .regex(/^[\w-]{8,}$/, "must be the app's signing secret (Basic Information → App Credentials)")
    .optional(),
  SLACK_APP_TOKEN: z
    .string()
    .regex(
      /^xapp-[\w-]+$/,
      "must be an app-level token (xapp-…, Basic Information → App-Level Tokens, scope connections:write)",
    )
    .optional(),
  PORT: z.coerce.number().int("must be a whole number").min(0).max(65535).default(3000),
  SLACK_API_URL: z
    .string()
    .url("must be a URL, e.g. https://slack.com/api/")
    .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL")
    .optional(),
});

const HIDDEN = /(TOKEN|SECRET)$/;

/** The Slack settings, or null when SLACK_BOT_TOKEN is not set (the bot then runs without Slack). */
export function slackSettings(env: NodeJS.ProcessEnv = process.env): SlackSettings | null {
  const pick = (k: string) => {
    const v = env[k]?.trim();
    return v ? v : undefined;
  };
  if (!pick("SLACK_BOT_TOKEN")) return null;
  const raw = {
    SLACK_BOT_TOKEN: pick("SLACK_BOT_TOKEN"),
    SLACK_SIGNING_SECRET: pick("SLACK_SIGNING_SECRET"),
    SLACK_APP_TOKEN: pick("SLACK_APP_TOKEN"),
    PORT: pick("PORT"),
    SLACK_API_URL: pick("SLACK_API_URL"),
  };
  const parsed = schema.safeParse(raw);
  const bad = (lines: string[]) =>
    new TuneError(
      ErrorCode.ConfigInvalid,
      `Bad Slack setting${lines.length > 1 ? "s" : ""}:\n  ${lines.join("\n  ")}\nFix it in .env or the environment (see docs/slack.md).`,
    );
  if (!parsed.success) {
    throw bad(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? "?");
        const shown = HIDDEN.test(name) ? "(hidden)" : JSON.stringify(raw[name as keyof typeof raw]);
        return `${name}=${shown}: ${issue.message}`;
      }),
    );
  }
  const s = parsed.data;
  const mode = s.SLACK_APP_TOKEN ? "socket" : "http";
  if (mode === "http" && !s.SLACK_SIGNING_SECRET) {
    throw bad([
      "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify Slack's requests (or set SLACK_APP_TOKEN for Socket Mode).",
    ]);
  }
  const apiUrl = s.SLACK_API_URL
    ? s.SLACK_API_URL.endsWith("/")
      ? s.SLACK_API_URL
      : `${s.SLACK_API_URL}/`
    : "https://slack.com/api/";
  return {
    botToken: s.SLACK_BOT_TOKEN,
    signingSecret: s.SLACK_SIGNING_SECRET,
    appToken: s.SLACK_APP_TOKEN,
    mode,
    port: s.PORT,
    apiUrl,
  };
}

/** Every secret value of the settings (scrubbed from messages and logs). */
export function slackSecrets(s: SlackSettings): string[] {
  return [s.botToken, s.signingSecret, s.appToken].filter((x): x is string => Boolean(x));
}
