/**
 * The README and docs/together.md, followed as a new user follows them: in a fresh-clone-like copy of the
 * repository (its files, node_modules installed, `../shared` beside it), every documented `npx tuneloop` command is
 * run exactly as written. The README's lines go through a shell, where `npx tuneloop` resolves to this package's own
 * bin (the process smoke tests of the docs); `--json` output piped into jq must be JSON (and equal the sample shown
 * under it); the console session shown must be what `npm start` prints. The Together walkthrough runs end to end
 * against the Together fake, each line split as a shell splits it and run in this process through the CLI's main
 * (runDocLine), from the clone, without a node and npm start per line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { REHEARSAL_KEY, startRehearsal } from "../fakes/serve-together.ts";
import type { FakeTogether } from "../fakes/together.ts";
import { type Block, codeBlocks, runDocLine } from "../markdown.ts";
import { repoRoot, runProcess, sharedDir, tmpDir } from "../helpers.ts";

const CLONED = [
  "package.json",
  "package-lock.json",
  "bin",
  "src",
  "commands",
  "db",
  "docs",
  "README.md",
  ".env.example",
];

/**
 * A copy of the repository as `git clone && npm ci` leaves it, with `../shared` next to it. Times are kept, so the
 * build in bin/dist is as current as `npm ci`'s prepare leaves it (copied with new times, the sources copied after
 * bin/ would look newer and the first command would build again).
 */
function freshClone(label: string): string {
  const root = tmpDir(label);
  const repo = path.join(root, "tuneloop");
  for (const e of [...CLONED, "tsconfig.json"])
    fs.cpSync(path.join(repoRoot, e), path.join(repo, e), { recursive: true, preserveTimestamps: true });
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(repo, "node_modules"), "dir");
  fs.symlinkSync(sharedDir, path.join(root, "shared"), "dir");
  return repo;
}

/** A user's shell: none of this machine's tuneloop or provider settings, no chat platform. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", TUNELOOP_CONSOLE_USER: "you", ...extra };
  for (const k of Object.keys(env)) {
    if (/^(TUNELOOP_|TOGETHER_|OPENAI_|SLACK_|DISCORD_)/.test(k) && !(k in extra) && k !== "TUNELOOP_CONSOLE_USER")
      delete env[k];
  }
  return env;
}

/** A line as a user's shell runs it. */
const sh = (line: string, cwd: string, env: NodeJS.ProcessEnv, input?: string) =>
  runProcess("sh", ["-c", line], { cwd, env, input });

const hasJq = spawnSync("jq", ["--version"]).status === 0;

/** The command as the docs write it; without jq on this machine, its JSON goes through node with jq's simple path. */
function runnable(line: string): { line: string; jqPath: string[] | null } {
  const jq = /\s*\|\s*jq\s+(\.[\w.]*)\s*$/.exec(line);
  if (!jq || hasJq) return { line, jqPath: null };
  return { line: line.slice(0, jq.index), jqPath: jq[1].split(".").filter(Boolean) };
}

/**
 * The README's demo is also the end-to-end check of the local trainer on the demo task (its defaults: 600 generated
 * rows, 25% held out, 3 epochs of LoRA): the base model answers none of the 150 held-out rows exactly, the tuned one
 * at least 85% of them (100% when measured), and the paired test says so.
 */
function assertDemoLearned(out: string) {
  const tuned = /run:1\s+tuned\s+(\d+\.\d)% \[[\d.]+%, [\d.]+%\]\s+150 /.exec(out);
  assert.ok(tuned, `the demo's verdict shows the tuned model on 150 rows:\n${out}`);
  assert.ok(Number(tuned[1]) >= 85, `tuned exact match ${tuned[1]}%`);
  assert.match(out, /local:stories260K\s+base\s+0\.0% \[0\.0%, [\d.]+%\]\s+150 /);
  assert.match(out, /run:1 is better than local:stories260K by \+[\d.]+ pts .*: significant at α = 0\.05/);
}

describe("README, as a new user follows it", () => {
  const repo = freshClone("readme");
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const blocks = codeBlocks(readme);

  test("the README shows npx tuneloop (not npm run tune) for --json", () => {
    const cmds = blocks.filter((b) => b.lang === "sh").flatMap((b) => b.lines);
    assert.ok(
      cmds.some((l) => /^npx tuneloop .*--json \| jq /.test(l)),
      "a --json | jq example",
    );
    assert.ok(
      !cmds.some((l) => /npm run tune\b(?! -s)/.test(l) && l.includes("--json")),
      "no npm run tune with --json",
    );
  });

  test("every `npx tuneloop` command of the README runs as written; --json | jq gives the JSON shown", {
    timeout: 600_000,
  }, async () => {
    const env = userEnv();
    let ran = 0;
    let demo = false;
    for (const [i, b] of blocks.entries()) {
      if (b.lang !== "sh") continue;
      for (const written of b.lines.filter((l) => l.includes("npx tuneloop"))) {
        const { line, jqPath } = runnable(written);
        const r = await sh(line, repo, env);
        ran++;
        assert.equal(r.code, 0, `${written}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
        if (/tuneloop demo\b/.test(written)) {
          assertDemoLearned(r.stdout);
          demo = true;
        }
        if (!written.includes("--json")) continue;
        let json: unknown;
        try {
          json = JSON.parse(r.stdout);
        } catch {
          assert.fail(`${written}: stdout is not JSON:\n${r.stdout}`);
        }
        for (const k of jqPath ?? []) json = (json as Record<string, unknown>)[k];
        const shown = blocks[i + 1];
        if (shown?.lang === "json") assert.deepEqual(json, JSON.parse(shown.lines.join("\n")), written);
      }
    }
    assert.ok(ran >= 2, `ran ${ran} commands`);
    assert.ok(demo, "the README runs the demo");
  });

  test("the console session shown is what the console prints", { timeout: 120_000 }, async () => {
    const session = blocks.find((b) => b.lang === "text" && b.lines[0]?.startsWith("you> "));
    assert.ok(session, "a console session in the README");
    const typed = session.lines.filter((l) => l.startsWith("you> ")).map((l) => l.slice("you> ".length));
    const data = tmpDir("readme-console");
    const r = await sh("npm start", repo, userEnv({ TUNELOOP_DATA: data }), `${typed.join("\n")}\n`);
    assert.equal(r.code, 0, r.stderr);
    const printed = r.stdout.slice(r.stdout.indexOf("you> ")).replace(/\nbye\n$/, "");
    assert.equal(printed.trimEnd(), session.lines.join("\n").trimEnd());
  });
});

describe("docs/together.md, against the Together fake", () => {
  const repo = freshClone("together-walk");
  const doc = fs.readFileSync(path.join(repoRoot, "docs", "together.md"), "utf8");
  const blocks = codeBlocks(doc);
  let fake: FakeTogether;

  before(async () => {
    // The walkthrough's support.jsonl: 500 short questions with one-word answers.
    const task = makeDemoTask({ seed: 7, trainRows: 400, evalRows: 100 });
    const file = path.join(repo, "support.jsonl");
    fs.writeFileSync(file, `${[...task.train, ...task.eval].map((r) => JSON.stringify(r)).join("\n")}\n`);
    fake = await startRehearsal(file);
  });
  after(() => fake?.close());

  test("every command runs, in order, from the key to the verdict", { timeout: 600_000 }, async () => {
    const env = userEnv({
      TOGETHER_API_KEY: REHEARSAL_KEY,
      TOGETHER_BASE_URL: fake.baseUrl,
      TUNELOOP_POLL_INTERVAL_MS: "100",
      TUNELOOP_POLL_MAX_MS: "300",
    });
    const outputs: Array<{ line: string; stdout: string; stderr: string; shown?: Block }> = [];
    for (const [i, b] of blocks.entries()) {
      if (b.lang !== "sh") continue;
      const lines = b.lines.filter((l) => l.startsWith("npx tuneloop"));
      for (const [j, line] of lines.entries()) {
        const r = await runDocLine(line, env, repo);
        assert.equal(r.code, 0, `${line}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
        // The sample under a block belongs to its last command.
        outputs.push({
          line,
          ...r,
          shown: j === lines.length - 1 && blocks[i + 1]?.lang === "text" ? blocks[i + 1] : undefined,
        });
      }
    }
    assert.ok(outputs.length >= 9, `ran ${outputs.length} commands`);
    // Deterministic samples are shown as printed, line for line.
    for (const o of outputs.filter((x) => /help providers|dataset split/.test(x.line))) {
      assert.ok(o.shown, `${o.line} has a sample`);
      for (const l of o.shown.lines.filter((x) => x.trim()))
        assert.ok(o.stdout.includes(l), `${o.line}: "${l}" is not in:\n${o.stdout}`);
    }
    const run = outputs.find((o) => o.line.includes("run start"));
    assert.ok(run);
    assert.match(run.stdout, /✓ Run 1 · succeeded/);
    assert.match(run.stdout, /✓ Verdict for run 1/);
    assert.match(run.stdout, /run:1\s+tuned\s+100\.0%/);
    assert.match(
      run.stdout,
      /"a LoRA fine-tune on our answers beats the base model": expected \+20 pts, .*: supported/,
    );
    assert.match(run.stdout, /\[file\] .*\/data\/charts\/run-1-loss\.png/);
    assert.match(run.stderr, /run 1: training: \d+\/\d+ steps/);
    assert.equal(fake.count("POST", /^\/fine-tunes$/), 1, "one job at Together");
    const board = outputs.find((o) => o.line.includes("leaderboard"));
    assert.match(board?.stdout ?? "", /Spend: \$0\.02 of \$10\.00 budget\./);
  });
});
