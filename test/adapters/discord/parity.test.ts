/**
 * The rows of docs/platforms.md on Discord, against the fake Discord: the overview as /tune home, the one list of
 * dataset file types for dropped files, and replies in a run's thread kept as the run's discussion.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { text } from "../../../src/core/cards.ts";
import { seedExperiment } from "../../engine/engine-helpers.ts";
import { FakeDiscord, type FakeInteraction, type FakeMember } from "../../fakes/discord.ts";
import { finalAnswer, startHarness, type Harness } from "./helpers.ts";

const EPHEMERAL = 64;

describe("discord parity rows", () => {
  let h: Harness;
  let fake: FakeDiscord;
  let alice: FakeMember;
  let bob: FakeMember;

  const answered = (i: FakeInteraction) => finalAnswer(fake, i);

  before(async () => {
    h = await startHarness();
    fake = h.fake;
    alice = fake.user("alice", ["trainers"]);
    bob = fake.user("bob");
    await seedExperiment(h.app, { baselines: ["big:model"] });
  });

  after(async () => {
    await h?.close();
  });

  let runId = 0;
  let cardId = "";

  test("replies in a run's thread are kept as the run's discussion (once; the bot's own lines are not)", async () => {
    const card = await answered(fake.slash(alice, "run start", { dataset: "task-train", experiment: "exp" }));
    runId = Number(/^Run (\d+)/.exec(card.embeds[0]?.title ?? "")?.[1]);
    cardId = card.id;
    await fake.waitFor("the card's id stored", () => h.app.runs.find(runId)?.messageId === card.id);
    // The run's thread (started from its card, so it has the card's id), with a line of the bot's in it.
    await h.app.chat!.post(fake.channelId, { blocks: [text("Run is waiting for Confirm.")] }, { threadId: card.id });
    const thread = fake.threadOf(card.id);
    assert.ok(thread);
    const said = fake.post(bob, thread.id, "is 3 epochs enough?");
    // A gateway replay of the same message: stored once.
    fake.dispatch("MESSAGE_CREATE", { ...said, channel_id: thread.id, guild_id: fake.guildId });
    await fake.waitFor("the discussion stored", () => h.app.runs.discussion(runId).length > 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      h.app.runs.discussion(runId).map((d) => [d.user.toLowerCase(), d.userId, d.text, d.ts]),
      [["bob", bob.user.id, "is 3 epochs enough?", said.id]],
      "stored once, without the bot's own line",
    );
  });

  test("/tune home is the overview computed in the core (Slack's App Home)", async () => {
    const msg = await answered(fake.slash(alice, "home", {}));
    assert.ok(msg.flags & EPHEMERAL, "only for the person who asked");
    const t = FakeDiscord.text(msg);
    assert.match(t, /Your recent runs/);
    assert.match(t, new RegExp(`#${runId} · awaiting confirmation · exp`));
    assert.match(t, /Experiments: best score against baseline/);
    assert.match(t, /Your runs: \$/);
  });

  test("a CSV dropped in a watched channel is answered with what to do; a text file is left alone", async () => {
    const csv = fake.addAttachment(fake.watchChannelId, "tickets.csv", "question,answer\nhi,hello\n", "text/csv");
    const txt = fake.addAttachment(fake.watchChannelId, "notes.txt", "meeting notes", "text/plain");
    const dropped = fake.post(alice, fake.watchChannelId, "", [csv, txt]);
    const reply = await fake.waitFor("the answer to the CSV", () =>
      fake
        .messagesIn(fake.watchChannelId)
        .find((m) => m.message_reference?.message_id === dropped.id && !/Reading/.test(m.content)),
    );
    assert.match(FakeDiscord.text(reply), /JSON|jsonl/i);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(
      fake.messagesIn(fake.watchChannelId).filter((m) => m.message_reference?.message_id === dropped.id).length,
      1,
      "one answer: the text file was left alone",
    );
  });

  test("a button on the run's card edits that card in place (its subject, not its title)", async () => {
    const press = fake.press(alice, cardId, "Cancel");
    await fake.waitFor("the cancelled card", () => /cancelled/.test(fake.messages.get(cardId)?.embeds[0]?.title ?? ""));
    assert.equal(press.ack?.type, 6);
    assert.equal(h.app.runs.get(runId).state, "cancelled");
  });
});
