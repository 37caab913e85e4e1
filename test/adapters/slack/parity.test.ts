/**
 * The rows of docs/platforms.md on Slack, against the fake Slack: the overview also as /tune home (besides App Home),
 * and the one list of dataset file types for dropped files. Thread replies as discussion, buttons, progress and the
 * verdict in the thread are in http.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { seedExperiment } from "../../engine/engine-helpers.ts";
import { fileShareEvent, waitFor } from "../../fakes/slack.ts";
import { blocksText, firstResponse, type Harness, startHarness } from "./harness.ts";

const CH = "C0TUNE0001";
const ALICE = "U0ALICE01";

describe("slack parity rows", () => {
  let h: Harness;

  before(async () => {
    h = await startHarness();
    await seedExperiment(h.app);
  });

  after(async () => {
    await h.close();
  });

  test("/tune home is the overview computed in the core, privately", async () => {
    const r = await h.slash("home", { user: ALICE, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "the overview");
    assert.equal(resp.body.response_type, "ephemeral");
    const t = blocksText(resp.body.blocks);
    assert.match(t, /Your recent runs/);
    assert.match(t, /Experiments: best score against baseline/);
    assert.match(t, /exp \(task-eval@v1, exact\)/);
  });

  test("a CSV dropped in a channel is answered with what to do; a screenshot is left alone", async () => {
    const csv = h.fake.addFile({ name: "tickets.csv", content: "question,answer\nhi,hello\n", user: ALICE });
    const ev = fileShareEvent(h.fake, csv, { channel: CH, user: ALICE });
    await h.event(ev);
    const answer = await waitFor("the answer in the file's thread", () =>
      h.fake.threadOf(CH, String(ev.ts)).find((m) => !/Reading/.test(blocksText(m.blocks))),
    );
    // A refused file: said in the thread, the reason privately to the person who dropped it.
    assert.match(blocksText(answer.blocks), /got the answer privately/);
    const why = await waitFor("the private answer", () => h.fake.ephemerals.find((e) => e.user === ALICE));
    assert.match(blocksText(why.blocks), /JSON|jsonl/i);

    const png = h.fake.addFile({ name: "shot.png", content: "png", user: ALICE });
    const ev2 = fileShareEvent(h.fake, png, { channel: CH, user: ALICE });
    await h.event(ev2);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(h.fake.threadOf(CH, String(ev2.ts)), [], "nothing said about a screenshot");
    assert.equal(h.fake.downloads.filter((d) => d.fileId === png.id).length, 0);
  });
});
