/**
 * tuneloop in Discord: `/tune <group> <command>` slash commands built from the command registry, run cards as
 * embeds edited in place, a thread per run for progress, the verdict and charts, buttons, autocomplete, and dataset
 * files dropped in watched channels. Setup in docs/discord.md.
 */
import { REST, Routes } from "discord.js";
import { TuneError } from "../../errors.ts";
import { buildTuneCommand, validateCommand, type SlashCommand } from "./commands.ts";
import type { DiscordSettings } from "./settings.ts";

export { discordSettings, type DiscordSettings } from "./settings.ts";
export { startDiscord, type DiscordBot, type StartOptions } from "./bot.ts";
export { buildTuneCommand, validateCommand } from "./commands.ts";

export interface DeployResult {
  scope: "guild" | "global";
  guildId?: string;
  command: SlashCommand;
  /** Subcommands registered under /tune. */
  subcommands: string[];
}

/**
 * Registers /tune (PUT replaces the application's commands in that scope): in DISCORD_GUILD_ID when set (at once),
 * else globally (Discord may take up to an hour to show global changes). Refuses a payload outside Discord's limits.
 */
export async function deployCommands(settings: DiscordSettings, opts: { rest?: REST } = {}): Promise<DeployResult> {
  const command = buildTuneCommand();
  const problems = validateCommand(command);
  if (problems.length)
    throw new TuneError(
      "discord_command_invalid",
      `The /tune payload breaks Discord's limits:\n  ${problems.join("\n  ")}`,
    );
  const rest = opts.rest ?? new REST(settings.apiUrl ? { api: settings.apiUrl } : {}).setToken(settings.token);
  const route = settings.guildId
    ? Routes.applicationGuildCommands(settings.applicationId, settings.guildId)
    : Routes.applicationCommands(settings.applicationId);
  try {
    await rest.put(route, { body: [command] });
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 401) throw new TuneError("config_invalid", "Discord refused the bot token (DISCORD_TOKEN).");
    if (status === 403 || status === 404) {
      throw new TuneError(
        "discord_deploy_refused",
        `Discord refused to register the commands (HTTP ${status}): check DISCORD_APPLICATION_ID${settings.guildId ? ", DISCORD_GUILD_ID and that the bot was invited to that server with the applications.commands scope" : ""}.`,
      );
    }
    throw err;
  }
  const subcommands = command.options.flatMap((o) =>
    o.type === 2 ? (o.options ?? []).map((s) => `${o.name} ${s.name}`) : [o.name],
  );
  return { scope: settings.guildId ? "guild" : "global", guildId: settings.guildId, command, subcommands };
}
