import crypto from "node:crypto";
import { errorCard, text, type Card } from "../src/core/cards.ts";
import { asTuneError, ErrorCode, TuneError } from "../src/errors.ts";
import { registry, helpCard } from "./index.ts";
import { splitWords, usage, validateInput, wordsToInput } from "./parse.ts";
import { Attachment } from "./attachments.ts";
import { checkPermission } from "./permissions.ts";
import type { CommandContext, CommandDef } from "./types.ts";

export interface Outcome {
  card: Card;
  data: unknown;
  /** 0 success, 1 user error (or a refused outcome), 2 bug. */
  exitCode: 0 | 1 | 2;
  command?: string;
  error?: { code: string; message: string };
  /** See CommandResult.onPosted. */
  onPosted?: (ref: { channelId: string; messageId: string }) => void;
}

/** Finds the command whose words are the longest prefix of `words`. */
export function findCommand(words: string[]): { def: CommandDef; rest: string[] } | null {
  let best: CommandDef | null = null;
  for (const def of registry) {
    if (def.path.length <= words.length && def.path.every((w, i) => words[i]?.toLowerCase() === w)) {
      if (!best || def.path.length > best.path.length) best = def;
    }
  }
  return best ? { def: best, rest: words.slice(best.path.length) } : null;
}

function unknownCommand(words: string[]): TuneError {
  const group = words[0]?.toLowerCase();
  const inGroup = registry.filter((d) => d.path[0] === group);
  const hint = inGroup.length
    ? `${group} commands: ${inGroup.map((d) => d.path.join(" ")).join(", ")}.`
    : "Type /tune help for the list of commands.";
  return new TuneError(ErrorCode.UnknownCommand, `Unknown command "/tune ${words.join(" ").slice(0, 60)}". ${hint}`);
}

/** Runs one command line ("/tune dataset list", "dataset list", ...) and never throws. */
export async function runCommandLine(line: string, ctx: CommandContext): Promise<Outcome> {
  try {
    return await runCommand(splitWords(line), ctx);
  } catch (err) {
    return failure(err, ctx);
  }
}

const withoutTune = (words: string[]) =>
  words[0]?.toLowerCase() === "/tune" || words[0]?.toLowerCase() === "tune" ? words.slice(1) : words;

/**
 * What the dispatcher refuses before any handler runs (bad quoting, an unknown command, bad or host-path options,
 * a missing permission), for an adapter to answer before it downloads an upload. null: go ahead (the upload that
 * is coming counts as given).
 */
export function preflight(line: string | string[], ctx: CommandContext): Outcome | null {
  try {
    const words = withoutTune(typeof line === "string" ? splitWords(line) : line);
    if (words.length === 0) return null;
    const found = findCommand(words);
    if (!found) throw unknownCommand(words);
    const host = { hostPaths: Boolean(ctx.host), surface: ctx.surface };
    validateInput(found.def, wordsToInput(found.def, found.rest, host), host);
    const refusal = checkPermission(found.def.permission, ctx);
    if (refusal) throw new TuneError(ErrorCode.PermissionDenied, refusal);
    return null;
  } catch (err) {
    return failure(err, ctx);
  }
}

export async function runCommand(wordsIn: string[], ctx: CommandContext): Promise<Outcome> {
  const words = withoutTune(wordsIn);
  try {
    if (words.length === 0)
      return {
        card: helpCard(undefined, { hostPaths: Boolean(ctx.host), surface: ctx.surface }),
        data: null,
        exitCode: 0,
        command: "help",
      };
    const found = findCommand(words);
    if (!found) throw unknownCommand(words);
    const { def } = found;
    let rest = found.rest;
    // Host paths (--file PATH; the CLI's first word) are taken only through the context's host access: the CLI and
    // the console have it, chat surfaces and a schedule's fires do not (the parser refuses them there).
    if (def.attachment && ctx.host) {
      const taken = takeFileOption(rest);
      rest = taken.rest;
      if (taken.path !== undefined) ctx = { ...ctx, attachment: ctx.host.attach(taken.path) };
      else if (ctx.surface === "cli" && rest[0] && !rest[0].startsWith("--")) {
        ctx = { ...ctx, attachment: ctx.host.attach(rest[0]) };
        rest = rest.slice(1);
      }
    }
    const missingFile = () =>
      new TuneError(
        ErrorCode.AttachmentRequired,
        ctx.surface === "cli"
          ? `Give the file's path: npx tuneloop ${def.path.join(" ")} FILE`
          : ctx.host
            ? `Attach a file to /tune ${def.path.join(" ")}: --file PATH, or /attach PATH first.`
            : `Attach a file to /tune ${def.path.join(" ")}: upload it with the command.`,
      );
    // In the terminal a missing file is said first; in chat a host path among the words is refused before that.
    if (ctx.host && def.attachment === "required" && !ctx.attachment) throw missingFile();
    const host = { hostPaths: Boolean(ctx.host), surface: ctx.surface };
    const input = validateInput(def, wordsToInput(def, rest, host), host);
    if (def.attachment === "required" && !ctx.attachment) throw missingFile();
    if (ctx.attachment) assertAttachment(ctx);
    const refusal = checkPermission(def.permission, ctx);
    if (refusal) throw new TuneError(ErrorCode.PermissionDenied, refusal);
    const res = await def.handler(ctx, input as never);
    return {
      card: res.card,
      data: res.data,
      exitCode: res.failed ? 1 : 0,
      command: def.path.join(" "),
      onPosted: res.onPosted,
    };
  } catch (err) {
    return failure(err, ctx);
  }
}

/** `--file PATH` / `--file=PATH` taken out of the words (CLI and console only). */
function takeFileOption(words: string[]): { path?: string; rest: string[] } {
  const i = words.findIndex((w) => w === "--file" || w.startsWith("--file="));
  if (i < 0) return { rest: words };
  const w = words[i];
  const p = w.includes("=") ? w.slice(w.indexOf("=") + 1) : words[i + 1];
  if (!p) throw new TuneError(ErrorCode.InvalidOptions, "--file needs a path.");
  return { path: p, rest: [...words.slice(0, i), ...words.slice(i + (w.includes("=") ? 1 : 2))] };
}

/**
 * The attachment is one that commands/attachments.ts made, and its origin fits the context: a host file only where
 * the context has host access. Anything else is a bug in an adapter, never read.
 */
function assertAttachment(ctx: CommandContext) {
  const att = ctx.attachment;
  if (!Attachment.isGenuine(att)) throw new Error("an attachment that was not made by receiveUpload or host access");
  if (att.origin === "host" && !ctx.host) throw new Error(`a host file attached on ${ctx.surface}`);
}

function failure(err: unknown, ctx: CommandContext): Outcome {
  return failureOutcome(err, ctx.app.log);
}

/**
 * The one place an error becomes what a user sees: a coded error (one a user can cause) as its message, shown
 * privately; anything else as "a bug" with a reference into the bot's log (`platform`: the chat platform whose call
 * may have failed, named in the message).
 */
export function failureOutcome(
  err: unknown,
  log: { error: (obj: object, msg: string) => void },
  platform?: string,
): Outcome {
  const te = asTuneError(err);
  if (te) {
    return {
      card: errorCard(te.message, te.code),
      data: { error: { code: te.code, message: te.message, ...(te.details ? { details: te.details } : {}) } },
      exitCode: 1,
      error: { code: te.code, message: te.message },
    };
  }
  const ref = crypto.randomBytes(4).toString("hex");
  log.error({ err, ref }, platform ? `${platform}: request failed` : "command failed");
  return {
    card: {
      title: "Something went wrong",
      tone: "error",
      ephemeral: true,
      blocks: [
        text(
          platform
            ? `That was a bug in tuneloop or a hiccup talking to ${platform}, not something you did. Try again; if it keeps failing, give the bot's admin this reference: ${ref}.`
            : `That was a bug in tuneloop, not something you did. Reference: ${ref} (in the bot's log).`,
        ),
      ],
    },
    data: { error: { code: "internal", message: "internal error", ref } },
    exitCode: 2,
    error: { code: "internal", message: `internal error ${ref}` },
  };
}

export { usage };
