import crypto from "node:crypto";
import path from "node:path";
import { errorCard, text, type Card } from "../src/core/cards.ts";
import { asTuneError, ErrorCode, TuneError } from "../src/errors.ts";
import { registry, helpCard } from "./index.ts";
import { splitWords, usage, validateInput, wordsToInput } from "./parse.ts";
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

export async function runCommand(wordsIn: string[], ctx: CommandContext): Promise<Outcome> {
  let words = wordsIn;
  if (words[0]?.toLowerCase() === "/tune" || words[0]?.toLowerCase() === "tune") words = words.slice(1);
  try {
    if (words.length === 0) return { card: helpCard(undefined, ctx.surface), data: null, exitCode: 0, command: "help" };
    const found = findCommand(words);
    if (!found) throw unknownCommand(words);
    const { def } = found;
    let rest = found.rest;
    // A file can be given as --file PATH wherever the command takes one (console and CLI);
    // the CLI also takes it as the first positional word.
    if (def.attachment) {
      const i = rest.findIndex((w) => w === "--file" || w.startsWith("--file="));
      if (i >= 0) {
        const w = rest[i];
        const p = w.includes("=") ? w.slice(w.indexOf("=") + 1) : rest[i + 1];
        if (!p) throw new TuneError(ErrorCode.InvalidOptions, "--file needs a path.");
        rest = [...rest.slice(0, i), ...rest.slice(i + (w.includes("=") ? 1 : 2))];
        ctx = { ...ctx, attachment: { filename: path.basename(p), path: path.resolve(p) } };
      } else if (ctx.surface === "cli" && rest[0] && !rest[0].startsWith("--")) {
        ctx = { ...ctx, attachment: { filename: path.basename(rest[0]), path: path.resolve(rest[0]) } };
        rest = rest.slice(1);
      }
      if (def.attachment === "required" && !ctx.attachment) {
        throw new TuneError(
          ErrorCode.AttachmentRequired,
          ctx.surface === "cli"
            ? `Give the file's path: npx tuneloop ${def.path.join(" ")} FILE`
            : `Attach a file to /tune ${def.path.join(" ")} (in the console: --file PATH, or /attach PATH first).`,
        );
      }
    }
    const input = validateInput(def, wordsToInput(def, rest));
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

function failure(err: unknown, ctx: CommandContext): Outcome {
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
  ctx.app.log.error({ err, ref }, "command failed");
  return {
    card: {
      title: "Something went wrong",
      tone: "error",
      ephemeral: true,
      blocks: [text(`That was a bug in tuneloop, not something you did. Reference: ${ref} (in the bot's log).`)],
    },
    data: { error: { code: "internal", message: "internal error", ref } },
    exitCode: 2,
    error: { code: "internal", message: `internal error ${ref}` },
  };
}

export { usage };
