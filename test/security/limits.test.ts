/**
 * Limits a chat member could otherwise walk past by taking small steps: a dataset grows past TUNELOOP_MAX_ROWS only
 * if each step is checked, not only each upload.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { ctxFor, engineApp, writeTask } from "../engine/engine-helpers.ts";
import { tmpDir } from "../helpers.ts";

test("dataset upload --append-to cannot grow a dataset past TUNELOOP_MAX_ROWS", async () => {
  const { app } = await engineApp({ env: { TUNELOOP_MAX_ROWS: "50" } });
  try {
    await app.datasets.upload({ filePath: writeTask(tmpDir("a"), 40), filename: "task.jsonl", name: "task" });
    const before = app.datasets.versions("task").length;
    // 30 rows fit an upload of their own (50), not beside task's 40
    const o = await runCommand(
      ["dataset", "upload", writeTask(tmpDir("b"), 30), "--name", "more", "--append-to", "task"],
      ctxFor(app),
    );
    assert.equal(o.error?.code, "dataset_too_many_rows", o.error?.message);
    assert.match(
      o.error?.message ?? "",
      /^task@v1 has 40 rows; adding 30 would make 70, over the 50 a dataset may hold \(TUNELOOP_MAX_ROWS\)\. /,
    );
    assert.equal(app.datasets.versions("task").length, before, "no new version of task");
  } finally {
    await app.close();
  }
});
