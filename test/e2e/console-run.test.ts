/**
 * A run in the console chat with the real local trainer, as a person at the terminal sees it: progress as one line
 * each in the run's thread, the run's card printed again only when its state changes; and Ctrl-D during a run stops
 * its work before the database closes (no "database connection is not open"), the next start resuming it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { repoRoot, runCliInProcess, testEnv, tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";

function startConsole(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [path.join(repoRoot, "bin", "start.mjs")], {
    cwd: repoRoot,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const io = { out: "", err: "" };
  child.stdout.on("data", (d) => (io.out += d));
  child.stderr.on("data", (d) => (io.err += d));
  const exited = new Promise<number | null>((r) => child.on("close", r));
  const waitFor = async (re: RegExp, ms = 200_000) => {
    const t0 = Date.now();
    while (!re.test(io.out)) {
      if (Date.now() - t0 > ms)
        throw new Error(`timed out waiting for ${re}\n--- out ---\n${io.out}\n--- err ---\n${io.err}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return re.exec(io.out) as RegExpExecArray;
  };
  return { io, exited, waitFor, say: (line: string) => child.stdin.write(`${line}\n`), ctrlD: () => child.stdin.end() };
}

describe("console chat: a run as the terminal shows it", () => {
  const dir = tmpDir("console-run");
  const data = path.join(dir, "data");
  const env = testEnv(data, { TUNELOOP_LOCAL_MODEL_DIR: localModelDir, LOG_LEVEL: "info" });
  const log = () =>
    fs.existsSync(path.join(data, "tuneloop.log")) ? fs.readFileSync(path.join(data, "tuneloop.log"), "utf8") : "";

  before(async () => {
    // Small: the assertions are on what the console prints (cards, progress lines), not on what the model learns.
    const task = makeDemoTask({ seed: 5, trainRows: 160, evalRows: 40 });
    const file = path.join(dir, "moods.jsonl");
    fs.writeFileSync(file, `${[...task.train, ...task.eval].map((r) => JSON.stringify(r)).join("\n")}\n`);
    for (const words of [
      ["dataset", "upload", file, "--name", "moods"],
      ["dataset", "split", "moods", "--eval", "20%", "--seed", "5"],
      ["experiment", "new", "moods", "--eval", "moods-eval"],
    ]) {
      const r = await runCliInProcess(words, env);
      assert.equal(r.code, 0, `${words.join(" ")}: ${r.stderr}`);
    }
  });

  test("progress is one line each; the card is printed again only when the run's state changes", {
    timeout: 240_000,
  }, async () => {
    const c = startConsole(env);
    c.say("/tune run start moods-train --experiment moods --epochs 3 --yes");
    const id = (await c.waitFor(/tuneloop · (m\d+)\n\s+· Run \d+ · queued/))[1];
    await c.waitFor(/✓ Verdict for run \d+/);
    c.say("/quit");
    assert.equal(await c.exited, 0, c.io.err);
    const out = c.io.out;
    // queued (posted), running, succeeded: three prints of the card, each whole
    const prints = out.match(new RegExp(`tuneloop · ${id}( \\(edited\\))?\\n`, "g")) ?? [];
    assert.equal(prints.length, 3, out);
    assert.equal((out.match(/^\s+State\s+/gm) ?? []).length, 3, out);
    assert.match(out, new RegExp(`tuneloop · ${id} \\(edited\\)\\n\\s+· Run \\d+ · running\\n\\n\\s+State\\s+running`));
    assert.match(
      out,
      new RegExp(`tuneloop · ${id} \\(edited\\)\\n\\s+✓ Run \\d+ · succeeded\\n\\n\\s+State\\s+succeeded`),
    );
    // every progress report is one line of the run's thread
    const progress = out.split("\n").filter((l) => /training: \d+\/\d+ steps/.test(l));
    assert.ok(progress.length >= 2, out);
    for (const l of progress)
      assert.match(l, new RegExp(`^\\s+↳ thread ${id} · m\\d+ · training: \\d+/\\d+ steps \\(\\d+%\\)`));
    assert.match(out, new RegExp(`↳ thread ${id} · m\\d+ · Run \\d+ started\\.`));
    const lines = out.split("\n").length;
    // the verdict's thread (failures, clusters) is printed once; reprinting the card per step gave ~700 lines
    assert.ok(lines < 150, `${lines} lines for one run:\n${out}`);
  });

  test("Ctrl-D during a run stops its work before the database closes; the next start resumes it", {
    timeout: 240_000,
  }, async () => {
    const c = startConsole(env);
    c.say("/tune run start moods-train --experiment moods --epochs 40 --yes");
    const runId = (await c.waitFor(/· Run (\d+) · queued/))[1];
    await c.waitFor(/training: \d+\/\d+ steps/);
    c.ctrlD();
    assert.equal(await c.exited, 0, c.io.err);
    assert.match(
      c.io.out,
      new RegExp(
        `Run ${runId} was interrupted: it resumes when tuneloop starts again \\(npm start\\), or drop it with npx tuneloop run cancel ${runId}\\.\\nbye\\n$`,
      ),
    );
    assert.doesNotMatch(log(), /database connection is not open|"level":50/);
    assert.match(log(), /run interrupted: tuneloop is stopping/);
    const status = await runCliInProcess(["run", "status", runId, "--json"], env);
    assert.equal((JSON.parse(status.stdout) as { run: { state: string } }).run.state, "running");

    // The next start picks it up at once (its lease was given back), and a second Ctrl-D is as clean.
    const again = startConsole(env);
    await again.waitFor(new RegExp(`Run ${runId} resumed \\(attempt 2\\)`), 120_000);
    again.ctrlD();
    assert.equal(await again.exited, 0, again.io.err);
    assert.match(again.io.out, new RegExp(`Run ${runId} was interrupted`));
    assert.doesNotMatch(log(), /database connection is not open|"level":50/);
  });
});
