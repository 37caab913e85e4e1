import type { z } from "zod";
import type { App } from "../src/app.ts";
import type { Card } from "../src/core/cards.ts";
import type { Attachment, HostAccess } from "./attachments.ts";

export type { Attachment, HostAccess };

/**
 * Who may run a command (checked before the handler, like sapphire's preconditions):
 * - read: everyone
 * - write: may change datasets and experiments (everyone who may read, unless settings restrict it)
 * - spend: may start work that costs money or compute
 * - admin: may change settings-like state (schedules, permissions)
 */
export type Permission = "read" | "write" | "spend" | "admin";

/**
 * Where a request comes from. "schedule" is the system actor of a scheduled fire (src/iterations.ts): not a person
 * at a terminal, not a chat member; it acts as SCHEDULE_ACTOR and has no host access.
 */
export type Surface = "console" | "cli" | "slack" | "discord" | "schedule";

/** The user of every scheduled fire (its name says which schedule: "schedule #3 (rerun exp)"). */
export const SCHEDULE_ACTOR_ID = "system:schedule";

export interface Actor {
  id: string;
  name: string;
  /**
   * Roles/groups the platform says the user has (Slack user groups, Discord roles): the id, and the name (a Slack
   * group's handle, a Discord role's name) where known. Permission entries match names only when written as
   * `role:NAME` (src/lib/principals.ts).
   */
  roles?: Array<{ id: string; name?: string }>;
}

interface ContextBase {
  app: App;
  user: Actor;
  channelId: string;
  /**
   * The file the command reads (commands/attachments.ts): on chat surfaces only an upload the adapter downloaded
   * through receiveUpload; on the CLI and the console also a host file named through `host`.
   */
  attachment?: Attachment;
  /** The platform's id of this request (Slack trigger, Discord interaction): a retried request reuses it. */
  requestId?: string;
  /** Short progress lines for long work (the console prints them; chat adapters coalesce them into edits). */
  progress: (message: string) => void;
}

/**
 * A command's context. `host` is the right to name paths on the bot's host (--file, --out, the CLI's FILE word):
 * the CLI and the console create it; a chat surface's context cannot hold one, nor can a schedule's fire (surface
 * "schedule": words typed in chat, run later by the bot).
 */
export type CommandContext = ContextBase &
  ({ surface: "slack" | "discord" | "schedule"; host?: undefined } | { surface: "cli" | "console"; host?: HostAccess });

export interface CommandResult {
  card: Card;
  /** The stable JSON of `--json` (documented in docs/cli.md). */
  data: unknown;
  /** A refused outcome that is not an exception (e.g. an upload refused for its errors): exit code 1. */
  failed?: boolean;
  /** Called by a chat adapter with the id of the message it posted the card as (a run's card is then kept up to date). */
  onPosted?: (ref: { channelId: string; messageId: string }) => void;
}

/**
 * What an option's value names, for chat autocomplete (Discord suggests as you type; src/chat/complete.ts): a
 * dataset (name or name@vN), an experiment, a run id, a model (best, run:N, provider:model, a baseline), or a target
 * (an experiment or run:N).
 */
export type CompleteKind = "dataset" | "experiment" | "run" | "model" | "target";

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
  /**
   * The command takes a file: in chat an upload, in the CLI a path as the first positional word (or --file PATH,
   * also in the console). `--file` is a host-path option of every such command.
   */
  attachment?: "required" | "optional";
  /** What the file is, for chat's file option (Discord shows it under the field); default a dataset file. */
  attachmentDescription?: string;
  /**
   * Options that name a path on the bot's host, each with what chat does instead (shown when chat names one). Only
   * a context with host access (the CLI, the console) takes them; chat renderers leave them out and chat parsers
   * refuse them in any spelling.
   */
  hostPaths?: Partial<Record<keyof z.infer<S> & string, string>>;
  /** Options whose values chat suggests as they are typed (declared here, never guessed from a description). */
  complete?: Partial<Record<keyof z.infer<S> & string, CompleteKind>>;
  permission: Permission;
  examples: string[];
  handler: (ctx: CommandContext, input: z.infer<S>) => Promise<CommandResult>;
}

export function defineCommand<S extends z.ZodObject>(def: CommandDef<S>): CommandDef<S> {
  return def;
}
