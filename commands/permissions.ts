import { matchesAny } from "../src/lib/principals.ts";
import type { CommandContext, Permission } from "./types.ts";

/**
 * The precondition every command passes before its handler runs (like sapphire's preconditions). Returns null
 * when allowed, else a sentence that says who may do it.
 * - The console and the CLI act for the person at the machine, who owns the data folder: they may do everything.
 * - On chat platforms everyone may read; `write` and `spend` follow TUNELOOP_SPENDERS (ids of users, Slack user
 *   groups or Discord roles, or role:NAME / user:ID; src/lib/principals.ts; empty: everyone) and runs start only in
 *   TUNELOOP_RUN_CHANNELS (empty: any); `admin` needs TUNELOOP_ADMINS. Admins may do everything. A role's name
 *   matches only an entry written role:NAME, never an id.
 * - A scheduled fire (surface "schedule") acts for the admin who added the schedule (`schedule add` needs spend
 *   rights, its channel was checked then): it may read, write and spend, in any channel, but never do what needs
 *   `admin`, and it has no host access.
 */
export function checkPermission(permission: Permission, ctx: CommandContext): string | null {
  if (permission === "read") return null;
  if (ctx.surface === "console" || ctx.surface === "cli") return null;
  const rules = ctx.app.config.permissions;
  if (ctx.surface === "schedule") {
    return permission === "admin" ? "A schedule cannot do what needs an admin; run it yourself." : null;
  }
  if (isAdmin(ctx)) return null;
  if (permission === "admin") {
    return `Only admins may do this (TUNELOOP_ADMINS: ${rules.admins.join(", ") || "none set"}).`;
  }
  if (rules.spenders.length && !matches(rules.spenders, ctx)) {
    return `Only ${rules.spenders.join(", ")} (TUNELOOP_SPENDERS) or an admin may ${permission === "spend" ? "start work that costs money" : "change datasets and experiments"}. Ask one of them.`;
  }
  if (permission === "spend" && rules.runChannels.length && !rules.runChannels.includes(ctx.channelId)) {
    return `Runs start only in ${rules.runChannels.map((c) => (ctx.surface === "slack" ? `<#${c}>` : `<#${c}>`)).join(", ")} (TUNELOOP_RUN_CHANNELS). Start it there.`;
  }
  return null;
}

const matches = (list: string[], ctx: CommandContext) => matchesAny(list, ctx.user);

export function isAdmin(ctx: CommandContext): boolean {
  if (ctx.surface === "console" || ctx.surface === "cli") return true;
  return matches(ctx.app.config.permissions.admins, ctx);
}
