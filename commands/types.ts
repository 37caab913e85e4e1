import type { z } from "zod";
import type { App } from "../src/app.ts";
import type { Card } from "../src/core/cards.ts";

/**
 * Who may run a command (checked before the handler, like sapphire's preconditions):
 * - read: everyone
 * - write: may change datasets and experiments (everyone who may read, unless settings restrict it)
 * - spend: may start work that costs money or compute
 * - admin: may change settings-like state (schedules, permissions)
 */
export type Permission = "read" | "write" | "spend" | "admin";

export type Surface = "console" | "cli" | "slack" | "discord";

export interface Actor {
  id: string;
  name: string;
  /** Roles/groups the platform says the user has (Slack user groups, Discord roles). */
  roles?: string[];
}

export interface Attachment {
  /** The name the file had on the platform (display only, never a path). */
  filename: string;
  /** A local file holding the bytes (downloaded by the adapter, or the CLI's own path). */
  path: string;
}

export interface CommandContext {
  app: App;
  user: Actor;
  channelId: string;
  surface: Surface;
  attachment?: Attachment;
  /** The platform's id of this request (Slack trigger, Discord interaction): a retried request reuses it. */
  requestId?: string;
  /** Short progress lines for long work (the console prints them; chat adapters coalesce them into edits). */
  progress: (message: string) => void;
}

export interface CommandResult {
  card: Card;
  /** The stable JSON of `--json` (documented in docs/cli.md). */
  data: unknown;
  /** A refused outcome that is not an exception (e.g. an upload refused for its errors): exit code 1. */
  failed?: boolean;
  /** Called by a chat adapter with the id of the message it posted the card as (a run's card is then kept up to date). */
  onPosted?: (ref: { channelId: string; messageId: string }) => void;
}

export interface CommandDef<S extends z.ZodObject = z.ZodObject> {
  /** The command words after /tune, e.g. ["dataset", "upload"]. */
  path: string[];
  summary: string;
  /** Option schema. Field names are camelCase; on the command line they are --kebab-case. */
  options: S;
  /** Fields filled by positional words, in order. */
  positional?: Array<keyof z.infer<S> & string>;
  /** A field that takes every remaining word (options of this command excepted), joined by spaces. */
  rest?: keyof z.infer<S> & string;
  /** The command takes a file: in chat an attachment, in the CLI a path as the first positional word. */
  attachment?: "required" | "optional";
  permission: Permission;
  examples: string[];
  handler: (ctx: CommandContext, input: z.infer<S>) => Promise<CommandResult>;
}

export function defineCommand<S extends z.ZodObject>(def: CommandDef<S>): CommandDef<S> {
  return def;
}
