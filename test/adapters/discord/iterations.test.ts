/** Schedules and digests through the real discord.js client and the fake Discord. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runCommand } from "../../../commands/dispatch.ts";
import { createScheduler } from "../../../src/iterations.ts";
import { ctxFor, seedExperiment } from "../../engine/engine-helpers.ts";
import { FakeDiscord, type FakeInteraction, type FakeMember } from "../../fakes/discord.ts";
import { startHarness, type Harness } from "./helpers.ts";

let h: Harness;
let alice: FakeMember;

const answered = (i: FakeInteraction) =>
  h.fake.waitFor(`the answer to interaction ${i.id}`, () => {
    const m = h.fake.original(i);
    return m && !(m.flags & 128) ? m : undefined;
  });

before(async () => {
  h = await startHarness();
  alice = h.fake.user("alice", ["trainers"]);
  h.app.scheduler = createScheduler(h.app);
  await h.app.scheduler.start();
  await seedExperiment(h.app);
  await runCommand(["run", "start", "task-train", "--experiment", "exp", "--yes", "--wait"], ctxFor(h.app));
});

after(async () => {
  await h?.close();
});

test("a digest schedule added in Discord fires into its channel with the leaderboard chart", async () => {
  const i = h.fake.slash(alice, "schedule add", { cron: "0 9 * * MON", recipe: "digest", tz: "Europe/Berlin" });
  const reply = await answered(i);
  assert.match(FakeDiscord.text(reply), /Schedule #\d+ added/);
  const [s] = h.app.iterations.schedules();
  assert.equal(s.channelId, h.fake.channelId);
  const out = await h.app.scheduler?.fire(s.id, "manual");
  assert.equal(out?.outcome, "ok", out?.message);
  const digest = await h.fake.waitFor("the digest", () =>
    h.fake.messagesIn(h.fake.channelId).find((m) => /Digest/.test(FakeDiscord.text(m))),
  );
  assert.match(FakeDiscord.text(digest), /exp: run:1 100\.0%/);
  assert.ok(
    digest.attachments.some((a) => a.filename.endsWith(".png")),
    "the chart is attached",
  );
});
