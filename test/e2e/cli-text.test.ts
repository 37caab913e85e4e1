/**
 * What the CLI prints for people, through the real CLI (a child process): help grouped once per group, required
 * options written as required, and no chat phrasing (commands as the CLI takes them, no "only you can see this").
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { repoRoot, runCli, runProcess, sharedDataset, testEnv, tmpDir } from "../helpers.ts";

describe("CLI text", () => {
  // No hosted provider keys, whatever the developer's environment has (a blank value counts as unset).
  const env = testEnv(tmpDir("cli-text"), { TOGETHER_API_KEY: "", OPENAI_API_KEY: "" });

  test("help: each group header once, required options without brackets, commands as the CLI takes them", async () => {
    const r = await runCli(["help"], env);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    for (const group of ["Datasets", "Experiments", "Runs", "Evals", "Iterations", "Demo", "Help"]) {
      const n = out.split("\n").filter((l) => l === `${group}:`).length;
      assert.equal(n, 1, `"${group}:" appears ${n} times\n${out}`);
    }
    // hypothesis is listed with the experiment commands, compare with the evals
    assert.ok(out.indexOf("npx tuneloop hypothesis") < out.indexOf("Runs:"), out);
    assert.ok(out.indexOf("npx tuneloop compare") > out.indexOf("Evals:"), out);
    // required options are not shown as optional
    assert.match(out, /npx tuneloop experiment new <name> --eval <eval> \[--metric <metric>\]/);
    assert.match(
      out,
      /npx tuneloop run start <dataset> --experiment <experiment> (\[--valid <valid>\] )?\[--provider <provider>\]/,
    );
    assert.match(out, /npx tuneloop hypothesis <experiment> <text> \[--metric <metric>\] --expect <expect>/);
    // the CLI's own form of an upload: a FILE, no attachment
    assert.match(out, /npx tuneloop dataset upload FILE \[name\]/);
    assert.doesNotMatch(out, /only you can see this/);
    assert.doesNotMatch(out, /(^|\s)\/tune /m);
    assert.doesNotMatch(out, /attach/i);
  });

  test("help <group> and its JSON use the CLI's usage", async () => {
    const r = await runCli(["help", "evals"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /npx tuneloop compare <a> <b>/);
    assert.match(r.stdout, /npx tuneloop leaderboard <experiment>/);
    const j = await runCli(["help", "dataset", "--json"], env);
    const usage = (JSON.parse(j.stdout) as Array<{ command: string; usage: string }>).find(
      (c) => c.command === "dataset upload",
    )?.usage;
    assert.equal(
      usage,
      "npx tuneloop dataset upload FILE [name] [--drop-bad-rows] [--model <model>] [--append-to <append-to>]",
    );
  });

  test("a user error reads as the CLI's, not the chat's", async () => {
    const r = await runCli(["dataset", "show", "nope"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /✗ Error\n/);
    assert.doesNotMatch(r.stderr, /only you can see this|\/tune /);
    const u = await runCli(["frobnicate"], env);
    assert.match(u.stderr, /Type npx tuneloop help for the list of commands/);
  });

  test("a reader that closes the pipe early gets no EPIPE crash", async () => {
    const r = await runProcess("sh", ["-c", `"${process.execPath}" bin/tuneloop.mjs help --json | true`], {
      cwd: repoRoot,
      env,
    });
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|internal error/);
  });

  test("a bad provider setting is the user's to fix (exit 1, the setting named, its value hidden), not a bug", async () => {
    const r = await runCli(["help", "providers"], { ...env, TOGETHER_API_KEY: "abc" });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Bad provider setting:\n {2}TOGETHER_API_KEY=\(hidden\): looks too short for a key\n/);
    assert.doesNotMatch(r.stderr, /internal error|abc/);
  });

  test("every missing-provider refusal names the setting that turns it on", async () => {
    const up = await runCli(
      ["dataset", "upload", sharedDataset("openai-cookbook/toy_chat_fine_tuning.jsonl"), "--name", "toy"],
      env,
    );
    assert.equal(up.code, 0, up.stderr);
    assert.equal((await runCli(["experiment", "new", "toyexp", "--eval", "toy"], env)).code, 0);
    const together = await runCli(["run", "start", "toy", "--experiment", "toyexp", "--provider", "together"], env);
    assert.equal(together.code, 1);
    assert.match(together.stderr, /No trainer "together" here: set TOGETHER_API_KEY in \.env or the environment/);
    const openai = await runCli(["run", "start", "toy", "--experiment", "toyexp", "--provider", "openai"], env);
    assert.match(openai.stderr, /No trainer "openai" here: set OPENAI_API_KEY/);
    const other = await runCli(["run", "start", "toy", "--experiment", "toyexp", "--provider", "mystery"], env);
    assert.match(
      other.stderr,
      /No trainer named "mystery"\. Trainers here: local; also possible: together \(set TOGETHER_API_KEY\), openai \(set OPENAI_API_KEY\), selfhosted \(set a "kind": "vllm" endpoint in TUNELOOP_ENDPOINTS\)\./,
    );
    const ev = await runCli(["eval", "together:Qwen/Qwen2.5-7B-Instruct", "toy"], env);
    assert.equal(ev.code, 1);
    assert.match(ev.stderr, /No provider "together" here: set TOGETHER_API_KEY/);
  });
});
