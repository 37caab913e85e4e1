/**
 * Ctrl-D in the console chat during a run of the real local trainer stops its work before the database closes (no
 * "database connection is not open"), and the next start resumes it. How a run looks at the terminal (one line per
 * progress report, the card printed again only when the state changes) is asserted on the loop in console-loop.test.ts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { runCliInProcess, testEnv, tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";
import { startConsole } from "./console-process.ts";

describe("console chat: a run as the terminal shows it", () => {
  const dir = tmpDir("console-run");
  const data = path.join(dir, "data");
  const env = testEnv(data, { TUNELOOP_LOCAL_MODEL_DIR: localModelDir, LOG_LEVEL: "info" });
  const log = () =>
    fs.existsSync(path.join(data, "tuneloop.log")) ? fs.readFileSync(path.join(data, "tuneloop.log"), "utf8") : "";

  before(async () => {
    // Small: the assertions are on what the console prints and the run's state, not on what the model learns.
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
