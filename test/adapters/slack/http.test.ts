/**
 * The Slack adapter end to end in HTTP mode: requests signed as Slack signs them, through Bolt's HTTPReceiver,
 * against the fake Web API; the engine with a fake trainer. One person drives the whole loop: a file dropped in a
 * channel, a split and an experiment by slash commands, a run confirmed with its button, the thread filling with
 * progress and the verdict, the card edited in place, a chart uploaded into the thread, App Home.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { COLOURS, fakeEndpoint } from "../../engine/engine-helpers.ts";
import { startFakeOpenAI, type FakeEndpoint } from "../../fakes/openai-compatible.ts";
import { fileShareEvent, nextTs, postSigned, slashCommandBody, waitFor, type FakeMessage } from "../../fakes/slack.ts";
import {
  BOT_TOKEN,
  blocksText,
  firstResponse,
  type Harness,
  responsesTo,
  SIGNING_SECRET,
  startHarness,
} from "./harness.ts";

const CH = "C0TUNE0001";
const ALICE = "U0ALICE01";
const BOB = "U0BOB0001";
const CAROL = "U0CAROL01";

const taskRows = (n: number, from = 0) =>
  `${Array.from({ length: n }, (_, k) => {
    const i = k + from;
    return JSON.stringify({
      messages: [
        { role: "user", content: `What colour is item ${i}?` },
        { role: "assistant", content: COLOURS[i % 4] },
      ],
    });
  }).join("\n")}\n`;

describe("Slack over HTTP", () => {
  let h: Harness;
  let openai: FakeEndpoint;
  let runMsg: FakeMessage;
  let runId: number;

  before(async () => {
    openai = await startFakeOpenAI({ latencyMs: 0, answer: () => "I think blue" });
    h = await startHarness({
      env: {
        TUNELOOP_CONFIRM_ABOVE_USD: "0",
        TUNELOOP_SPENDERS: `${ALICE},@ml-team`,
        TUNELOOP_ADMINS: "U0ADMIN01",
      },
      endpoints: [fakeEndpoint("big", openai.baseUrl, { inputPer1M: 1, outputPer1M: 1 }, { timeoutMs: 5000 })],
      fake: {
        users: { [ALICE]: { name: "alice" }, [BOB]: { name: "bob" }, [CAROL]: { name: "carol" } },
        usergroups: [{ id: "S0MLTEAM1", handle: "ml-team", users: [CAROL] }],
        notInChannel: ["C0NOTIN01"],
      },
    });
    h.app.worker.start();
  });

  after(async () => {
    await h.close();
    await openai.close();
  });

  test("forged and stale requests get 401 and nothing runs", async () => {
    const before = h.fake.calls.length;
    const body = slashCommandBody({
      text: "dataset list",
      userId: ALICE,
      channelId: CH,
      responseUrl: h.fake.responseUrl(),
    });
    const forged = await postSigned(h.events, "not-the-secret-00000000", body);
    assert.equal(forged.status, 401);
    const stale = await postSigned(h.events, SIGNING_SECRET, body, {
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    assert.equal(stale.status, 401);
    const tampered = await postSigned(h.events, SIGNING_SECRET, body, { signature: "v0=deadbeef" });
    assert.equal(tampered.status, 401);
    // Slack's URL check when the events URL is set in the app's settings: answered with the challenge.
    const challenge = await postSigned(
      h.events,
      SIGNING_SECRET,
      JSON.stringify({
        token: "x",
        challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        type: "url_verification",
      }),
      { contentType: "application/json" },
    );
    assert.equal(challenge.status, 200);
    assert.match(challenge.text, /3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.fake.calls.length, before, "no Web API call was made");
    assert.equal(h.fake.responses.length, 0);
  });

  test("/tune help is acked at once and answered privately, grouped, with examples", async () => {
    const r = await h.slash("help", { user: BOB, channel: CH });
    assert.equal(r.status, 200);
    assert.ok(r.ms < 1000, `acked in ${r.ms.toFixed(0)} ms`);
    const resp = await firstResponse(h, r.responseUrl, "help reply");
    assert.equal(resp.body.response_type, "ephemeral");
    const t = blocksText(resp.body.blocks);
    for (const g of ["Datasets", "Runs", "Evals", "e.g. /tune run start"]) assert.match(t, new RegExp(g));
  });

  test("a file dropped in the channel is downloaded with the token, ingested, answered in its thread; a retry does nothing", async () => {
    const file = h.fake.addFile({ name: "task.jsonl", content: taskRows(80), user: ALICE });
    const ev = fileShareEvent(h.fake, file, { channel: CH, user: ALICE });
    const sent = await h.event(ev);
    assert.equal(sent.status, 200);
    const ts = String(ev.ts);
    const report = await waitFor(
      "upload report",
      () => h.fake.threadOf(CH, ts).find((m) => /Stored task@v1|task@v1/.test(blocksText(m.blocks))),
      15_000,
    );
    assert.ok(report, "the report is in the file's thread");
    assert.deepEqual(
      h.fake.downloads.map((d) => d.authorized),
      [true],
      "downloaded once, with Authorization: Bearer",
    );
    assert.equal(h.app.datasets.get("task").rows, 80);
    // Slack retries the event (X-Slack-Retry-Num): the same event id must not ingest again.
    const retry = await h.event(ev, { eventId: sent.eventId, retryNum: 1 });
    assert.equal(retry.status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.fake.downloads.length, 1);
    assert.equal(h.app.datasets.versions("task").length, 1);
    assert.ok(
      fs.readdirSync(`${h.app.config.dataDir}/tmp`).every((f) => !f.includes("slack-")),
      "the download's temp file is gone",
    );
  });

  test("a file with many bad rows gets its report in the thread and the full problem report as a file (three-step upload)", async () => {
    const bad = `${Array.from({ length: 40 }, (_, i) => JSON.stringify({ messages: [{ role: "user", content: `q${i}` }] })).join("\n")}\n${taskRows(5)}`;
    const file = h.fake.addFile({ name: "broken.jsonl", content: bad, user: ALICE });
    const ev = fileShareEvent(h.fake, file, { channel: CH, user: ALICE });
    await h.event(ev);
    const ts = String(ev.ts);
    const upload = await waitFor(
      "problem report file",
      () => h.fake.threadOf(CH, ts).find((m) => m.files?.some((f) => f.name.endsWith("-problems.txt"))),
      15_000,
    );
    const f = upload.files?.[0];
    assert.ok(f?.content.toString("utf8").includes("line"), "the full report was uploaded");
    const order = h.fake.calls
      .filter((c) => ["files.getUploadURLExternal", "files.completeUploadExternal"].includes(c.method))
      .map((c) => c.method);
    assert.deepEqual(order.slice(-2), ["files.getUploadURLExternal", "files.completeUploadExternal"]);
    const complete = h.fake.callsOf("files.completeUploadExternal").at(-1);
    assert.equal(complete?.args.thread_ts, ts, "completed into the file's thread");
    assert.ok(h.fake.uploads.some((u) => u.fileId === f?.id && u.bytes === f.content.length));
    const card = h.fake.threadOf(CH, ts).find((m) => /Nothing was stored/.test(blocksText(m.blocks)));
    assert.ok(card, "the refused report is in the thread");
    assert.throws(() => h.app.datasets.get("broken"));
  });

  test("a file shared in a thread waits for /tune dataset upload, which answers in that thread", async () => {
    const parent = nextTs();
    const file = h.fake.addFile({ name: "more.jsonl", content: taskRows(12, 500), user: ALICE });
    const ev = fileShareEvent(h.fake, file, { channel: CH, user: ALICE, thread_ts: parent });
    await h.event(ev);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.fake.downloads.filter((d) => d.fileId === file.id).length, 0, "not ingested on its own");
    const r = await h.slash("dataset upload more-rows", { user: ALICE, channel: CH });
    assert.equal(r.status, 200);
    await waitFor(
      "answer in the thread",
      () => h.fake.threadOf(CH, parent).find((m) => /more-rows@v1/.test(blocksText(m.blocks))),
      15_000,
    );
    assert.equal(h.app.datasets.get("more-rows").rows, 12);
  });

  test("a user without permission is refused, told who may, and nothing starts", async () => {
    const r = await h.slash("run start task --experiment nope", { user: BOB, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "refusal");
    assert.equal(resp.body.response_type, "ephemeral");
    const t = blocksText(resp.body.blocks);
    assert.match(t, /Only U0ALICE01, @ml-team \(TUNELOOP_SPENDERS\) or an admin may start work/);
    assert.equal(h.app.engine.listRuns().length, 0);
  });

  test("a member of a permitted user group may (roles from usergroups.list)", async () => {
    const r = await h.slash("dataset split task --eval 25% --seed 1", { user: CAROL, channel: CH });
    await waitFor(
      "split card",
      () => h.fake.messages.find((m) => !m.thread_ts && /Split task@v1/.test(blocksText(m.blocks))),
      15_000,
    );
    assert.equal(responsesTo(h.fake, r.responseUrl).length, 0, "no private refusal");
    assert.ok(h.fake.callsOf("usergroups.list").some((c) => c.args.include_users === "true"));
  });

  test("a run: card with Confirm, pressed; thread fills with progress and the verdict; card edited in place", async () => {
    await h.slash("experiment new exp --eval task-eval --baseline big:model", { user: ALICE, channel: CH });
    await waitFor(
      "experiment card",
      () => h.fake.messages.find((m) => /Created experiment exp/.test(blocksText(m.blocks))),
      10_000,
    );
    await h.slash("run start task-train --experiment exp", { user: ALICE, channel: CH });
    runMsg = await waitFor(
      "run card",
      () => h.fake.messages.find((m) => !m.thread_ts && /Run \d+ · awaiting confirmation/.test(blocksText(m.blocks))),
      15_000,
    );
    runId = Number(/Run (\d+)/.exec(blocksText(runMsg.blocks))?.[1]);
    assert.match(blocksText(runMsg.blocks), /<@U0ALICE01> · `\/tune run start task-train --experiment exp`/);
    await waitFor("message id stored", () => h.app.engine.runById(runId)?.messageId === runMsg.ts);

    // Bob may not confirm Alice's run.
    const bob = await h.press(runMsg, "tune:confirm", { user: BOB, channel: CH });
    const refused = await firstResponse(h, bob.responseUrl, "bob refused");
    assert.match(blocksText(refused.body.blocks), /Only/);
    assert.equal(h.app.engine.runById(runId)?.state, "awaiting_confirmation");

    const press = await h.press(runMsg, "tune:confirm", { user: ALICE, channel: CH });
    assert.equal(press.status, 200);
    await waitFor("run succeeded", () => h.app.engine.runById(runId)?.state === "succeeded", 30_000);
    const verdict = await waitFor(
      "verdict in the thread",
      () => h.fake.threadOf(CH, runMsg.ts).find((m) => /Verdict for run/.test(blocksText(m.blocks))),
      15_000,
    );
    assert.ok(verdict);
    const thread = h.fake.threadOf(CH, runMsg.ts).map((m) => blocksText(m.blocks));
    assert.ok(
      thread.some((t) => /training: \d+\/\d+ steps/.test(t)),
      `progress in the thread:\n${thread.join("\n---\n")}`,
    );
    assert.ok(thread.some((t) => new RegExp(`Run ${runId} succeeded`).test(t)));
    assert.ok(thread.length < 20, "progress is coalesced");
    await waitFor("card edited to succeeded", () => /succeeded/.test(blocksText(runMsg.blocks)) && runMsg);
    assert.ok(runMsg.history.length >= 3, "the card was edited in place (chat.update)");
    assert.ok(h.fake.callsOf("chat.update").some((c) => c.args.ts === runMsg.ts));
    const actions = blocksText(runMsg.blocks);
    assert.match(actions, /Compare with best/);
    assert.match(actions, /Re-run/);
  });

  test("a stale button says so privately; Compare with best answers in the thread", async () => {
    const stale = { ...runMsg, blocks: runMsg.history[0] };
    const r = await h.press(stale, "tune:cancel", { user: ALICE, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "stale answer");
    assert.equal(resp.body.response_type, "ephemeral");
    assert.match(blocksText(resp.body.blocks), /already|cannot|succeeded/i);
    assert.equal(h.app.engine.runById(runId)?.state, "succeeded");

    const before = h.fake.threadOf(CH, runMsg.ts).length;
    await h.press(runMsg, "tune:compare-best", { user: BOB, channel: CH });
    await waitFor(
      "comparison in the thread",
      () => h.fake.threadOf(CH, runMsg.ts).length > before && h.fake.threadOf(CH, runMsg.ts).at(-1),
    );
  });

  test("replies in the run's thread are kept as its discussion", async () => {
    const ts = nextTs();
    await h.event({
      type: "message",
      channel: CH,
      user: BOB,
      text: "nice, ship it?",
      ts,
      thread_ts: runMsg.ts,
      channel_type: "channel",
    });
    await waitFor("discussion stored", () => h.app.engine.runEvents(runId, "discussion").length > 0);
    const ev = h.app.engine.runEvents(runId, "discussion");
    assert.deepEqual(ev[0].data, { user: "bob", userId: BOB, text: "nice, ship it?", ts, files: [] });
    // the bot's own thread messages are not discussion
    assert.equal(ev.length, 1);
  });

  test("a chart (PNG CardFile) goes into the run's thread through the three-step upload", async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2000, 7)]);
    const chat = h.app.chat;
    assert.ok(chat);
    await chat.post(
      CH,
      {
        blocks: [{ type: "text", text: "Loss curve" }],
        files: [{ name: "loss.png", content: png, mime: "image/png", title: "Loss" }],
      },
      { threadId: runMsg.ts },
    );
    const get = h.fake.callsOf("files.getUploadURLExternal").at(-1);
    assert.equal(get?.args.filename, "loss.png");
    assert.equal(Number(get?.args.length), png.length);
    const done = h.fake.callsOf("files.completeUploadExternal").at(-1);
    assert.equal(done?.args.thread_ts, runMsg.ts);
    assert.equal(done?.args.channel_id, CH);
    const uploaded = (done?.args.files ?? []) as Array<{ id: string }>;
    assert.equal(uploaded.length, 1);
    const f = h.fake.files.get(uploaded[0].id);
    assert.ok(f?.content.equals(png), "the bytes arrived intact");
    assert.ok(
      h.fake.uploads.some((u) => u.fileId === f?.id && u.bytes === png.length),
      "POSTed to the upload URL",
    );
  });

  test("App Home shows my runs, experiments against baseline, this month's spend", async () => {
    await h.event({ type: "app_home_opened", user: ALICE, channel: "D0ALICE01", tab: "home" });
    const blocks = await waitFor("views.publish", () => h.fake.homes.get(ALICE));
    const t = blocksText(blocks);
    assert.match(t, new RegExp(`#${runId} · succeeded · exp`));
    assert.match(t, /• exp \(task-eval@v1, exact\): best run:\d+ 100\.0% vs big:model 0\.0% \(\+100\.0 pts\)/);
    assert.match(t, /Spend in/);
    assert.match(t, /Your runs: \$/);
  });

  test("a retried slash command never starts a second run", async () => {
    const n = h.app.engine.listRuns().length;
    const triggerId = "1337.42.retrytrigger";
    const a = await h.slash("run start task-train --experiment exp --seed 9", { user: ALICE, channel: CH, triggerId });
    const b = await h.slash("run start task-train --experiment exp --seed 9", {
      user: ALICE,
      channel: CH,
      triggerId,
      retryNum: 1,
    });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    await waitFor("one new run", () => h.app.engine.listRuns().length === n + 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(h.app.engine.listRuns().length, n + 1);
    const cards = h.fake.messages.filter((m) => !m.thread_ts && /--seed 9/.test(blocksText(m.blocks)));
    assert.equal(cards.length, 1);
  });

  test("a 429 holds the channel for Retry-After, then the message goes once", async () => {
    h.fake.rateLimitNext("chat.postMessage", 1);
    const n = h.fake.callsOf("chat.postMessage").length;
    await h.slash("dataset list", { user: BOB, channel: CH });
    await waitFor("posted after the 429", () => h.fake.callsOf("chat.postMessage").length >= n + 2, 10_000);
    const [limited, ok] = h.fake.callsOf("chat.postMessage").slice(n);
    assert.ok(ok.at - limited.at >= 990, `waited ${ok.at - limited.at} ms`);
    assert.deepEqual(ok.args, limited.args, "the same message, sent again");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.fake.callsOf("chat.postMessage").length, n + 2, "and only once more");
  });

  test("where the bot is not invited, the user gets the answer privately with how to invite it", async () => {
    const r = await h.slash("dataset list", { user: BOB, channel: "C0NOTIN01" });
    const resp = await firstResponse(h, r.responseUrl, "private answer");
    assert.match(blocksText(resp.body.blocks), /\/invite @tuneloop/);
  });

  test("a long reply is cut within Slack's limits, with the whole text attached", async () => {
    const chat = h.app.chat;
    assert.ok(chat);
    const blocks = Array.from({ length: 120 }, (_, i) => ({
      type: "text" as const,
      text: `paragraph ${i} ${"x".repeat(400)}`,
    }));
    const { messageId } = await chat.post(CH, { title: "Very long", blocks });
    const m = h.fake.messages.find((x) => x.ts === messageId);
    assert.ok(m && m.blocks.length <= 50);
    assert.match(blocksText(m.blocks), /Cut here/);
    await waitFor("full text file", () =>
      h.fake.threadOf(CH, messageId).find((x) => x.files?.some((f) => f.name === "very-long-full.txt")),
    );
  });

  test("tokens never appear in messages, Web API arguments or logs", async () => {
    const r = await h.slash(`dataset show ${BOT_TOKEN}`, { user: BOB, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "reply");
    assert.match(blocksText(resp.body.blocks), /\[redacted\]/);
    const everything = JSON.stringify([
      h.fake.calls.map((c) => c.args),
      h.fake.responses,
      h.fake.ephemerals,
      h.fake.messages.map((m) => m.history),
    ]);
    assert.ok(!everything.includes(BOT_TOKEN), "no bot token in anything sent to Slack");
    assert.ok(!everything.includes(SIGNING_SECRET));
    const log = fs.readFileSync(h.logFile, "utf8");
    assert.ok(log.length > 0, "something was logged");
    assert.ok(!log.includes(BOT_TOKEN) && !log.includes(SIGNING_SECRET), "no secret in the log");
  });
});
