/**
 * The chat kernel, row by row of docs/platforms.md, against an in-memory platform (test/fakes/memory-chat.ts):
 * what every platform gets because the kernel decides it (dedupe in the database, preflight before the download,
 * run presence, buttons, thread replies as discussion, the overview, autocomplete, one list of file types). The same
 * rows run against the Slack and Discord fakes in test/adapters/{slack,discord}/parity.test.ts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { registry } from "../../commands/index.ts";
import { chatFields } from "../../src/adapters/discord/commands.ts";
import { ButtonCommands, renderMessage } from "../../src/adapters/discord/render.ts";
import { isDatasetFile } from "../../src/adapters/slack/context.ts";
import { renderCard as renderSlack } from "../../src/adapters/slack/render.ts";
import type { App } from "../../src/app.ts";
import { completeKindOf } from "../../src/chat/complete.ts";
import { DATASET_FILE_TYPES, isDatasetFileName } from "../../src/chat/files.ts";
import { ChatKernel } from "../../src/chat/kernel.ts";
import { renderCard as plainText } from "../../src/chat/text.ts";
import type { InboundFile } from "../../src/chat/types.ts";
import { engineApp, seedExperiment, writeTask } from "../engine/engine-helpers.ts";
import { MemoryChat } from "../fakes/memory-chat.ts";
import { tmpDir } from "../helpers.ts";

const CH = "C1";
const alice = { id: "U0ALICE01", name: "alice" };
const bob = { id: "U0BOB0001", name: "bob" };

describe("chat kernel parity (in-memory platform)", () => {
  let app: App;
  let dataDir: string;
  let chat: MemoryChat;
  let kernel: ChatKernel;
  let detach: () => void;

  before(async () => {
    ({ app, dataDir } = await engineApp({
      env: { TUNELOOP_CONFIRM_ABOVE_USD: "0", TUNELOOP_SPENDERS: "user:U0ALICE01" },
    }));
    await seedExperiment(app);
    chat = new MemoryChat();
    kernel = new ChatKernel(app, chat);
    detach = kernel.attach({ threadEveryMs: 0, cardEveryMs: 0 });
  });

  after(async () => {
    detach();
    await app.close();
  });

  const say = (words: string, user = alice) =>
    kernel.command(
      { kind: "command", user, channelId: CH, requestId: `r-${Math.random()}`, words },
      chat.reply(CH, user.id),
    );

  test("a retried delivery is dropped, also by a new process on the same database (dedupe survives a restart)", async () => {
    assert.equal(kernel.first("evt-1"), true);
    assert.equal(kernel.first("evt-1"), false);
    const { app: again } = await engineApp({ dataDir });
    try {
      assert.equal(new ChatKernel(again, new MemoryChat()).first("evt-1"), false, "remembered across a restart");
      assert.equal(new ChatKernel(again, new MemoryChat()).first("evt-2"), true);
    } finally {
      await again.close();
    }
  });

  test("preflight before the download: a host path, an unknown command or a missing permission costs no transfer", async () => {
    let fetched = 0;
    const file: InboundFile = {
      name: "x.jsonl",
      async fetch(dest) {
        fetched++;
        fs.writeFileSync(dest, "{}\n");
      },
    };
    for (const [words, user, why] of [
      ["dataset upload x --file /etc/passwd", alice, /--file|host|path/i],
      ["datasett upload", alice, /Unknown command/],
      ["dataset upload x", bob, /Only user:U0ALICE01/],
    ] as const) {
      await kernel.fileDrop(
        { kind: "file", user, channelId: CH, requestId: `p-${words}-${user.id}`, words, files: [file] },
        () => chat.reply(CH, user.id),
      );
      const last = chat.messages.at(-1);
      assert.equal(last?.onlyFor, user.id, "refused privately");
      assert.match(plainText(last!.card), why);
    }
    assert.equal(fetched, 0, "nothing was downloaded");
  });

  test("a file over the upload limit is refused before its download", async () => {
    let fetched = 0;
    await kernel.fileDrop(
      {
        kind: "file",
        user: alice,
        channelId: CH,
        requestId: "big",
        words: "dataset upload",
        files: [{ name: "big.jsonl", size: app.config.limits.maxUploadBytes + 1, fetch: async () => void fetched++ }],
      },
      () => chat.reply(CH, alice.id),
    );
    assert.equal(fetched, 0);
    assert.match(plainText(chat.messages.at(-1)!.card), /upload limit|limited to/);
  });

  test("a dropped file is downloaded into a file the bot picks, ingested, and removed", async () => {
    const src = writeTask(tmpDir("drop"), 30);
    await kernel.fileDrop(
      {
        kind: "file",
        user: alice,
        channelId: CH,
        requestId: "drop-1",
        words: "dataset upload dropped",
        files: [{ name: "../../etc/dropped.jsonl", fetch: async (dest) => fs.copyFileSync(src, dest) }],
      },
      () => chat.reply(CH, alice.id),
    );
    assert.equal(app.datasets.get("dropped").rows, 30);
    const tmp = `${dataDir}/tmp`;
    assert.ok(!fs.existsSync(tmp) || fs.readdirSync(tmp).every((f) => !f.includes("dropped")), "the download is gone");
  });

  let runMsg = "";
  let runId = 0;

  test("a run's card carries its subject, tells its run where it lives, and is kept current", async () => {
    await say("run start task-train --experiment exp");
    const card = chat.messages.findLast((m) => m.card.subject?.kind === "run" && !m.threadId);
    assert.ok(card, "a run card");
    runMsg = card.id;
    runId = card.card.subject!.id;
    assert.equal(app.runs.get(runId).messageId, runMsg);
    assert.equal(kernel.subjectOf(CH, runMsg), runId);
  });

  test("buttons: a refusal privately; the same run's card edited in place; progress and the verdict in its thread", async () => {
    const press = (user: typeof alice, command: string) =>
      kernel.button(
        { kind: "button", user, channelId: CH, requestId: `b-${Math.random()}`, command, messageId: runMsg },
        { ...chat.reply(CH, user.id), edit: (c) => chat.update(CH, runMsg, c) },
      );
    await press(bob, `run cancel ${runId}`);
    assert.equal(chat.messages.at(-1)?.onlyFor, bob.id, "refused privately");
    assert.match(plainText(chat.messages.at(-1)!.card), /Only|may cancel/i);
    assert.equal(app.runs.get(runId).state, "queued");
    app.worker.start();
    const deadline = Date.now() + 120_000;
    while (!chat.thread(runMsg).some((m) => /Verdict for run/.test(m.card.title ?? "")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await app.worker.stop();
    const msg = chat.get(runMsg)!;
    assert.match(msg.card.title ?? "", /succeeded/);
    assert.ok(msg.versions.length >= 2, "edited in place");
    // A button whose answer is the same run's card edits the pressed card instead of posting a new one.
    const edits = msg.versions.length;
    const inChannel = () => chat.messages.filter((m) => !m.threadId).length;
    const count = inChannel();
    await press(alice, `run status ${runId}`);
    assert.equal(chat.get(runMsg)!.versions.length, edits + 1);
    assert.equal(inChannel(), count, "no new message in the channel");
    assert.equal(
      chat.messages.filter((m) => !m.threadId && m.card.subject?.id === runId && m.id !== runMsg).length,
      0,
      "never reposted",
    );
    const said = chat.thread(runMsg).map((m) => plainText(m.card));
    assert.ok(
      said.some((s) => s.includes(`Run ${runId} started.`)),
      said.join("\n"),
    );
    assert.ok(said.some((s) => /Verdict for run/.test(s)));
  });

  test("thread replies become the run's discussion, once", () => {
    const reply = {
      kind: "reply" as const,
      user: bob,
      channelId: CH,
      threadId: runMsg,
      messageId: "m-reply-1",
      text: "ship it?",
      files: [],
      at: new Date(),
    };
    assert.equal(kernel.threadReply(reply), runId);
    assert.equal(kernel.threadReply(reply), runId);
    assert.deepEqual(
      app.runs.discussion(runId).map((d) => [d.user, d.text]),
      [["bob", "ship it?"]],
    );
    assert.equal(kernel.threadReply({ ...reply, threadId: "not-a-run", messageId: "m2" }), null);
  });

  test("the overview (/tune home) is computed in the core: my runs, experiments against baseline, spend", async () => {
    await say("home");
    const t = plainText(chat.messages.at(-1)!.card);
    assert.match(t, new RegExp(`#${runId} · succeeded · exp`));
    assert.match(t, /Experiments: best score against baseline/);
    assert.match(t, /Your runs: \$/);
    assert.match(plainText(kernel.overview(alice.id)), new RegExp(`#${runId} · succeeded`));
  });

  test("autocomplete comes from what the option declares in the registry", () => {
    assert.deepEqual(
      kernel
        .autocomplete(["run", "start"], "dataset", "task")
        .map((c) => c.value)
        .sort(),
      ["task", "task-eval", "task-train"].filter((n) => app.datasets.names().includes(n)).sort(),
    );
    assert.deepEqual(
      kernel.autocomplete(["leaderboard"], "experiment", "e").map((c) => c.value),
      ["exp"],
    );
    assert.equal(kernel.autocomplete(["run", "status"], "id", "").at(0)?.value, runId);
    assert.deepEqual(kernel.autocomplete(["experiment", "new"], "name", ""), [], "a new name is not suggested");
    // every declared field exists among the command's chat options
    for (const def of registry) {
      const fields = new Set(chatFields(def).map(([f]) => f));
      for (const f of Object.keys(def.complete ?? {})) {
        assert.ok(fields.has(f), `${def.path.join(" ")} declares autocomplete on ${f}, which it does not take`);
        assert.ok(completeKindOf(def, f));
      }
    }
  });

  test("buttons are identical on every platform: the same labels running the same commands", () => {
    const card = { ...chat.get(runMsg)!.card };
    assert.ok(card.actions?.length, "the run's card has buttons");
    const want = card.actions!.map((a) => [a.label, a.command]);
    const slack = renderSlack(card, { secrets: [] }).blocks.flatMap((b) =>
      b.type === "actions"
        ? (b.elements as Array<{ text: { text: string }; value: string }>).map((e) => [e.text.text, e.value])
        : [],
    );
    const buttons = new ButtonCommands();
    const discord = renderMessage(card, { secrets: [], buttons }).components.flatMap((r) =>
      r.components.map((c) => [c.label, buttons.command(c.custom_id)]),
    );
    const text = [...plainText(card).matchAll(/\[([^\]:]+): \/tune ([^\]]+)\]/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(slack, want, "Slack");
    assert.deepEqual(discord, want, "Discord");
    assert.deepEqual(text, want, "console");
  });

  test("one list of dataset file types for every platform", () => {
    for (const ext of DATASET_FILE_TYPES) {
      assert.ok(isDatasetFileName(`x.${ext}`));
      assert.ok(isDatasetFile({ id: "F1", name: `x.${ext}` }), `Slack takes .${ext}`);
    }
    for (const name of ["shot.png", "notes.txt", "a.zip", "x.jsonl.png"]) {
      assert.ok(!isDatasetFileName(name), name);
      assert.ok(!isDatasetFile({ id: "F1", name }), `Slack leaves ${name} alone`);
    }
  });
});
