import type { CommandContext, Permission } from "./types.ts";

/**
 * The precondition every command passes before its handler runs. Returns null when allowed, else a sentence that
 * says who may do it. The console and the CLI act for the person at the machine, who owns the data folder:
 * they may do everything. Chat platforms get their rules from settings (see the Slack and Discord adapters).
 */
export function checkPermission(permission: Permission, ctx: CommandContext): string | null {
  if (permission === "read") return null;
  if (ctx.surface === "console" || ctx.surface === "cli") return null;
  const rules = ctx.app.permissions;
  if (!rules) return null;
  return rules(permission, ctx);
}
