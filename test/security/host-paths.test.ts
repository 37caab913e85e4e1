/**
 * Host paths are for the CLI and the console only, by construction: the registry declares which options name host
 * paths, a context without host access (every chat surface, and a schedule's fire) cannot pass them in any
 * disguise, an attachment cannot be made from a path by a chat adapter, and the chat adapters' code never reaches
 * for host access.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { HostAccess, receiveUpload } from "../../commands/attachments.ts";
import { runCommand } from "../../commands/dispatch.ts";
import { registry } from "../../commands/index.ts";
import { splitWords } from "../../commands/parse.ts";
import type { CommandContext, Surface } from "../../commands/types.ts";
import { buildTuneCommand, chatFields } from "../../src/adapters/discord/commands.ts";
import type { App } from "../../src/app.ts";
import { LocalProvider } from "../../src/providers/local/provider.ts";
import { engineApp, writeTask } from "../engine/engine-helpers.ts";
import { repoRoot, tmpDir } from "../helpers.ts";

const MARKER = "HOSTSECRET-unit-DO-NOT-LEAK";

describe("host paths", () => {
  let app: App;
  let dir: string;
  let hostFile: string;

  before(async () => {
    ({ app } = await engineApp());
    dir = tmpDir("host");
    hostFile = path.join(dir, "host.jsonl");
    fs.writeFileSync(hostFile, `${MARKER}\n`);
    await app.datasets.upload({ filePath: writeTask(dir, 30), filename: "task.jsonl", name: "task" });
  });
  after(() => app.close());

  const ctx = (surface: Surface, extra: Partial<CommandContext> = {}): CommandContext =>
    ({ app, user: { id: "U1", name: "u" }, channelId: "C1", surface, progress: () => {}, ...extra }) as CommandContext;

  test("the registry declares its host-path options, and chat never sees them", () => {
    const declared = registry.filter((d) => d.hostPaths && Object.keys(d.hostPaths).length);
    assert.ok(declared.some((d) => d.path.join(" ") === "dataset export" && d.hostPaths?.out));
    for (const def of registry) {
      const fields = chatFields(def).map(([f]) => f);
      for (const f of Object.keys(def.hostPaths ?? {})) assert.ok(!fields.includes(f), `${def.path.join(" ")} --${f}`);
    }
    const json = JSON.stringify(buildTuneCommand());
    assert.ok(!/"name":"out"/.test(json), "the deployed /tune has no --out");
  });

  test("chat's help and usage lines leave host-path options out; the CLI's show them", async () => {
    const usageOf = (o: Awaited<ReturnType<typeof runCommand>>) =>
      (o.data as Array<{ command: string; usage: string }>).find((d) => d.command === "dataset export")?.usage ?? "";
    const chat = await runCommand(["help", "dataset"], ctx("slack"));
    assert.equal(usageOf(chat), "/tune dataset export <dataset> [--format <format>]");
    const cli = await runCommand(["help", "dataset"], ctx("cli", { host: HostAccess.forTerminal("cli") }));
    assert.match(usageOf(cli), /--out <out>/);
    const unknown = await runCommand(["dataset", "export", "task", "--bogus"], ctx("discord"));
    assert.ok(!/--out/.test(unknown.error?.message ?? ""), unknown.error?.message);
  });

  const attempts = (file: string, out: string) => [
    `dataset upload --file ${file}`,
    `dataset upload x --file=${file}`,
    `dataset upload x '--file' '${file}'`,
    `dataset upload x --File ${file}`,
    `dataset upload x \u2013\u2013file ${file}`, // en dashes
    `dataset upload x \u2014file ${file}`, // em dash
    `dataset upload x \uff0d\uff0dfile ${file}`, // fullwidth hyphens
    `dataset upload x --\u2060FILE=${file}`, // a word joiner inside
    `dataset upload x -file ${file}`,
    `dataset upload ${file}`, // the CLI's form: a path where the name goes
    `dataset upload ~/.ssh/id_rsa`,
    `dataset export task --out ${out}`,
    `dataset export task --out=${out}`,
    `dataset export task --\u200bout ${out}`,
  ];

  for (const surface of ["slack", "discord"] as const) {
    test(`${surface}: every disguise of a host path is refused with a coded error naming the option`, async () => {
      const out = path.join(dir, `evil-${surface}.jsonl`);
      for (const line of attempts(hostFile, out)) {
        const o = await runCommand(splitWords(line), ctx(surface));
        assert.equal(o.error?.code, "host_path_refused", `${line}: ${o.error?.message}`);
        const msg = o.error?.message ?? "";
        assert.match(msg, /--file|--out|<name>/, line);
        assert.match(msg, /upload|attach|attached to the reply/i, line);
        assert.ok(!JSON.stringify(o).includes(MARKER), line);
      }
      assert.ok(!fs.existsSync(out));
      assert.ok(!app.datasets.names().includes("x") && !app.datasets.names().includes("host"));
    });
  }

  test("a schedule's fire (bot rights, chat words) has no host access either", async () => {
    const out = path.join(dir, "evil-schedule.jsonl");
    const o = await runCommand(["dataset", "export", "task", "--out", out], ctx("cli"));
    assert.equal(o.error?.code, "host_path_refused");
    assert.ok(!fs.existsSync(out));
  });

  test("the CLI and the console name host paths through their host access", async () => {
    const out = path.join(dir, "export.jsonl");
    const cli = await runCommand(
      ["dataset", "export", "task", "--out", out],
      ctx("cli", { host: HostAccess.forTerminal("cli") }),
    );
    assert.equal(cli.exitCode, 0, cli.error?.message);
    assert.equal(fs.readFileSync(out, "utf8").split("\n").filter(Boolean).length, 30);
    const up = await runCommand(
      ["dataset", "upload", "--file", writeTask(tmpDir("t"), 12), "--name", "console-up"],
      ctx("console", { host: HostAccess.forTerminal("console") }),
    );
    assert.equal(up.exitCode, 0, up.error?.message);
    assert.equal(app.datasets.get("console-up").rows, 12);
    assert.throws(() => HostAccess.forTerminal("slack" as never), /CLI and the console/);
  });

  test("a chat upload is a file the bot downloaded into its own temporary folder", async () => {
    const att = await receiveUpload(app.blobs, "../../etc/mine.jsonl", async (dest) => {
      fs.writeFileSync(dest, fs.readFileSync(writeTask(tmpDir("u"), 15)));
    });
    assert.equal(att.filename, "mine.jsonl", "a name, never a path");
    assert.equal(path.dirname(att.path), path.join(app.config.dataDir, "tmp"));
    const o = await runCommand(["dataset", "upload", "uploaded"], ctx("slack", { attachment: att }));
    assert.equal(o.exitCode, 0, o.error?.message);
    att.discard();
    assert.ok(!fs.existsSync(att.path));
    // A failed download leaves nothing behind.
    await assert.rejects(
      receiveUpload(app.blobs, "half.jsonl", async (dest) => {
        fs.writeFileSync(dest, "half");
        throw new Error("connection reset");
      }),
      /connection reset/,
    );
    assert.deepEqual(fs.readdirSync(path.join(app.config.dataDir, "tmp")), []);
  });

  test("an attachment made up from a path (not by receiveUpload or host access) is never read", async () => {
    const forged = { filename: "passwd", path: hostFile, origin: "upload" };
    const o = await runCommand(["dataset", "upload", "forged"], ctx("slack", { attachment: forged as never }));
    assert.equal(o.exitCode, 2);
    assert.ok(!JSON.stringify(o).includes(MARKER));
    assert.ok(!app.datasets.names().includes("forged"));
  });

  test("a model reference never names a folder on the host (local:/etc, local:~/x, judge:local:../x)", async () => {
    // `local:<folder>` used to load an adapter from any folder, and answered differently for folders that exist
    const refs = [`local:${dir}`, "local:/etc", "local:~/models", "local:./data", "local:../../x", "local:C:\\x"];
    for (const surface of ["slack", "discord", "cli"] as const) {
      for (const ref of refs) {
        const extra = surface === "cli" ? { host: HostAccess.forTerminal("cli") } : {};
        const o = await runCommand(["eval", ref, "task"], ctx(surface, extra));
        assert.equal(o.error?.code, "host_path_refused", `${surface} ${ref}: ${o.error?.message}`);
        assert.match(
          o.error?.message ?? "",
          /names a folder; a model is provider:model \(e\.g\. local:stories260K\) or run:N/,
        );
        const p = await runCommand(["pack", "run", "refusal", "local:stories260K", "--base", ref], ctx(surface, extra));
        assert.equal(p.error?.code, "host_path_refused", `pack run --base ${ref}`);
      }
    }
    const judge = await runCommand(
      ["eval", "local:stories260K", "task", "--graders", `judge:local:${dir}`],
      ctx("slack"),
    );
    assert.equal(judge.error?.code, "host_path_refused", judge.error?.message);
    // the local provider itself loads only an adapter folder given whole (a run's), never one relative to the bot's cwd
    const local = new LocalProvider({ cacheDir: tmpDir("cache") });
    assert.equal(local.inference("data", "local:data"), null);
    assert.equal(local.inference(".", "local:."), null);
    assert.ok(local.inference("stories260K", "local:stories260K"));
  });

  test("the chat adapters' code never reaches for host access", () => {
    const files = (d: string): string[] =>
      fs
        .readdirSync(d, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? files(path.join(d, e.name)) : [path.join(d, e.name)]));
    for (const d of ["src/adapters/slack", "src/adapters/discord"]) {
      for (const f of files(path.join(repoRoot, d)).filter((x) => x.endsWith(".ts"))) {
        const src = fs.readFileSync(f, "utf8");
        assert.ok(!/\bHostAccess\b/.test(src), `${path.relative(repoRoot, f)} uses HostAccess`);
        assert.ok(!/\bhost\s*:/.test(src), `${path.relative(repoRoot, f)} sets a context's host`);
      }
    }
  });
});
