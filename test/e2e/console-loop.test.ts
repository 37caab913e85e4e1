/**
 * The whole loop command by command in the console chat, with the real local trainer (stories260K, LoRA on wasm):
 * upload, split, experiment, hypothesis, run start; the run's card is edited in place and its thread fills with
 * progress and the verdict; then leaderboard and compare.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { makeDemoTask } from "../../src/core/demo/task.ts";
import { testEnv, tmpDir } from "../helpers.ts";
import { localModelDir } from "../local/helpers.ts";
import { startConsole } from "./console-process.ts";

test("console chat: the fine-tuning loop with the run's thread showing progress and the verdict", {
  timeout: 900_000,
}, async () => {
  const dir = tmpDir("loop");
  const task = makeDemoTask({ seed: 3, trainRows: 300, evalRows: 100 });
  const file = path.join(dir, "feelings.jsonl");
  fs.writeFileSync(file, `${[...task.train, ...task.eval].map((r) => JSON.stringify(r)).join("\n")}\n`);
  const env = testEnv(path.join(dir, "data"), { TUNELOOP_LOCAL_MODEL_DIR: localModelDir });
  const c = startConsole(env);
  const say = c.say;

  say(`/attach ${file}`);
  say("/tune dataset upload feelings");
  say("/tune dataset split feelings --eval 25% --seed 3");
  say("/tune experiment new feelings --eval feelings-eval --metric exact");
  say('/tune hypothesis feelings "a LoRA learns the four feelings" --expect +40pts');
  const started = Date.now();
  say("/tune run start feelings-train --experiment feelings --yes");
  await c.waitFor(/Verdict for run 1/, 600_000);
  const tookMs = Date.now() - started;
  say("/tune leaderboard feelings");
  say("/tune compare local:stories260K run:1 --experiment feelings");
  say("/quit");
  assert.equal(await c.exited, 0, c.io.err);
  const out = c.io.out;

  assert.match(out, /✓ Stored feelings@v1/);
  assert.match(out, /✓ Split feelings@v1 -> feelings-train@v1 \+ feelings-eval@v1/);
  assert.match(out, /Created experiment feelings/);
  assert.match(out, /Hypothesis #1 recorded/);
  // the run's card, then edits of the same message as the state changes
  const card = /tuneloop · (m\d+)\n\s+· Run 1 · queued/.exec(out);
  assert.ok(card, out);
  const id = card[1];
  assert.match(out, new RegExp(`tuneloop · ${id} \\(edited\\)\\n\\s+· Run 1 · running`));
  assert.match(out, new RegExp(`tuneloop · ${id} \\(edited\\)\\n\\s+✓ Run 1 · succeeded`));
  // the thread: progress (coalesced: a handful of messages, not one per step) and the verdict
  const threadMsgs = out.match(new RegExp(`↳ thread ${id} · m\\d+`, "g")) ?? [];
  const progress = out.match(/training: \d+\/\d+ steps/g) ?? [];
  // At most one a quarter of training and one each 30 s (notifier.ts): a slow, busy machine earns a few more, but
  // never one per step (the run has hundreds).
  const most = 6 + Math.ceil(tookMs / 30_000);
  assert.ok(progress.length >= 2 && progress.length <= most, `progress messages: ${progress.length} (at most ${most})`);
  assert.ok(threadMsgs.length >= 4, `thread messages: ${threadMsgs.length}`);
  // The card is printed whole three times (queued, running, succeeded), never once per step.
  const prints = out.match(new RegExp(`tuneloop · ${id}( \\(edited\\))?\\n`, "g")) ?? [];
  assert.equal(prints.length, 3, out);
  assert.match(out, new RegExp(`tuneloop · ${id} \\(edited\\)\\n\\s+· Run 1 · running\\n\\n\\s+State\\s+running`));
  assert.match(out, new RegExp(`tuneloop · ${id} \\(edited\\)\\n\\s+✓ Run 1 · succeeded\\n\\n\\s+State\\s+succeeded`));
  // Every progress report is one line of the run's thread.
  const progressLines = out.split("\n").filter((l) => /training: \d+\/\d+ steps/.test(l));
  for (const l of progressLines)
    assert.match(l, new RegExp(`^\\s+↳ thread ${id} · m\\d+ · training: \\d+/\\d+ steps \\(\\d+%\\)`));
  assert.match(out, new RegExp(`↳ thread ${id} · m\\d+ · Run 1 started\\.`));
  // From the run's card to its verdict's thread (failures, clusters) in well under 150 lines; reprinting the card
  // per step gave ~700.
  const runLines = out.slice(card.index, out.indexOf("Leaderboard · feelings")).split("\n").length;
  assert.ok(runLines < 150, `${runLines} lines for one run:\n${out}`);
  assert.match(out, /↳ thread m\d+ · m\d+\n\s+✓ Verdict for run 1/);
  const tuned = /run:1\s+tuned\s+([\d.]+)%/.exec(out);
  const base = /local:stories260K\s+base\s+([\d.]+)%/.exec(out);
  assert.ok(tuned && Number(tuned[1]) >= 85, `tuned ${tuned?.[1]}`);
  assert.ok(base && Number(base[1]) <= 10, `base ${base?.[1]}`);
  assert.match(out, /Chance baseline: always answering "\w+" scores/);
  assert.match(
    out,
    /run:1 is better than local:stories260K by \+[\d.]+ pts .*mcnemar-exact p < 0\.001.*: significant at α = 0\.05\./,
  );
  assert.match(out, /"a LoRA learns the four feelings": expected \+40 pts, observed .*: supported/);
  assert.match(out, /Leaderboard · feelings/);
  assert.match(out, /run:1 vs local:stories260K on feelings-eval@v1 \(exact\)/);
});
