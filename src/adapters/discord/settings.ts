/** The Discord settings (DISCORD_*), parsed once at start; a bad value stops the bot with a message naming it. */
import { z } from "zod";
import { ErrorCode, TuneError } from "../../errors.ts";

const snowflake = z.string().regex(/^\d{15,21}$/, "must be a Discord id (a snowflake: 15-21 digits)");

const schema = z.object({
  DISCORD_TOKEN: z.string().trim().min(20, "looks too short for a bot token"),
  DISCORD_APPLICATION_ID: z
    .string({ error: "is required with DISCORD_TOKEN (Developer Portal > General Information > Application ID)" })
    .trim()
    .pipe(snowflake),
  DISCORD_GUILD_ID: z.string().trim().pipe(snowflake).optional(),
  DISCORD_API_URL: z
    .string()
    .trim()
    .url()
    .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL, e.g. https://discord.com/api")
    .optional(),
  DISCORD_WATCH_CHANNELS: z
    .string()
    .default("")
    .transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(snowflake)),
});

export interface DiscordSettings {
  token: string;
  applicationId: string;
  /** Register the commands in this guild only (they update at once; global ones can take an hour). */
  guildId?: string;
  /** REST base without the version, e.g. https://discord.com/api (tests: a local fake); the gateway URL comes from its GET /gateway/bot. */
  apiUrl?: string;
  /** Channels where files people drop are ingested as datasets (needs the Message Content intent). */
  watchChannels: string[];
}

const blank = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v);

/** Reads the DISCORD_* settings; null when DISCORD_TOKEN is unset (Discord is not configured). */
export function discordSettings(env: NodeJS.ProcessEnv = process.env): DiscordSettings | null {
  if (!blank(env.DISCORD_TOKEN)) return null;
  const parsed = schema.safeParse({
    DISCORD_TOKEN: env.DISCORD_TOKEN,
    DISCORD_APPLICATION_ID: blank(env.DISCORD_APPLICATION_ID),
    DISCORD_GUILD_ID: blank(env.DISCORD_GUILD_ID),
    DISCORD_API_URL: blank(env.DISCORD_API_URL),
    DISCORD_WATCH_CHANNELS: env.DISCORD_WATCH_CHANNELS ?? "",
  });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? "?");
      // The token is never echoed, not even a bad one.
      const shown = name === "DISCORD_TOKEN" ? "(hidden)" : JSON.stringify(env[name] ?? null);
      return `${name}=${shown}: ${issue.message}`;
    });
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `Bad Discord setting${lines.length > 1 ? "s" : ""}:\n  ${lines.join("\n  ")}\nFix it in .env or the environment (see docs/discord.md).`,
    );
  }
  const s = parsed.data;
  return {
    token: s.DISCORD_TOKEN,
    applicationId: s.DISCORD_APPLICATION_ID,
    guildId: s.DISCORD_GUILD_ID,
    apiUrl: s.DISCORD_API_URL?.replace(/\/+$/, ""),
    watchChannels: s.DISCORD_WATCH_CHANNELS,
  };
}
