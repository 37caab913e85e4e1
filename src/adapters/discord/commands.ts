/**
 * The /tune slash command, built from the command registry, and the way back from an interaction to the words
 * the dispatcher runs.
 *
 * - Two-word paths ("dataset upload") become subcommands of a subcommand group; one-word paths ("help",
 *   "compare") plain subcommands of /tune, unless the word is also a group ("sweep" next to "sweep status"):
 *   then the command is `start` in that group (/tune sweep start), as Discord cannot have both.
 * - Options are typed from the zod schema (string, integer, number, boolean; enums as choices), named in
 *   kebab-case (Discord names are lowercase), required ones first (Discord refuses a required option after an
 *   optional one). A command that takes a file gets an attachment option (type 11) named `file`.
 * - Dataset, experiment, run and model options autocomplete.
 * - Options that name a path on the bot's host (the registry's `hostPaths`, e.g. dataset export --out) are left out,
 *   and so are other options for the terminal only (their description starts with "CLI"). An interaction that
 *   carries a host-path option anyway (a forged or stale client) is refused by the parser, naming the option.
 *
 * Limits (https://discord.com/developers/docs/interactions/application-commands#application-command-object):
 * names match ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$ in lowercase, descriptions 1-100, at most 25 options
 * (subcommands and groups count as options) and 25 choices, choice names and values 1-100, required options before
 * optional ones, subcommand groups nest one level, and names, descriptions and choice values of the whole command
 * add up to at most 8,000 characters.
 *
 * Permissions: Discord's `default_member_permissions` exists only on the top-level command, never on a
 * subcommand, so it cannot single out the spending subcommands of /tune. /tune is open to every member
 * (`default_member_permissions: null`, server admins can narrow it under Server Settings > Integrations), and every
 * subcommand and button is checked by commands/permissions.ts (TUNELOOP_SPENDERS, TUNELOOP_ADMINS,
 * TUNELOOP_RUN_CHANNELS) before it runs, so a member without the role is refused with who may do it.
 */
import type { z } from "zod";
import { registry } from "../../../commands/index.ts";
import { completeKindOf } from "../../chat/complete.ts";
import { baseType, hostPathOptions, kebab } from "../../../commands/parse.ts";
import type { CommandDef } from "../../../commands/types.ts";

export const ROOT = "tune";

/** Discord's application command option types. */
export const OptionType = {
  Subcommand: 1,
  SubcommandGroup: 2,
  String: 3,
  Integer: 4,
  Boolean: 5,
  Number: 10,
  Attachment: 11,
} as const;

export interface SlashChoice {
  name: string;
  value: string | number;
}

export interface SlashOption {
  type: number;
  name: string;
  description: string;
  required?: boolean;
  choices?: SlashChoice[];
  autocomplete?: boolean;
  min_value?: number;
  max_value?: number;
  options?: SlashOption[];
}

export interface SlashCommand {
  name: string;
  description: string;
  type: 1;
  options: SlashOption[];
  default_member_permissions: string | null;
  /** 0: guild. The bot's commands need a server (roles, channels, threads). */
  contexts: number[];
  integration_types: number[];
}

export const ATTACHMENT_OPTION = "file";

const NAME_RE = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
export const MAX_COMMAND_CHARS = 8000;

/**
 * Caps on what Discord shows of the registry's wording. A subcommand's description is its line in the command
 * picker (which shows about one line of it anyway), an option's the hint under the field being filled. Each field is
 * capped on its own, so adding a command never changes another command's text. The registry keeps the full wording
 * for /tune help, Slack and the CLI.
 */
export const DESCRIPTION_CAPS = { command: 60, option: 54 } as const;

/**
 * What /tune may take of Discord's 8,000 characters: the rest is headroom, so the next few commands fit without
 * shortening anything further. A test measures /tune against it (test/adapters/discord/commands.test.ts).
 */
export const COMMAND_CHARS_BUDGET = 7200;

/** At `i` a bracketed aside starts (" (") that ends the clause: nothing after it, or a clause mark. */
function trailingAside(s: string, i: number): boolean {
  if (s[i] !== " " || s[i + 1] !== "(") return false;
  const close = s.indexOf(")", i);
  return close > 0 && (close === s.length - 1 || /^[:;,.]/.test(s.slice(close + 1)));
}

/**
 * A description within `max` characters, the same every time: whole when it fits, else cut at the last clause
 * boundary outside brackets (": ", "; ", " — ", or before an aside in brackets that ends its clause) in the second
 * half of the cap, else at the last word with "…".
 * A trailing full stop is dropped (Discord's own descriptions have none).
 */
export function shorten(text: string, max: number): string {
  const s = text.trim().replace(/\.$/, "");
  if (s.length <= max) return s;
  let depth = 0;
  let clause = -1;
  for (let i = 0; i < s.length && i <= max; i++) {
    const c = s[i];
    const boundary =
      depth === 0 &&
      i >= max / 2 &&
      (((c === ":" || c === ";") && s[i + 1] === " ") || (c === " " && s[i + 1] === "—") || trailingAside(s, i));
    if (boundary) clause = i;
    if (c === "(" || c === "[") depth++;
    else if ((c === ")" || c === "]") && depth > 0) depth--;
  }
  if (clause > 0) return s.slice(0, clause);
  let cut = s.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  if (space >= max / 2) cut = cut.slice(0, space);
  return `${cut.replace(/[\s,;:(—-]+$/, "")}…`;
}

interface NumberBounds {
  isInt?: boolean;
  minValue?: number | null;
  maxValue?: number | null;
}

/** The innermost schema of a field (through optional/default/nullable/pipe wrappers). */
function inner(schema: z.ZodType): z.ZodType {
  let s = schema as unknown as { _zod: { def: { type: string; innerType?: unknown; in?: unknown } } };
  for (let i = 0; i < 10; i++) {
    const d = s._zod.def;
    if (d.innerType) s = d.innerType as typeof s;
    else if (d.type === "pipe" && d.in) s = d.in as typeof s;
    else break;
  }
  return s as unknown as z.ZodType;
}

function enumValues(schema: z.ZodType): string[] {
  const s = inner(schema) as unknown as { options?: unknown[] };
  return (s.options ?? []).map(String);
}

const isRequired = (schema: z.ZodType) => !schema.safeParse(undefined).success;

/** Chat has no use for options that only the terminal has (writing files, blocking until done). */
export const chatOnly = (schema: z.ZodType) => !/^CLI\b/.test(schema.description ?? "");

/** The fields of a command as Discord sees them: positional ones first, in order, then the rest; no host paths. */
export function chatFields(def: CommandDef): Array<[field: string, schema: z.ZodType]> {
  const shape = def.options.shape as Record<string, z.ZodType>;
  const positional = (def.positional ?? []) as string[];
  const rest = Object.keys(shape).filter((k) => !positional.includes(k));
  const hostPaths = hostPathOptions(def);
  return [...positional, ...rest].filter((k) => chatOnly(shape[k]) && !hostPaths.has(k)).map((k) => [k, shape[k]]);
}

function optionFor(def: CommandDef, field: string, schema: z.ZodType): SlashOption {
  const type = baseType(schema);
  const opt: SlashOption = {
    type: OptionType.String,
    name: kebab(field),
    description: shorten(schema.description ?? field, DESCRIPTION_CAPS.option),
  };
  if (isRequired(schema)) opt.required = true;
  if (type === "boolean") opt.type = OptionType.Boolean;
  else if (type === "number") {
    const n = inner(schema) as unknown as NumberBounds;
    opt.type = n.isInt ? OptionType.Integer : OptionType.Number;
    if (typeof n.minValue === "number" && Number.isFinite(n.minValue) && n.minValue > Number.MIN_SAFE_INTEGER)
      opt.min_value = n.minValue;
    if (typeof n.maxValue === "number" && Number.isFinite(n.maxValue) && n.maxValue < Number.MAX_SAFE_INTEGER)
      opt.max_value = n.maxValue;
  } else if (type === "enum") {
    opt.choices = enumValues(schema)
      .slice(0, 25)
      .map((v) => ({ name: v, value: v }));
  } else if (def.path[0] === "help" && field === "group") {
    const groups = [...new Set(registry.map((d) => d.path[0]))].filter((g) => g !== "help");
    opt.choices = groups.slice(0, 25).map((g) => ({ name: g, value: g }));
  }
  const kind = completeKindOf(def, field);
  if (kind && !opt.choices && opt.type !== OptionType.Boolean) opt.autocomplete = true;
  return opt;
}

/** The options of one subcommand: the file first when the command needs one, required before optional. */
export function subcommandOptions(def: CommandDef): SlashOption[] {
  const opts = chatFields(def).map(([field, schema]) => optionFor(def, field, schema));
  if (def.attachment) {
    opts.unshift({
      type: OptionType.Attachment,
      name: ATTACHMENT_OPTION,
      description: shorten(def.attachmentDescription ?? "the dataset file (.jsonl or .json)", DESCRIPTION_CAPS.option),
      required: def.attachment === "required",
    });
  }
  // Stable: keeps the positional order within the required and the optional ones.
  return [...opts.filter((o) => o.required), ...opts.filter((o) => !o.required)];
}

const GROUP_DESCRIPTIONS: Record<string, string> = {
  dataset: "Datasets: upload, inspect, split, compare and export training data",
  experiment: "Experiments: a frozen eval set, a metric, baselines and a budget",
  run: "Runs: start, confirm, cancel and follow fine-tunes",
};

/** The subcommand a one-word command gets when its word is also a group ("sweep" next to "sweep status"). */
const GROUP_OWN_NAMES = ["start", "run", "go"];

/**
 * Where each command sits in /tune. Discord cannot have /tune sweep both as a subcommand and as a group, so a
 * one-word command whose word is also a group's moves into the group as `start` (/tune sweep start <experiment>).
 */
export function commandLayout(defs: CommandDef[] = registry): Array<{ def: CommandDef; path: string[] }> {
  const groups = new Map<string, Set<string>>();
  for (const d of defs) {
    if (d.path.length > 2) throw new Error(`/tune ${d.path.join(" ")}: Discord nests subcommands one group deep`);
    if (d.path.length === 2) groups.set(d.path[0], (groups.get(d.path[0]) ?? new Set()).add(d.path[1]));
  }
  return defs.map((def) => {
    const taken = groups.get(def.path[0]);
    if (def.path.length === 1 && taken) {
      const own = GROUP_OWN_NAMES.find((n) => !taken.has(n));
      if (!own) throw new Error(`/tune ${def.path[0]}: no free subcommand name for the command itself`);
      return { def, path: [def.path[0], own] };
    }
    return { def, path: def.path };
  });
}

/** The /tune words Discord shows for a command (usually its own path). */
export function discordPath(def: CommandDef, defs: CommandDef[] = registry): string[] {
  return commandLayout(defs).find((l) => l.def === def)?.path ?? def.path;
}

export interface BuildOptions {
  /** A permission bit set (a decimal string) members need to see /tune at all; default null: everyone. */
  defaultMemberPermissions?: string | null;
  defs?: CommandDef[];
}

/** The /tune command as Discord's API takes it (PUT /applications/{id}/commands). */
export function buildTuneCommand(opts: BuildOptions = {}): SlashCommand {
  const layout = commandLayout(opts.defs ?? registry);
  const options: SlashOption[] = [];
  const groups = new Map<string, SlashOption>();
  for (const { def, path } of layout) {
    const sub: SlashOption = {
      type: OptionType.Subcommand,
      name: path[path.length - 1],
      description: shorten(def.summary, DESCRIPTION_CAPS.command),
      options: subcommandOptions(def),
    };
    if (path.length === 1) {
      options.push(sub);
      continue;
    }
    let group = groups.get(path[0]);
    if (!group) {
      group = { type: OptionType.SubcommandGroup, name: path[0], description: "", options: [] };
      groups.set(path[0], group);
      options.push(group);
    }
    group.options!.push(sub);
  }
  for (const [name, g] of groups) {
    const subs = (g.options ?? []).map((o) => o.name).join(", ");
    g.description = shorten(
      GROUP_DESCRIPTIONS[name] ?? `${name[0].toUpperCase()}${name.slice(1)}: ${subs}`,
      DESCRIPTION_CAPS.command,
    );
  }
  const cmd: SlashCommand = {
    name: ROOT,
    description: "Fine-tune, evaluate and compare models: datasets, experiments, runs, evals",
    type: 1,
    options,
    default_member_permissions: opts.defaultMemberPermissions ?? null,
    contexts: [0],
    integration_types: [0],
  };
  fitSize(cmd);
  return cmd;
}

/**
 * Characters Discord counts against MAX_COMMAND_CHARS: "combined name, description, and value properties for each
 * command, its options (including subcommands and groups), and choices" (application-commands#slash-commands; with
 * localizations, the longest of each field: /tune has none). Counted in code points.
 */
export function commandChars(cmd: SlashCommand): number {
  let n = 0;
  const len = (s: string) => [...s].length;
  const walk = (o: { name: string; description: string; choices?: SlashChoice[]; options?: SlashOption[] }) => {
    n += len(o.name) + len(o.description);
    for (const c of o.choices ?? []) n += len(c.name) + len(String(c.value));
    for (const x of o.options ?? []) walk(x);
  };
  walk(cmd);
  return n;
}

/**
 * The last resort, should the registry outgrow COMMAND_CHARS_BUDGET and Discord's 8,000 before anyone splits /tune:
 * shorter option descriptions (never names or subcommand descriptions) until it fits, so a deploy never fails on size.
 */
function fitSize(cmd: SlashCommand) {
  const leaves: SlashOption[] = [];
  const collect = (opts: SlashOption[]) => {
    for (const o of opts) {
      if (o.options) collect(o.options);
      if (o.type !== OptionType.Subcommand && o.type !== OptionType.SubcommandGroup) leaves.push(o);
    }
  };
  collect(cmd.options);
  for (let max = DESCRIPTION_CAPS.option - 5; max >= 20 && commandChars(cmd) > MAX_COMMAND_CHARS; max -= 5) {
    for (const o of leaves) o.description = shorten(o.description, max);
  }
}

/** Every way the payload breaks Discord's documented limits (empty when it is valid). */
export function validateCommand(cmd: SlashCommand): string[] {
  const problems: string[] = [];
  let chars = 0;
  const checkName = (where: string, name: string) => {
    chars += name.length;
    if (!NAME_RE.test(name) || name !== name.toLowerCase())
      problems.push(`${where}: name "${name}" must be 1-32 lowercase letters, digits, - or _`);
  };
  const checkDesc = (where: string, d: string) => {
    chars += d.length;
    if (d.length < 1 || d.length > 100) problems.push(`${where}: description has ${d.length} characters (1-100)`);
  };
  const walk = (where: string, options: SlashOption[], depth: number) => {
    if (options.length > 25) problems.push(`${where}: ${options.length} options (at most 25)`);
    const names = new Set<string>();
    let optionalSeen = false;
    for (const o of options) {
      const at = `${where} ${o.name}`;
      checkName(at, o.name);
      checkDesc(at, o.description);
      if (names.has(o.name)) problems.push(`${at}: duplicate name`);
      names.add(o.name);
      const isSub = o.type === OptionType.Subcommand || o.type === OptionType.SubcommandGroup;
      if (isSub) {
        if (
          depth === 0 &&
          o.type === OptionType.Subcommand &&
          options.some((x) => x.type !== OptionType.Subcommand && x.type !== OptionType.SubcommandGroup)
        ) {
          problems.push(`${where}: subcommands cannot be mixed with plain options`);
        }
        if (o.type === OptionType.SubcommandGroup) {
          if (depth > 0) problems.push(`${at}: subcommand groups nest only one level`);
          if (!o.options?.length || o.options.some((x) => x.type !== OptionType.Subcommand))
            problems.push(`${at}: a group holds subcommands only`);
        }
        if (
          o.type === OptionType.Subcommand &&
          o.options?.some((x) => x.type === OptionType.Subcommand || x.type === OptionType.SubcommandGroup)
        ) {
          problems.push(`${at}: a subcommand cannot hold subcommands`);
        }
        walk(at, o.options ?? [], depth + 1);
        continue;
      }
      if (o.required && optionalSeen) problems.push(`${at}: a required option after an optional one`);
      if (!o.required) optionalSeen = true;
      if (o.choices) {
        if (o.choices.length > 25) problems.push(`${at}: ${o.choices.length} choices (at most 25)`);
        if (o.autocomplete) problems.push(`${at}: choices and autocomplete exclude each other`);
        for (const c of o.choices) {
          chars += c.name.length + String(c.value).length;
          if (c.name.length < 1 || c.name.length > 100)
            problems.push(`${at}: choice name "${c.name}" (1-100 characters)`);
          if (typeof c.value === "string" && c.value.length > 100)
            problems.push(`${at}: choice value over 100 characters`);
        }
      }
      if (
        o.autocomplete &&
        ![OptionType.String, OptionType.Integer, OptionType.Number].includes(o.type as 3 | 4 | 10)
      ) {
        problems.push(`${at}: only string, integer and number options autocomplete`);
      }
      for (const bound of [o.min_value, o.max_value]) {
        if (bound !== undefined && Math.abs(bound) > 2 ** 53) problems.push(`${at}: bound ${bound} outside ±2^53`);
      }
    }
  };
  checkName("/", cmd.name);
  checkDesc("/", cmd.description);
  walk(`/${cmd.name}`, cmd.options, 0);
  if (chars > MAX_COMMAND_CHARS)
    problems.push(
      `/${cmd.name}: ${chars} characters of names, descriptions and choices (at most ${MAX_COMMAND_CHARS})`,
    );
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// From an interaction back to words.

/** The options of an interaction as the gateway sends them (discord.js CommandInteractionOption is compatible). */
export interface InteractionOption {
  name: string;
  type: number;
  value?: string | number | boolean;
  focused?: boolean;
  options?: readonly InteractionOption[];
}

/** The command path and the leaf options of a /tune interaction. */
export function interactionPath(options: readonly InteractionOption[]): {
  path: string[];
  leaf: readonly InteractionOption[];
} {
  const path: string[] = [];
  let leaf = options;
  for (;;) {
    const sub = leaf.find((o) => o.type === OptionType.Subcommand || o.type === OptionType.SubcommandGroup);
    if (!sub) break;
    path.push(sub.name);
    leaf = sub.options ?? [];
  }
  return { path, leaf };
}

/** The command at a /tune path as Discord sends it. */
export function findDef(path: string[], defs: CommandDef[] = registry): CommandDef | null {
  return (
    commandLayout(defs).find((l) => l.path.length === path.length && l.path.every((w, i) => w === path[i]))?.def ?? null
  );
}

/**
 * The words for runCommand: the command path, positional options in order (while none is missing and the value
 * cannot be mistaken for a flag), the others as --kebab-case=value (so a value may hold anything, even "--").
 * An option that names a host path (never deployed, so a forged or stale client) is passed on as such, for the
 * parser to refuse with its name; the attachment option (type 11) is the upload, not a word.
 */
export function interactionWords(def: CommandDef, leaf: readonly InteractionOption[]): string[] {
  const byName = new Map(leaf.map((o) => [o.name, o]));
  const words = [...def.path];
  const flags: string[] = [];
  const positional = (def.positional ?? []) as string[];
  let inOrder = true;
  for (const [field, schema] of chatFields(def)) {
    const o = byName.get(kebab(field));
    const isPositional = positional.includes(field);
    if (!o || o.value === undefined) {
      if (isPositional) inOrder = false;
      continue;
    }
    if (baseType(schema) === "boolean" || typeof o.value === "boolean") {
      flags.push(`--${kebab(field)}=${o.value ? "true" : "false"}`);
      continue;
    }
    const value = String(o.value);
    if (isPositional && inOrder && !value.startsWith("-")) words.push(value);
    else {
      if (isPositional) inOrder = false;
      flags.push(`--${kebab(field)}=${value}`);
    }
  }
  for (const field of hostPathOptions(def).keys()) {
    const o = byName.get(kebab(field));
    if (o && o.type !== OptionType.Attachment && o.value !== undefined)
      flags.push(`--${kebab(field)}=${String(o.value)}`);
  }
  return [...words, ...flags];
}
