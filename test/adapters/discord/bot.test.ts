/**
 * End to end: a real discord.js client (the bot) against the fake Discord (REST + gateway on loopback), with the
 * real core, SQLite and datasets, and the fake trainer. One bot for the whole file; the tests run in order and build
 * on each other (upload, run, buttons, thread...).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { text } from "../../../src/core/cards.ts";
import { seedExperiment } from "../../engine/engine-helpers.ts";
import { FakeDiscord, messageProblems, type FakeInteraction, type FakeMember } from "../../fakes/discord.ts";
import { finalAnswer, jsonl, leftovers, startHarness, type Harness } from "./helpers.ts";

const EPHEMERAL = 64;

describe("discord bot against the fake Discord", () => {
  let h: Harness;
  let fake: FakeDiscord;
  let alice: FakeMember; // in the trainers role (TUNELOOP_SPENDERS)
  let bob: FakeMember; // no role
  let runMessageId = "";
  let runId = 0;

  /** The interaction's answer, once it is final (not the "thinking" placeholder). */
  const answered = (i: FakeInteraction) => finalAnswer(fake, i);

  before(async () => {
    h = await startHarness();
    fake = h.fake;
    alice = fake.user("alice", ["trainers"]);
    bob = fake.user("bob");
    await seedExperiment(h.app, { baselines: ["big:model"] });
    h.app.worker.start();
  });

  after(async () => {
    await h?.close();
  });

  test("logs in through GET /gateway/bot, IDENTIFY and READY, with the intents watched channels need", () => {
    const gw = fake.requests.find((r) => r.path === "/api/v10/gateway/bot");
    assert.equal(gw?.authorization, `Bot ${fake.token}`);
    const identify = fake.gateway.filter((f) => f.dir === "in" && f.op === 2);
    assert.equal(identify.length, 1);
    const intents = fake.identify?.intents ?? 0;
    assert.ok(intents & 1, "Guilds");
    assert.ok(intents & (1 << 9), "GuildMessages");
    assert.ok(intents & (1 << 15), "MessageContent");
    assert.ok(h.bot.client.isReady());
    assert.equal(fake.commandsScope, `guild:${fake.guildId}`, "npm run discord:deploy registered /tune in the guild");
  });

  test("dataset upload: the attachment is downloaded at once, the reply deferred, then edited with the result", async () => {
    const att = fake.addAttachment(fake.channelId, "parcels.jsonl", jsonl(30), "application/jsonl");
    const i = fake.slash(alice, "dataset upload", { name: "parcels" }, { attachment: att });
    const msg = await answered(i);
    assert.equal(i.ack?.type, 5, "deferred");
    assert.ok((i.ack?.afterMs ?? 9999) < 3000, `answered in ${i.ack?.afterMs} ms`);
    assert.deepEqual(i.refused, []);
    assert.ok((msg.versions?.length ?? 0) >= 2, "the deferred reply was edited");
    assert.match(FakeDiscord.text(msg), /parcels/);
    assert.ok(h.app.datasets.names().includes("parcels"));
    const download = fake.requests.find((r) => r.path.startsWith(`/attachments/${fake.channelId}/${att.id}/`));
    assert.equal(download?.status, 200);
    assert.ok(download.at - i.createdAt < 3000, "downloaded right away");
    assert.deepEqual(leftovers(h.dataDir), [], "the downloaded file is removed");
  });

  test("an error after the defer edits the deferred reply (an expired attachment link)", async () => {
    const att = fake.addAttachment(fake.channelId, "late.jsonl", jsonl(5), "application/jsonl", { ttlMs: -60_000 });
    const i = fake.slash(alice, "dataset upload", {}, { attachment: att });
    const msg = await answered(i);
    assert.equal(i.ack?.type, 5);
    assert.match(
      FakeDiscord.text(msg),
      /Could not download late\.jsonl from Discord \(HTTP 404\)\. Its link may have expired/,
    );
    assert.deepEqual(i.refused, [], "no second initial response");
    assert.ok(!h.app.datasets.names().includes("late"));
    assert.deepEqual(leftovers(h.dataDir), []);
  });

  test("autocomplete answers dataset, experiment and run names within 3 s", async () => {
    const ds = fake.autocomplete(alice, "run start", { dataset: "task" }, "dataset");
    await fake.waitFor("choices", () => ds.choices);
    assert.equal(ds.ack?.type, 8);
    assert.ok((ds.ack?.afterMs ?? 9999) < 3000);
    const names = ds.choices!.map((c) => c.value);
    assert.ok(names.includes("task-train") && names.includes("task-eval"), JSON.stringify(names));
    assert.ok(!names.includes("parcels"));
    const exp = fake.autocomplete(alice, "leaderboard", { experiment: "e" }, "experiment");
    await fake.waitFor("choices", () => exp.choices);
    assert.deepEqual(
      exp.choices?.map((c) => c.value),
      ["exp"],
    );
  });

  test("a member without the role is refused, ephemerally, and told who may", async () => {
    const before = h.app.engine.listRuns().length;
    const i = fake.slash(bob, "run start", { dataset: "task-train", experiment: "exp" });
    const msg = await answered(i);
    assert.equal(i.ack?.type, 4, "refused at once, no defer");
    assert.ok(msg.flags & EPHEMERAL, "ephemeral");
    assert.match(FakeDiscord.text(msg), /Only role:trainers \(TUNELOOP_SPENDERS\) or an admin/);
    assert.equal(h.app.engine.listRuns().length, before);
  });

  test("a run waits for Confirm; the card is edited in place; the thread gets progress, the verdict and the result", async () => {
    const i = fake.slash(alice, "run start", { dataset: "task-train", experiment: "exp" });
    const card = await answered(i);
    assert.match(card.embeds[0]?.title ?? "", /^Run \d+ · awaiting confirmation/);
    const labels = card.components.flatMap((r) => r.components.map((b) => b.label));
    assert.deepEqual(labels, ["Confirm", "Cancel"]);
    runMessageId = card.id;
    runId = Number(/^Run (\d+)/.exec(card.embeds[0].title ?? "")?.[1]);
    // The bot stores the card's id (onPosted) once Discord has answered the reply: wait for it, not the fake's copy.
    await fake.waitFor(
      "onPosted to store the card's message id",
      () => h.app.engine.runById(runId)?.messageId === card.id,
    );

    // Bob may not confirm Alice's run: an ephemeral refusal, the run does not move.
    const refused = fake.press(bob, runMessageId, "Confirm");
    await fake.waitFor("bob's refusal", () => fake.followUps(refused)[0]);
    assert.equal(refused.ack?.type, 6);
    assert.ok(fake.followUps(refused)[0].flags & EPHEMERAL);
    assert.match(FakeDiscord.text(fake.followUps(refused)[0]), /Only role:trainers|Only alice|may confirm/i);
    assert.equal(h.app.engine.runById(runId)?.state, "awaiting_confirmation");

    const press = fake.press(alice, runMessageId, "Confirm");
    assert.ok(press);
    await fake.waitFor(
      "the run to succeed and its card to say so",
      () =>
        h.app.engine.runById(runId)?.state === "succeeded" &&
        /succeeded/.test(fake.messages.get(runMessageId)?.embeds[0]?.title ?? ""),
      20_000,
    );
    const msg = fake.messages.get(runMessageId)!;
    const titles = msg.versions!.map((v) => v.embeds[0]?.title ?? "");
    assert.ok(titles.some((t) => /queued/.test(t)) && titles.some((t) => /running/.test(t)), titles.join(" | "));
    assert.equal(
      fake
        .messagesIn(fake.channelId)
        .filter(
          (m) =>
            /^Run \d+/.test(m.embeds[0]?.title ?? "") &&
            m.id !== runMessageId &&
            /Run (\d+)/.exec(m.embeds[0].title ?? "")?.[1] === String(runId),
        ).length,
      0,
      "edited, never reposted",
    );
    assert.deepEqual(
      msg.components.flatMap((r) => r.components.map((b) => b.label)),
      ["Compare with best", "Re-run"],
    );

    const thread = fake.threadOf(runMessageId);
    assert.ok(thread, "a thread was started from the card");
    assert.equal(thread.name, `Run ${runId}`);
    assert.equal(thread.thread_metadata?.auto_archive_duration, 1440);
    const verdict = await fake.waitFor("the verdict in the thread", () =>
      fake.messagesIn(thread.id).find((m) => /Verdict for run/.test(FakeDiscord.text(m))),
    );
    const said = fake.messagesIn(thread.id).map((m) => FakeDiscord.text(m));
    assert.ok(
      said.some((s) => s.includes(`Run ${runId} started.`)),
      said.join("\n"),
    );
    assert.ok(
      said.some((s) => s.includes(`Run ${runId} succeeded.`)),
      said.join("\n"),
    );
    assert.ok(
      said.some((s) => /training: \d+\/\d+ steps/.test(s)),
      "progress lines",
    );
    assert.match(FakeDiscord.text(verdict), /run:\d+/);
    const charts = verdict.attachments.filter((a) => a.filename.endsWith(".png"));
    assert.ok(charts.length >= 1, `the verdict carries its PNG charts (${verdict.attachments.map((a) => a.filename)})`);
    assert.match(String((verdict.embeds[0]?.image as { url?: string } | undefined)?.url), /^attachment:\/\/.+\.png$/);
    assert.equal(
      fake.requests.filter((r) => r.method === "POST" && /\/threads$/.test(r.path)).length,
      1,
      "one thread, cached",
    );
  });

  test("a stale button gets the command's own answer, ephemerally", async () => {
    const i = fake.pressId(alice, runMessageId, `tune:run confirm ${runId}`);
    const reply = await fake.waitFor("the stale answer", () => fake.followUps(i)[0]);
    assert.ok(reply.flags & EPHEMERAL);
    assert.match(
      FakeDiscord.text(reply),
      new RegExp(`Run ${runId} is succeeded; only a run awaiting confirmation can be confirmed`),
    );
  });

  test("Re-run posts a new card whose buttons work; a duplicate delivery never starts a second run", async () => {
    const before = h.app.engine.listRuns().length;
    const i = fake.press(alice, runMessageId, "Re-run");
    const card = await fake.waitFor("the new run's card", () => fake.followUps(i)[0]);
    assert.equal(card.flags & EPHEMERAL, 0);
    assert.match(card.embeds[0]?.title ?? "", /^Run \d+ · awaiting confirmation/);
    const newId = Number(/^Run (\d+)/.exec(card.embeds[0].title ?? "")?.[1]);
    await fake.waitFor("onPosted to store the new card's id", () => h.app.engine.runById(newId)?.messageId === card.id);

    const dup = fake.slash(alice, "run start", { dataset: "task-train", experiment: "exp", seed: 7 });
    fake.redeliver(dup);
    fake.redeliver(dup);
    await answered(dup);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.app.engine.listRuns().length, before + 2, "one for the re-run, one for the three deliveries");
    assert.deepEqual(dup.refused, [], "answered once, never 'already acknowledged'");

    const cancel = fake.press(alice, card.id, "Cancel");
    await fake.waitFor("the cancelled card", () =>
      /cancelled/.test(fake.messages.get(card.id)?.embeds[0]?.title ?? ""),
    );
    assert.equal(cancel.ack?.type, 6);
    assert.equal(h.app.engine.runById(newId)?.state, "cancelled");
  });

  test("a chart goes into the run's thread as a file (and as the embed's image)", async () => {
    const png = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex");
    await h.app.chat!.post(
      fake.channelId,
      {
        title: "Loss by step",
        blocks: [text("training loss")],
        files: [{ name: "loss.png", content: png, mime: "image/png" }],
      },
      { threadId: runMessageId },
    );
    const thread = fake.threadOf(runMessageId)!;
    const msg = fake.messagesIn(thread.id).at(-1)!;
    assert.deepEqual(
      msg.attachments.map((a) => a.filename),
      ["loss.png"],
    );
    assert.equal(msg.embeds[0]?.image && (msg.embeds[0].image as { url: string }).url, "attachment://loss.png");
    const sent = fake.requests.filter((r) => r.files.some((f) => f.name === "loss.png")).at(-1);
    assert.ok(sent?.files[0].data.equals(png), "the bytes arrived intact");
  });

  test("a card over Discord's limits is cut to fit and sent whole as a text file", async () => {
    const long = {
      title: "Big",
      blocks: [
        text("x".repeat(9000)),
        {
          type: "fields" as const,
          fields: Array.from({ length: 40 }, (_, k) => [`f${k}`, "v".repeat(1500)] as [string, string]),
        },
      ],
    };
    const { messageId } = await h.app.chat!.post(fake.channelId, long);
    const msg = fake.messages.get(messageId)!;
    assert.deepEqual(messageProblems(msg), []);
    assert.deepEqual(
      msg.attachments.map((a) => a.filename),
      ["big-full.txt"],
    );
    assert.match(msg.embeds[0].footer?.text ?? "", /whole reply is in big-full.txt/);
  });

  test("a 429 from the REST API is waited out (Retry-After), then the message goes through", async () => {
    fake.rateLimit("POST", /^\/channels\/\d+\/messages$/, { retryAfter: 1 });
    const t0 = Date.now();
    const { messageId } = await h.app.chat!.post(fake.channelId, { blocks: [text("after a 429")] });
    assert.equal(fake.rateLimited.length, 1);
    const ok = fake.requests.find((r) => r.status === 200 && r.json?.content === "after a 429");
    assert.ok(
      ok && ok.at - fake.rateLimited[0].at >= 900,
      `retried ${ok ? ok.at - fake.rateLimited[0].at : "?"} ms after the 429`,
    );
    assert.ok(Date.now() - t0 >= 900);
    assert.equal(fake.messages.get(messageId)?.content, "after a 429");
  });

  test("a dropped gateway connection is resumed (RESUME with the session id and last seq) and missed events replayed", async () => {
    const lastSeq = Math.max(...fake.gateway.filter((f) => f.dir === "out" && f.op === 0).map((f) => f.s ?? 0));
    const ready = fake.gateway.find((f) => f.t === "READY");
    const sessionId = (ready?.d as { session_id: string } | undefined)?.session_id;
    assert.ok(sessionId);
    fake.disconnect(4000);
    await fake.waitFor("the socket to close", () => fake.connected === 0);
    const missed = fake.slash(alice, "dataset list"); // sent while the bot is away: buffered for the resume
    const resume = await fake.waitFor("RESUME", () => fake.gateway.find((f) => f.dir === "in" && f.op === 6));
    assert.equal(resume.path, "/resume", "on resume_gateway_url");
    const d = resume.d as { session_id: string; seq: number; token: string };
    assert.equal(d.session_id, sessionId);
    assert.equal(d.seq, lastSeq);
    await fake.waitFor("RESUMED", () => fake.gateway.find((f) => f.dir === "out" && f.t === "RESUMED"));
    const msg = await answered(missed);
    assert.match(FakeDiscord.text(msg), /parcels/);
    assert.equal(fake.gateway.filter((f) => f.dir === "in" && f.op === 2).length, 1, "no second IDENTIFY");
  });

  test("a file dropped in a watched channel is ingested, and the answer replies to it", async () => {
    const att = fake.addAttachment(fake.watchChannelId, "tickets.jsonl", jsonl(12, 100));
    const ignored = fake.addAttachment(fake.watchChannelId, "screenshot.png", Buffer.from("png"), "image/png");
    const dropped = fake.post(alice, fake.watchChannelId, "", [att, ignored]);
    const reply = await fake.waitFor("the upload card", () =>
      fake
        .messagesIn(fake.watchChannelId)
        .find(
          (m) =>
            m.message_reference?.message_id === dropped.id &&
            /tickets/.test(FakeDiscord.text(m)) &&
            !/Reading/.test(m.content),
        ),
    );
    assert.equal(reply.type, 19, "a reply");
    assert.ok(h.app.datasets.names().includes("tickets"));
    assert.equal(
      fake.messagesIn(fake.watchChannelId).filter((m) => m.message_reference?.message_id === dropped.id).length,
      1,
      "one answer (the png was left alone)",
    );
    assert.deepEqual(leftovers(h.dataDir), []);
  });

  test("the bot token never appears in a message or a log line", async () => {
    const i = fake.slash(alice, "dataset show", { dataset: fake.token });
    const msg = await answered(i);
    assert.match(FakeDiscord.text(msg), /\[redacted\]/);
    for (const r of fake.requests) {
      assert.ok(!JSON.stringify(r.json ?? {}).includes(fake.token), `${r.method} ${r.path} carried the token`);
      for (const f of r.files) assert.ok(!f.data.toString("latin1").includes(fake.token));
    }
    const log = fs.readFileSync(h.logFile, "utf8");
    assert.ok(log.length > 0);
    assert.ok(!log.includes(fake.token), "the log holds the token");
    for (const inter of fake.interactions.values())
      assert.deepEqual(inter.refused, [], `interaction ${inter.id} answered twice or late`);
  });
});
