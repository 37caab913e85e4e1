/** `npm run discord:deploy`: registers the /tune slash command (in DISCORD_GUILD_ID when set, else globally). */
import { loadDotEnv } from "../../env.ts";
import { isTuneError } from "../../errors.ts";
import { scrubSecrets } from "../../log.ts";
import { deployCommands, discordSettings } from "./index.ts";

async function main(): Promise<number> {
  loadDotEnv();
  const settings = discordSettings(process.env);
  if (!settings) {
    process.stderr.write(
      "DISCORD_TOKEN is not set. Put the bot token in .env (see docs/discord.md), then run npm run discord:deploy again.\n",
    );
    return 1;
  }
  const res = await deployCommands(settings);
  process.stdout.write(
    `Registered /tune with ${res.subcommands.length} subcommands ${
      res.scope === "guild"
        ? `in server ${res.guildId} (usable at once)`
        : "globally (Discord may take up to an hour to show them everywhere)"
    }:\n  ${res.subcommands.map((s) => `/tune ${s}`).join("\n  ")}\n`,
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    const token = process.env.DISCORD_TOKEN ? [process.env.DISCORD_TOKEN] : [];
    const msg = isTuneError(err)
      ? err.message
      : `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    process.stderr.write(`${scrubSecrets(msg, token)}\n`);
    process.exitCode = isTuneError(err) ? 1 : 2;
  },
);
