/** Schedules, digests and sweeps through the real Slack adapter and the fake Slack Web API. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runCommand } from "../../../commands/dispatch.ts";
import { createScheduler } from "../../../src/iterations.ts";
import { ctxFor, seedExperiment } from "../../engine/engine-helpers.ts";
import { waitFor } from "../../fakes/slack.ts";
import { startHarness, type Harness } from "./harness.ts";

const ALICE = "U0ALICE01";
const CH = "C0ITER001";
let h: Harness;

before(async () => {
  h = await startHarness({ fake: { users: { [ALICE]: { name: "alice" } } } });
  h.app.scheduler = createScheduler(h.app);
  await h.app.scheduler.start();
  await seedExperiment(h.app);
  await runCommand(["run", "start", "task-train", "--experiment", "exp", "--yes", "--wait"], ctxFor(h.app));
});

after(async () => {
  await h.close();
});

test("a digest schedule added in Slack fires into its channel, with the leaderboard chart uploaded", async () => {
  const add = await h.slash('schedule add "0 9 * * MON" digest --tz Europe/Berlin', { user: ALICE, channel: CH });
  assert.equal(add.status, 200);
  await waitFor("the schedule card", () =>
    h.fake.messages.some((m) => m.channel === CH && /Schedule #\d+ added/.test(m.text + JSON.stringify(m.blocks))),
  );
  const [s] = h.app.iterations.schedules();
  assert.equal(s.channelId, CH);
  const out = await h.app.scheduler?.fire(s.id, "manual");
  assert.equal(out?.outcome, "ok", out?.message);
  await waitFor("the digest", () =>
    h.fake.messages.some((m) => m.channel === CH && /Digest/.test(m.text + JSON.stringify(m.blocks))),
  );
  const digest = h.fake.messages.find((m) => m.channel === CH && /Digest/.test(m.text + JSON.stringify(m.blocks)));
  assert.match(JSON.stringify(digest?.blocks), /exp: run:1 100\.0%/);
  await waitFor("the chart upload", () => h.fake.callsOf("files.completeUploadExternal").length > 0);
  assert.ok(
    h.fake.uploads.some((u) => u.bytes > 5000),
    "a PNG went through the three-step upload",
  );
});

test("digest now and schedule list answer in Slack", async () => {
  const r = await h.slash("schedule list", { user: ALICE, channel: CH });
  assert.equal(r.status, 200);
  await waitFor(
    "the schedule list",
    () =>
      h.fake.messages.some((m) => m.channel === CH && /Schedules \(1\)/.test(m.text + JSON.stringify(m.blocks))) ||
      h.fake.responses.some((x) => /Schedules \(1\)/.test(JSON.stringify(x.body))),
  );
});
