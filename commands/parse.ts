import { z } from "zod";
import { ErrorCode, TuneError } from "../src/errors.ts";
import type { CommandDef, Surface } from "./types.ts";

/** Splits a command line into words, honouring "double" and 'single' quotes and backslash escapes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'" || c === "\u201c" || c === "\u201d") {
      quote = c === "\u201c" ? "\u201d" : c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) words.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote)
    throw new TuneError(ErrorCode.InvalidOptions, `Unclosed quote (${quote}) in the command. Close it and try again.`);
  if (has || cur) words.push(cur);
  return words;
}

export const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The innermost zod type of a field (through optional/default/nullable/pipe wrappers). */
export function baseType(schema: z.ZodType): string {
  let s = schema as unknown as { _zod: { def: { type: string; innerType?: unknown; in?: unknown } } };
  for (let i = 0; i < 10; i++) {
    const d = s._zod.def;
    if (d.innerType) s = d.innerType as typeof s;
    else if (d.type === "pipe" && d.in) s = d.in as typeof s;
    else return d.type;
  }
  return s._zod.def.type;
}

/**
 * One line of usage: `<required>` and `--required <value>` bare, `[optional]` and `[--optional <value>]` in
 * brackets. For the CLI (`cli`) the command is written as the CLI takes it, with its FILE.
 */
export function usage(def: CommandDef, opts: { cli?: boolean; hostPaths?: boolean } = {}): string {
  const shape = def.options.shape as Record<string, z.ZodType>;
  // host-path options only for a surface with host access (the CLI, the console)
  const hidden = opts.hostPaths ? new Map() : hostPathOptions(def);
  const parts = [`${opts.cli ? "npx tuneloop" : "/tune"} ${def.path.join(" ")}`];
  if (opts.cli && def.attachment) parts.push(def.attachment === "required" ? "FILE" : "[FILE]");
  for (const p of [...(def.positional ?? []), ...(def.rest ? [def.rest] : [])]) {
    const optional = shape[p].safeParse(undefined).success;
    parts.push(
      optional ? `[${p}...]`.replace("...", p === def.rest ? "..." : "") : `<${p}${p === def.rest ? "..." : ""}>`,
    );
  }
  for (const [k, t] of Object.entries(shape)) {
    if (def.positional?.includes(k as never) || def.rest === k || hidden.has(k)) continue;
    if (baseType(t) === "boolean") parts.push(`[--${kebab(k)}]`);
    else if (t.safeParse(undefined).success) parts.push(`[--${kebab(k)} <${kebab(k)}>]`);
    else parts.push(`--${kebab(k)} <${kebab(k)}>`);
  }
  return parts.join(" ");
}

/** What chat does instead of `--file PATH`, on the surface the member is on. */
function uploadInstead(def: CommandDef, surface?: Surface): string {
  const cmd = `/tune ${def.path.join(" ")}`;
  if (surface === "slack")
    return `Upload the file instead: drop it into this channel (I read files dropped where I am), or share it in a thread and run ${cmd} there.`;
  if (surface === "discord")
    return `Upload the file instead: attach it to ${cmd} (its file option), or drop it into a watched channel.`;
  return `Upload the file instead: on Discord attach it to ${cmd} (its file option); on Slack drop it into the channel.`;
}

/**
 * The options of a command that name a path on the bot's host, with what chat does instead: the registry's
 * `hostPaths`, and `--file` for every command that takes a file.
 */
export function hostPathOptions(def: CommandDef, surface?: Surface): Map<string, string> {
  const out = new Map<string, string>(Object.entries(def.hostPaths ?? {}) as Array<[string, string]>);
  if (def.attachment) out.set("file", uploadInstead(def, surface));
  return out;
}

/**
 * An option word as a person meant it, whatever their keyboard or a paste made of it: compatibility forms folded
 * (fullwidth letters), invisible format characters (zero-width spaces, BOMs) removed, any dash (en, em, minus) read
 * as "-", lower case. "—file", "－－ｆｉｌｅ", "--fi\u200ble" and "--FILE" all read "-file" or "--file".
 */
function optionSpelling(word: string): string {
  return word
    .normalize("NFKC")
    .replace(/\p{Cf}/gu, "")
    .replace(/[\p{Pd}\u2212]/gu, "-")
    .toLowerCase();
}

const hostPathRefused = (what: string, instead: string) =>
  new TuneError(
    ErrorCode.HostPathRefused,
    `${what} names a path on the bot's host, and chat cannot reach the bot's disk (paths are for the CLI and the console). ${instead}`,
  );

/**
 * Refuses any word that names one of the command's host-path options, in any spelling (see optionSpelling), and a
 * path where a command that takes a file expects a name (the CLI's `dataset upload FILE`). For contexts without
 * host access: every chat surface.
 */
function refuseHostPaths(def: CommandDef, words: string[], surface?: Surface) {
  const options = hostPathOptions(def, surface);
  if (!options.size) return;
  for (const w of words) {
    const s = optionSpelling(w);
    if (!s.startsWith("-")) continue;
    const key = s.replace(/^-+/, "").split("=")[0];
    for (const [field, instead] of options) {
      if (key === kebab(field) || key === field.toLowerCase()) throw hostPathRefused(`--${kebab(field)}`, instead);
    }
  }
}

const looksLikePath = (v: unknown) => typeof v === "string" && /^~|[\\/]/.test(v.normalize("NFKC"));

/** Turns the words after the command path into the raw option object (validated against the schema later). */
export function wordsToInput(
  def: CommandDef,
  words: string[],
  opts: { hostPaths?: boolean; surface?: Surface } = {},
): Record<string, unknown> {
  // Without host access (chat), a host-path option is refused in any spelling, before anything else is read.
  if (!opts.hostPaths) refuseHostPaths(def, words, opts.surface);
  const shape = def.options.shape as Record<string, z.ZodType>;
  const input: Record<string, unknown> = {};
  const positional: string[] = [];
  const rest: string[] = [];
  const names = def.positional ?? [];
  const known = (w: string) => {
    const k = w.slice(2).split("=")[0];
    return camel(k) in shape || (k.startsWith("no-") && camel(k.slice(3)) in shape);
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    // Once the positionals are filled, a rest field takes every word that is not one of this command's options.
    if (def.rest && positional.length >= names.length && !(w.startsWith("--") && known(w))) {
      rest.push(w);
      continue;
    }
    if (w.startsWith("--") && w.length > 2) {
      let key = w.slice(2);
      let value: string | undefined;
      const eq = key.indexOf("=");
      if (eq >= 0) {
        value = key.slice(eq + 1);
        key = key.slice(0, eq);
      }
      let field = camel(key);
      let negate = false;
      if (!(field in shape) && key.startsWith("no-") && camel(key.slice(3)) in shape) {
        field = camel(key.slice(3));
        negate = true;
      }
      const t = shape[field];
      if (!t) {
        const hidden = opts.hostPaths ? new Map() : hostPathOptions(def);
        const known = Object.keys(shape).filter((k) => !def.positional?.includes(k as never) && !hidden.has(k));
        throw new TuneError(
          ErrorCode.InvalidOptions,
          `Unknown option --${key} for /tune ${def.path.join(" ")}. ${known.length ? `Options: ${known.map((k) => `--${kebab(k)}`).join(", ")}.` : "It takes no options."}\nUsage: ${usage(def, opts)}`,
        );
      }
      const type = baseType(t);
      if (type === "boolean") {
        input[field] = value === undefined ? !negate : !["false", "0", "no"].includes(value.toLowerCase());
        continue;
      }
      if (value === undefined) {
        value = words[++i];
        if (value === undefined) {
          throw new TuneError(ErrorCode.InvalidOptions, `--${key} needs a value.\nUsage: ${usage(def, opts)}`);
        }
      }
      if (type === "array") input[field] = [...((input[field] as unknown[]) ?? []), ...value.split(",")];
      else input[field] = value;
    } else {
      positional.push(w);
    }
  }
  if (def.rest && rest.length) input[def.rest] = rest.join(" ");
  if (positional.length > names.length) {
    throw new TuneError(
      ErrorCode.InvalidOptions,
      `Too many words: "${positional.slice(names.length).join(" ")}" (did you mean an --option, or forget quotes?).\nUsage: ${usage(def, opts)}`,
    );
  }
  positional.forEach((v, i) => {
    input[names[i]] = v;
  });
  const first = names[0];
  if (!opts.hostPaths && def.attachment && first && looksLikePath(input[first])) {
    throw new TuneError(
      ErrorCode.HostPathRefused,
      `<${first}> "${String(input[first]).slice(0, 80)}" looks like a path on the bot's host, and chat cannot reach the bot's disk (paths are for the CLI and the console). The word after /tune ${def.path.join(" ")} is the ${first}, not a file. ${uploadInstead(def, opts.surface)}`,
    );
  }
  return input;
}

/**
 * A share of rows (the eval side of a split): "20%" is a percent; a number of 1 or more is a percent too ("1" is
 * 1%, "20" is 20%); a number below 1 is a fraction ("0.2" is 20%). Between 0% and 100%, both excluded.
 */
export function parseShare(s: string): number | null {
  const t = s.trim();
  const pct = t.endsWith("%");
  const x = Number(pct ? t.slice(0, -1).trim() : t);
  if (!t || !Number.isFinite(x)) return null;
  const n = pct || x >= 1 ? x / 100 : x;
  return n > 0 && n < 1 ? n : null;
}

export const shareOption = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s, ctx) => {
      const n = parseShare(s);
      if (n === null) {
        ctx.addIssue({
          code: "custom",
          message: `"${s}" is not a share of rows: write a percent (20% or 20; 1 is 1%) or a fraction below 1 (0.2)`,
        });
        return z.NEVER;
      }
      return n;
    });

/** Validates raw input against the command's schema; problems come back naming the option. */
export function validateInput(
  def: CommandDef,
  raw: Record<string, unknown>,
  opts: { hostPaths?: boolean } = {},
): Record<string, unknown> {
  const parsed = def.options.safeParse(raw);
  if (parsed.success) return parsed.data as Record<string, unknown>;
  const msgs = parsed.error.issues.map((i) => {
    const field = String(i.path[0] ?? "");
    const label = def.positional?.includes(field as never) ? `<${field}>` : `--${kebab(field)}`;
    return `${label}: ${i.message}`;
  });
  throw new TuneError(ErrorCode.InvalidOptions, `${msgs.join("\n")}\nUsage: ${usage(def, opts)}`);
}

export { z };
