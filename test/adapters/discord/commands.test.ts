/** The /tune payload against Discord's documented limits, interactions back to words, settings, and the deploy script. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, test } from "node:test";
import { z } from "zod";
import { registry } from "../../../commands/index.ts";
import { baseType, kebab, validateInput, wordsToInput } from "../../../commands/parse.ts";
import { defineCommand, type CommandDef } from "../../../commands/types.ts";
import {
  buildTuneCommand,
  COMMAND_CHARS_BUDGET,
  chatFields,
  commandChars,
  commandLayout,
  DESCRIPTION_CAPS,
  discordPath,
  findDef,
  interactionPath,
  interactionWords,
  OptionType,
  shorten,
  validateCommand,
  type InteractionOption,
  type SlashCommand,
  type SlashOption,
} from "../../../src/adapters/discord/commands.ts";
import { discordSettings } from "../../../src/adapters/discord/settings.ts";
import { isTuneError } from "../../../src/errors.ts";
import { commandProblems, startFakeDiscord } from "../../fakes/discord.ts";
import { repoRoot, testEnv, tmpDir } from "../../helpers.ts";

const sub = (cmd: SlashOption[] | undefined, ...names: string[]): SlashOption => {
  let level = cmd ?? [];
  let found: SlashOption | undefined;
  for (const n of names) {
    found = level.find((o) => o.name === n);
    assert.ok(found, `no ${names.join(" ")}`);
    level = found.options ?? [];
  }
  return found!;
};

describe("the /tune payload", () => {
  const cmd = buildTuneCommand();

  test("is within Discord's documented limits (names, descriptions, option and choice counts, nesting, size)", () => {
    assert.deepEqual(validateCommand(cmd), []);
    assert.deepEqual(
      commandProblems(cmd as unknown as Record<string, unknown>),
      [],
      "the fake's independent check agrees",
    );
    const walk = (opts: SlashOption[], depth: number) => {
      assert.ok(opts.length <= 25);
      for (const o of opts) {
        assert.match(o.name, /^[-_a-z0-9]{1,32}$/);
        assert.ok(o.description.length >= 1 && o.description.length <= 100, `${o.name}: ${o.description.length}`);
        assert.ok((o.choices?.length ?? 0) <= 25);
        if (o.type === OptionType.SubcommandGroup) assert.equal(depth, 0, "groups only at the top");
        if (o.options) walk(o.options, depth + 1);
      }
    };
    walk(cmd.options, 0);
    assert.equal(cmd.name, "tune");
    assert.equal(
      cmd.default_member_permissions,
      null,
      "Discord has no per-subcommand permissions: checked at run time",
    );
  });

  test("every registry command is there: groups for two-word paths, plain subcommands for one-word paths", () => {
    for (const def of registry) {
      const where = discordPath(def);
      const o = sub(cmd.options, ...where);
      assert.equal(o.type, OptionType.Subcommand, def.path.join(" "));
      if (where.length === 2) assert.equal(sub(cmd.options, where[0]).type, OptionType.SubcommandGroup);
      assert.equal(findDef(where), def, "and back");
      if (def.path.length === 1 && where.length === 2)
        assert.equal(where[1], "start", "a command whose word is also a group");
    }
    for (const one of ["help", "compare", "leaderboard", "demo", "hypothesis"]) {
      assert.equal(sub(cmd.options, one).type, OptionType.Subcommand);
    }
    // `eval` is also a group (`eval show`): the evaluation itself is `eval start`.
    assert.equal(sub(cmd.options, "eval", "start").type, OptionType.Subcommand);
    assert.equal(sub(cmd.options, "eval", "show").type, OptionType.Subcommand);
  });

  test("options are typed, required first, with choices, an attachment for uploads and autocomplete for names", () => {
    const upload = sub(cmd.options, "dataset", "upload").options!;
    assert.deepEqual(upload[0], { type: 11, name: "file", description: upload[0].description, required: true });
    assert.equal(upload.find((o) => o.name === "drop-bad-rows")?.type, OptionType.Boolean);
    const exp = sub(cmd.options, "dataset", "export").options!;
    assert.deepEqual(
      exp.find((o) => o.name === "format")?.choices?.map((c) => c.value),
      ["openai", "together", "alpaca"],
    );
    assert.equal(
      exp.find((o) => o.name === "out"),
      undefined,
      "a CLI-only option is left out",
    );
    const start = sub(cmd.options, "run", "start").options!;
    assert.deepEqual(
      start.slice(0, 2).map((o) => [o.name, o.required, o.autocomplete]),
      [
        ["dataset", true, true],
        ["experiment", true, true],
      ],
    );
    assert.equal(
      start.find((o) => o.name === "wait"),
      undefined,
    );
    const epochs = start.find((o) => o.name === "epochs");
    assert.deepEqual([epochs?.type, epochs?.min_value, epochs?.max_value], [OptionType.Integer, 1, 100]);
    assert.equal(start.find((o) => o.name === "lr")?.type, OptionType.Number);
    assert.equal(start.find((o) => o.name === "batch-size")?.type, OptionType.Integer);
    const cancel = sub(cmd.options, "run", "cancel").options![0];
    assert.deepEqual([cancel.type, cancel.autocomplete], [OptionType.Integer, true]);
    assert.equal(sub(cmd.options, "compare").options?.find((o) => o.name === "b")?.autocomplete, true);
    assert.ok((sub(cmd.options, "help").options?.[0].choices?.length ?? 0) > 3);
    for (const [path, name] of [
      [["dataset", "upload"], "name"],
      [["experiment", "new"], "name"],
    ] as const) {
      assert.ok(
        !sub(cmd.options, ...path).options?.find((o) => o.name === name)?.autocomplete,
        "a new name does not autocomplete",
      );
    }
  });

  test("the limits check catches what Discord refuses", () => {
    const bad = defineCommand({
      path: ["Bad", "thing"],
      summary: "x".repeat(120),
      options: z.object(Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`o${i}`, z.string().optional()]))),
      permission: "read",
      examples: [],
      handler: async () => ({ card: { blocks: [] }, data: null }),
    }) as unknown as CommandDef;
    const problems = validateCommand(buildTuneCommand({ defs: [bad] }));
    assert.ok(problems.some((p) => /name "Bad"/.test(p)));
    assert.ok(problems.some((p) => /26 options/.test(p)));
    const deep = { ...bad, path: ["a", "b", "c"] } as CommandDef;
    assert.throws(() => buildTuneCommand({ defs: [deep] }), /one group deep/);
    const order = validateCommand({
      ...buildTuneCommand({ defs: [] }),
      options: [
        {
          type: 1,
          name: "x",
          description: "x",
          options: [
            { type: 3, name: "a", description: "a" },
            { type: 3, name: "b", description: "b", required: true },
          ],
        },
      ],
    });
    assert.ok(order.some((p) => /required option after an optional/.test(p)));
  });
});

test("a registry too big for Discord's 8,000 characters gets shorter option descriptions, nothing else", () => {
  const defs = Array.from(
    { length: 12 },
    (_, c) =>
      defineCommand({
        path: ["group", `cmd${c}`],
        summary: `command ${c}`,
        options: z.object(
          Object.fromEntries(
            Array.from({ length: 10 }, (_, i) => [`opt${i}`, z.string().optional().describe("d".repeat(100))]),
          ),
        ),
        permission: "read",
        examples: [],
        handler: async () => ({ card: { blocks: [] }, data: null }),
      }) as unknown as CommandDef,
  );
  const cmd = buildTuneCommand({ defs });
  assert.deepEqual(validateCommand(cmd), []);
  assert.ok(commandChars(cmd) <= 8000);
  const opt = sub(cmd.options, "group", "cmd0").options![0];
  assert.ok(opt.description.length < 100 && opt.description.endsWith("…"));
  assert.equal(sub(cmd.options, "group", "cmd0").description, "command 0");
});

/**
 * Discord's count (developers/interactions/application-commands, "Slash commands"): "a maximum of 8000 characters
 * for combined name, description, and value properties for each command, its options (including subcommands and
 * groups), and choices"; with localizations, only the longest of each field counts. Written here on its own, from the
 * payload as sent, so it does not trust the code it checks.
 */
function discordSize(cmd: unknown): number {
  const chars = (s: unknown) => [...String(s ?? "")].length;
  const longest = (base: unknown, loc: unknown) =>
    Math.max(chars(base), ...Object.values((loc ?? {}) as Record<string, string>).map(chars));
  const walk = (o: Record<string, unknown>): number =>
    longest(o.name, o.name_localizations) +
    longest(o.description, o.description_localizations) +
    ((o.choices ?? []) as Array<Record<string, unknown>>).reduce(
      (n, c) => n + longest(c.name, c.name_localizations) + chars(c.value),
      0,
    ) +
    ((o.options ?? []) as Array<Record<string, unknown>>).reduce((n, x) => n + walk(x), 0);
  return walk(cmd as Record<string, unknown>);
}

/** Room /tune keeps below Discord's 8,000 for the commands still to come. */
const HEADROOM = 800;

test("/tune, counted as Discord counts it, is under 8,000 characters with room for more commands", (t) => {
  const cmd = JSON.parse(JSON.stringify(buildTuneCommand())) as SlashCommand;
  const size = discordSize(cmd);
  const subcommands = registry.length;
  t.diagnostic(
    `/tune: ${size} of Discord's 8,000 characters (${subcommands} subcommands; headroom ${8000 - size}, at least ${HEADROOM} kept)`,
  );
  assert.equal(commandChars(cmd), size, "the bot's own count agrees");
  assert.ok(size <= 8000 - HEADROOM, `${size} characters leaves less than ${HEADROOM} of headroom`);
  assert.ok(size <= COMMAND_CHARS_BUDGET);
  // Within the budget, nothing was cut further than each field's own cap: the last resort did not fire.
  for (const { def, path } of commandLayout()) {
    const s = sub(cmd.options, ...path);
    assert.equal(s.description, shorten(def.summary, DESCRIPTION_CAPS.command), path.join(" "));
    for (const o of s.options ?? []) {
      assert.ok(o.description.length <= DESCRIPTION_CAPS.option, `${path.join(" ")} ${o.name}: ${o.description}`);
      assert.ok(o.description.length >= Math.min(12, o.name.length), `${path.join(" ")} ${o.name}: ${o.description}`);
    }
  }
});

test("descriptions are shortened per field, the same every time: a new command changes no other command's text", () => {
  const extra = defineCommand({
    path: ["dataset", "extra"],
    summary: "An extra command with a long summary that runs well past the picker's single line of text.",
    options: z.object({ thing: z.string().describe("t".repeat(90)) }),
    permission: "read",
    examples: [],
    handler: async () => ({ card: { blocks: [] }, data: null }),
  }) as unknown as CommandDef;
  const before = buildTuneCommand();
  const after = buildTuneCommand({ defs: [...registry, extra] });
  for (const { path } of commandLayout()) {
    const a = sub(before.options, ...path);
    const b = sub(after.options, ...path);
    assert.equal(b.description, a.description, path.join(" "));
    assert.deepEqual(
      b.options?.map((o) => o.description),
      a.options?.map((o) => o.description),
    );
  }
  assert.equal(
    sub(after.options, "dataset", "extra").description,
    "An extra command with a long summary that runs well past…",
  );
  // cut at a clause outside brackets when one ends in the second half of the cap, else at a word, with "…"
  assert.equal(
    shorten("Upload a fine-tuning dataset (a .jsonl or .json file): validation, statistics, PII scan.", 60),
    "Upload a fine-tuning dataset (a .jsonl or .json file)",
  );
  assert.equal(
    shorten("Set an experiment's budget in USD (or none); shows what is spent.", 50),
    "Set an experiment's budget in USD (or none)",
  );
  assert.equal(
    shorten("Subscribe this channel to an experiment's (or all) runs, evals, costs and digests.", 60),
    "Subscribe this channel to an experiment's (or all) runs…",
  );
  assert.equal(
    shorten("Show a run with its progress (default: the latest), verdict and cost.", 52),
    "Show a run with its progress",
  );
  assert.equal(shorten("Short enough.", 60), "Short enough");
  for (const n of [20, 33, 54, 60]) assert.ok(shorten("word ".repeat(40), n).length <= n);
  assert.ok(shorten("x".repeat(200), 54).length <= 54);
});

describe("interactions back to words", () => {
  /** The interaction options Discord would send for a subcommand with these values. */
  const interaction = (words: string[], values: Record<string, string | number | boolean>): InteractionOption[] => {
    const cmd = buildTuneCommand();
    const leafDefs = sub(cmd.options, ...words).options ?? [];
    let options: InteractionOption[] = Object.entries(values).map(([name, value]) => {
      const d = leafDefs.find((o) => o.name === name);
      assert.ok(d, `no option ${name}`);
      return { name, type: d.type, value };
    });
    for (const w of [...words].reverse())
      options = [{ name: w, type: words.length === 2 && w === words[0] ? 2 : 1, options }];
    return options;
  };

  test("positional options in order, the rest as --kebab-case flags; the dispatcher parses them back", () => {
    const opts = interaction(["run", "start"], {
      dataset: "support@v2",
      experiment: "support",
      "batch-size": 8,
      yes: true,
      lr: 0.0002,
    });
    const { path, leaf } = interactionPath(opts);
    assert.deepEqual(path, ["run", "start"]);
    const def = findDef(path)!;
    const words = interactionWords(def, leaf);
    assert.deepEqual(words, [
      "run",
      "start",
      "support@v2",
      "--experiment=support",
      "--lr=0.0002",
      "--batch-size=8",
      "--yes=true",
    ]);
    const input = validateInput(def, wordsToInput(def, words.slice(2)));
    assert.deepEqual(
      [input.dataset, input.experiment, input.batchSize, input.yes, input.lr],
      ["support@v2", "support", 8, true, 0.0002],
    );
  });

  test("a value that looks like a flag, or one after a missing positional, goes as --name=value", () => {
    const def = findDef(["hypothesis"])!;
    const words = interactionWords(
      def,
      interactionPath(interaction(["hypothesis"], { experiment: "exp", text: "--more data helps", expect: "+5pts" }))
        .leaf,
    );
    assert.deepEqual(words, ["hypothesis", "exp", "--text=--more data helps", "--expect=+5pts"]);
    assert.equal(validateInput(def, wordsToInput(def, words.slice(1))).text, "--more data helps");
  });

  test("every command's options survive the round trip", () => {
    for (const def of registry) {
      const values: Record<string, string | number | boolean> = {};
      const expected: Record<string, unknown> = {};
      for (const [field, schema] of chatFields(def)) {
        const t = baseType(schema);
        const v =
          t === "boolean"
            ? true
            : t === "number"
              ? 3
              : t === "enum"
                ? (sub(buildTuneCommand().options, ...def.path).options?.find((o) => o.name === kebab(field))
                    ?.choices?.[0].value as string)
                : `v-${field}`;
        values[kebab(field)] = v;
        expected[field] = t === "array" ? [v] : t === "number" ? "3" : v;
      }
      const words = interactionWords(def, interactionPath(interaction(discordPath(def), values)).leaf);
      assert.deepEqual(words.slice(0, def.path.length), def.path);
      assert.deepEqual(wordsToInput(def, words.slice(def.path.length)), expected, def.path.join(" "));
    }
  });
});

describe("settings", () => {
  test("null without DISCORD_TOKEN; parsed with it", () => {
    assert.equal(discordSettings({}), null);
    assert.equal(discordSettings({ DISCORD_TOKEN: "  " }), null);
    const s = discordSettings({
      DISCORD_TOKEN: "x".repeat(40),
      DISCORD_APPLICATION_ID: "123456789012345678",
      DISCORD_GUILD_ID: "223456789012345678",
      DISCORD_API_URL: "http://127.0.0.1:9/api/",
      DISCORD_WATCH_CHANNELS: "323456789012345678, 423456789012345678",
    });
    assert.deepEqual(s, {
      token: "x".repeat(40),
      applicationId: "123456789012345678",
      guildId: "223456789012345678",
      apiUrl: "http://127.0.0.1:9/api",
      watchChannels: ["323456789012345678", "423456789012345678"],
    });
  });

  test("a bad value is a TuneError naming the setting, never echoing the token", () => {
    const token = "secret-token-value-that-is-long-enough";
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /DISCORD_APPLICATION_ID=null: is required/],
      [{ DISCORD_APPLICATION_ID: "abc" }, /DISCORD_APPLICATION_ID="abc": must be a Discord id/],
      [{ DISCORD_APPLICATION_ID: "123456789012345678", DISCORD_API_URL: "discord.com" }, /DISCORD_API_URL/],
      [{ DISCORD_APPLICATION_ID: "123456789012345678", DISCORD_WATCH_CHANNELS: "general" }, /DISCORD_WATCH_CHANNELS/],
    ];
    for (const [env, re] of cases) {
      try {
        discordSettings({ DISCORD_TOKEN: token, ...env });
        assert.fail("accepted");
      } catch (err) {
        assert.ok(isTuneError(err), String(err));
        assert.equal(err.code, "config_invalid");
        assert.match(err.message, re);
        assert.ok(!err.message.includes(token));
      }
    }
    assert.throws(
      () => discordSettings({ DISCORD_TOKEN: "short", DISCORD_APPLICATION_ID: "123456789012345678" }),
      /DISCORD_TOKEN=\(hidden\)/,
    );
  });
});

describe("npm run discord:deploy", () => {
  test("registers /tune in the guild through the REST API", async () => {
    const fake = await startFakeDiscord();
    try {
      const env = {
        ...testEnv(tmpDir("deploy")),
        DISCORD_TOKEN: fake.token,
        DISCORD_APPLICATION_ID: fake.applicationId,
        DISCORD_GUILD_ID: fake.guildId,
        DISCORD_API_URL: fake.apiUrl,
      };
      const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        // Run from an empty folder: no developer's .env is read.
        const tsx = pathToFileURL(path.join(repoRoot, "node_modules/tsx/dist/loader.mjs")).href;
        const child = spawn(
          process.execPath,
          ["--import", tsx, path.join(repoRoot, "src/adapters/discord/deploy.ts")],
          { cwd: tmpDir("cwd"), env },
        );
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(out.code, 0, out.stderr);
      assert.match(
        out.stdout,
        new RegExp(`Registered /tune with ${registry.length} subcommands in server ${fake.guildId}`),
      );
      assert.match(out.stdout, /\/tune dataset upload/);
      assert.equal(fake.commandsScope, `guild:${fake.guildId}`);
      const put = fake.requests.find((r) => r.method === "PUT");
      assert.equal(put?.authorization, `Bot ${fake.token}`);
      assert.ok(!out.stdout.includes(fake.token) && !out.stderr.includes(fake.token));
    } finally {
      await fake.close();
    }
  });
});
