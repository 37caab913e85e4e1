/**
 * Discord, tried as an attacker would: the real discord.js bot against the fake Discord. No message content or
 * interaction option names a path on the bot's host, and a role's name never stands for a user id or a role id.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { seedExperiment } from "../../engine/engine-helpers.ts";
import { FakeDiscord, type FakeInteraction, type FakeMember } from "../../fakes/discord.ts";
import { tmpDir } from "../../helpers.ts";
import { jsonl, startHarness, type Harness } from "./helpers.ts";

const LOADING = 128;
const EPHEMERAL = 64;

const MARKER = "HOSTSECRET-d15c0-DO-NOT-LEAK";
const hostDir = tmpDir("host-files");
const hostJsonl = path.join(hostDir, "host.jsonl");
fs.writeFileSync(hostJsonl, jsonl(20).replace("Where is", MARKER));
const hostEnv = path.join(hostDir, ".env");
fs.writeFileSync(hostEnv, `${MARKER}=1\n`);

/** The user id the fake gives a member named `name` (stable: a hash of the name). */
const idOf = (fake: FakeDiscord, name: string) => fake.user(name).user.id;

describe("discord: hostile input", () => {
  let h: Harness;
  let fake: FakeDiscord;
  let alice: FakeMember; // trainers (TUNELOOP_SPENDERS role:trainers)
  let mallory: FakeMember; // holds roles named like the admin's user id and like the trainers role's id
  let trainersId = "";

  const answered = (i: FakeInteraction) =>
    fake.waitFor(`the answer to interaction ${i.id}`, () => {
      const m = fake.original(i);
      return m && !(m.flags & LOADING) ? m : undefined;
    });

  /** Everything the bot sent to Discord, as one string. */
  const sent = () =>
    fake.requests
      .map((r) => `${JSON.stringify(r.json ?? {})}${r.files.map((f) => f.data.toString("utf8")).join("")}`)
      .join("\n");

  before(async () => {
    h = await startHarness({
      // Role names a member could pick: the admin's user id, and the trainers role's id.
      roles: ["pending-admin-id", "pending-role-id"],
      env: (f) => {
        const admin = f.roles.find((r) => r.name === "pending-admin-id");
        const twin = f.roles.find((r) => r.name === "pending-role-id");
        const trainers = f.roles.find((r) => r.name === "trainers");
        if (!admin || !twin || !trainers) throw new Error("roles");
        admin.name = idOf(f, "dana");
        twin.name = trainers.id;
        return { TUNELOOP_ADMINS: idOf(f, "dana"), TUNELOOP_SPENDERS: trainers.id };
      },
    });
    fake = h.fake;
    trainersId = fake.roles.find((r) => r.name === "trainers")?.id ?? "";
    alice = fake.user("alice", ["trainers"]);
    mallory = fake.user("mallory", [idOf(fake, "dana"), trainersId]);
    await seedExperiment(h.app);
  });

  after(async () => {
    await h?.close();
  });

  for (const content of [
    `tune dataset upload evil --file ${hostJsonl}`,
    `/tune dataset upload --file=${hostEnv}`,
    `tune dataset upload evil \u2014file ${hostJsonl}`,
  ]) {
    test(`a file dropped with "${content.slice(0, 40)}…" is refused, and not downloaded`, async () => {
      const att = fake.addAttachment(fake.watchChannelId, "mine.jsonl", jsonl(8));
      const dropped = fake.post(alice, fake.watchChannelId, content, [att]);
      const reply = await fake.waitFor("the refusal", () =>
        fake.messagesIn(fake.watchChannelId).find((m) => m.message_reference?.message_id === dropped.id),
      );
      const t = FakeDiscord.text(reply);
      assert.match(t, /host_path_refused/);
      assert.match(t, /--file/);
      assert.match(t, /upload|attach/i);
      assert.ok(!fake.requests.some((r) => r.path.includes(`/${att.id}/`)), "the attachment was not downloaded");
      assert.ok(!h.app.datasets.names().includes("evil") && !h.app.datasets.names().includes("env"));
      assert.ok(!sent().includes(MARKER), "no byte of a host file reached Discord");
    });
  }

  test("an interaction carrying an option that names a host path (out) is refused, nothing is written", async () => {
    const i = fake.slash(alice, "dataset export", { dataset: "task" }, { dispatch: false });
    const evil = path.join(hostDir, "evil.jsonl");
    // The deployed /tune has no such option; a forged or stale client sends it anyway.
    let level = (i.payload.data as { options: Array<{ options?: unknown[] }> }).options;
    while (level[0]?.options) level = level[0].options as typeof level;
    level.push({ name: "out", type: 3, value: evil } as never);
    fake.redeliver(i);
    const msg = await answered(i);
    assert.ok(msg.flags & EPHEMERAL);
    assert.match(FakeDiscord.text(msg), /host_path_refused/);
    assert.match(FakeDiscord.text(msg), /--out/);
    assert.ok(!fs.existsSync(evil));
  });

  test("option values that spell --file or a path are refused as such: no host file is read", async () => {
    for (const name of [`x --file ${hostJsonl}`, `--file=${hostJsonl}`]) {
      const att = fake.addAttachment(fake.channelId, "mine.jsonl", jsonl(8));
      const i = fake.slash(alice, "dataset upload", { name }, { attachment: att });
      const msg = await answered(i);
      assert.match(FakeDiscord.text(msg), /host_path_refused/);
      assert.ok(!sent().includes(MARKER));
    }
    assert.ok(!h.app.datasets.names().some((n) => n.includes("file") || n === "host" || n === "x"));
  });

  test("a role named like an admin's user id, or like a permitted role's id, grants nothing", async () => {
    const versions = () => h.app.datasets.versions("task-train").length;
    const before = versions();
    const i = fake.slash(mallory, "dataset split", { dataset: "task", eval: "30%", seed: 5 });
    const msg = await answered(i);
    assert.ok(msg.flags & EPHEMERAL);
    assert.match(FakeDiscord.text(msg), /permission_denied/);
    assert.equal(versions(), before, "nothing was split");
    // The id itself works: alice holds the trainers role.
    const ok = fake.slash(alice, "dataset split", { dataset: "task", eval: "30%", seed: 5 });
    assert.match(FakeDiscord.text(await answered(ok)), /Split task@v1/);
  });
});
