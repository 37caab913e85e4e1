/**
 * Slack, tried as an attacker would: signed requests through Bolt's real HTTPReceiver against the fake Web API.
 * A chat message never names a path on the bot's host (slash command text, the text typed with a dropped file,
 * every disguise of --file and --out), a user group named like an admin's id grants nothing, a request stamped in
 * the future is refused like a stale one, and a partial secret never reaches a reply or the log.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { COLOURS } from "../../engine/engine-helpers.ts";
import { fileShareEvent, postSigned, slashCommandBody, waitFor } from "../../fakes/slack.ts";
import { tmpDir } from "../../helpers.ts";
import { BOT_TOKEN, blocksText, firstResponse, type Harness, SIGNING_SECRET, startHarness } from "./harness.ts";

const CH = "C0TUNE0001";
const ALICE = "U0ALICE01"; // a spender
const MALLORY = "U0MALLORY"; // in a user group whose handle spells the admin's id
const ADMIN = "U0ADMIN01";
const BOB = "U0BOB0001"; // a spender who has shared nothing

const rows = (n: number) =>
  `${Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `What colour is item ${i}?` },
        { role: "assistant", content: COLOURS[i % 4] },
      ],
    }),
  ).join("\n")}\n`;

/** A file on the bot's host that no chat member uploaded: a marker the replies must never show. */
const MARKER = "HOSTSECRET-7f3a9c-DO-NOT-LEAK";
const hostDir = tmpDir("host-files");
const hostFile = path.join(hostDir, ".env");
fs.writeFileSync(hostFile, `${MARKER}=1\nOPENAI_API_KEY=sk-host-only\n`);
const hostJsonl = path.join(hostDir, "host.jsonl");
fs.writeFileSync(hostJsonl, rows(20).replace("What colour", MARKER));
const relative = path.relative(process.cwd(), hostFile);

describe("Slack: hostile input", () => {
  let h: Harness;

  /** Everything the bot sent to Slack, as one string. */
  const sent = () =>
    JSON.stringify([
      h.fake.calls.map((c) => c.args),
      h.fake.responses,
      h.fake.ephemerals,
      h.fake.messages.map((m) => m.history),
    ]);

  before(async () => {
    h = await startHarness({
      env: { TUNELOOP_SPENDERS: `${ALICE},${BOB}`, TUNELOOP_ADMINS: ADMIN },
      fake: {
        users: { [ALICE]: { name: "alice" }, [MALLORY]: { name: "mallory" } },
        usergroups: [
          { id: "S0FAKEADM", handle: ADMIN.toLowerCase(), users: [MALLORY] },
          { id: "S0FAKESPD", handle: ALICE.toLowerCase(), users: [MALLORY] },
        ],
      },
    });
    // Alice has shared a dataset lately, so /tune dataset upload has a real upload to take.
    const file = h.fake.addFile({ name: "task.jsonl", content: rows(40), user: ALICE });
    const ev = fileShareEvent(h.fake, file, { channel: CH, user: ALICE });
    await h.event(ev);
    await waitFor(
      "the shared file's report",
      () => h.fake.threadOf(CH, String(ev.ts)).find((m) => /task@v1/.test(blocksText(m.blocks))),
      20_000,
    );
  });

  after(async () => {
    await h?.close();
  });

  const hostile: Array<[line: string, option: string]> = [
    ["dataset upload --file /etc/passwd", "--file"],
    [`dataset upload --file=${relative}`, "--file"],
    [`dataset upload evil --file ${hostJsonl}`, "--file"],
    [`dataset upload evil "--file" "${hostJsonl}"`, "--file"],
    [`dataset upload evil --file="${hostFile}"`, "--file"],
    [`dataset upload evil --FILE ${hostJsonl}`, "--file"],
    [`dataset upload evil \uff0d\uff0d\uff46\uff49\uff4c\uff45 ${hostJsonl}`, "--file"], // fullwidth －－ｆｉｌｅ
    [`dataset upload evil \u2014file ${hostJsonl}`, "--file"], // an em dash, as autocorrect types --
    [`dataset upload evil --fi\u200ble ${hostJsonl}`, "--file"], // a zero-width space inside
    [`dataset upload evil \u201c--file\u201d ${hostJsonl}`, "--file"], // curly quotes
    [`dataset export task --out ${path.join(hostDir, "evil.jsonl")}`, "--out"],
    [`dataset export task --format together --out=${path.join(hostDir, "evil2.jsonl")}`, "--out"],
    [`dataset export task --OUT ${path.join(hostDir, "evil3.jsonl")}`, "--out"],
  ];

  for (const [line, option] of hostile) {
    test(`refused: /tune ${line}`, async () => {
      const versionsBefore = h.app.datasets.list().length;
      const r = await h.slash(line, { user: ALICE, channel: CH });
      assert.equal(r.status, 200);
      const resp = await firstResponse(h, r.responseUrl, "the refusal");
      assert.equal(resp.body.response_type, "ephemeral");
      const t = blocksText(resp.body.blocks);
      assert.match(t, /host_path_refused/);
      assert.ok(t.includes(option), `names ${option}: ${t}`);
      assert.match(t, option === "--file" ? /upload|attach/i : /attached to the reply|comes back as a file/i);
      assert.equal(h.app.datasets.list().length, versionsBefore, "nothing stored");
      assert.ok(!h.app.datasets.names().includes("evil"));
      assert.ok(!fs.existsSync(path.join(hostDir, "evil.jsonl")));
      assert.ok(!fs.existsSync(path.join(hostDir, "evil2.jsonl")));
      assert.ok(!fs.existsSync(path.join(hostDir, "evil3.jsonl")));
      const all = sent();
      assert.ok(!all.includes(MARKER), "no byte of a host file reached Slack");
      assert.ok(!/root:x:0:0/.test(all), "no line of /etc/passwd reached Slack");
    });
  }

  test("the text typed with a dropped file cannot name a host file either, and the file is not downloaded", async () => {
    const file = h.fake.addFile({ name: "mine.jsonl", content: rows(10), user: ALICE });
    const ev = fileShareEvent(h.fake, file, {
      channel: CH,
      user: ALICE,
      text: `tune dataset upload evil --file ${hostJsonl}`,
    });
    await h.event(ev);
    const refusal = await waitFor("the refusal", () =>
      h.fake.ephemerals.find((e) => e.user === ALICE && /host_path_refused/.test(blocksText(e.blocks))),
    );
    assert.match(blocksText(refusal.blocks), /--file/);
    assert.equal(h.fake.downloads.filter((d) => d.fileId === file.id).length, 0, "refused before the download");
    assert.ok(!h.app.datasets.names().includes("evil"));
    assert.ok(!sent().includes(MARKER));
  });

  test("a plain export still comes back as a file attached to the reply", async () => {
    const r = await h.slash("dataset export task --format together", { user: ALICE, channel: CH });
    const msg = await waitFor("the export", () =>
      h.fake.messages.find((m) => /Exported task@v1 as together/.test(blocksText(m.blocks))),
    );
    await waitFor("its file", () => h.fake.threadOf(CH, msg.ts).find((m) => m.files?.length));
    assert.equal(r.status, 200);
  });

  test("/tune dataset upload never takes a file that someone else shared", async () => {
    const other = h.fake.addFile({ name: "theirs.jsonl", content: rows(12), user: ADMIN });
    other.channels.push(CH);
    other.shares[CH] = [{ ts: `${Math.floor(Date.now() / 1000)}.000777` }];
    // Bob has shared nothing: files.list (asked for Bob's files) must not hand over the admin's.
    const r = await h.slash("dataset upload stolen", { user: BOB, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "the answer");
    assert.match(blocksText(resp.body.blocks), /attachment_required/);
    assert.ok(!h.app.datasets.names().includes("stolen"));
  });

  test("a user group whose handle spells an admin's or a spender's id grants nothing", async () => {
    const r = await h.slash("dataset split task --eval 25%", { user: MALLORY, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "the refusal");
    assert.match(blocksText(resp.body.blocks), /permission_denied/);
    assert.ok(!h.app.datasets.names().includes("task-train"), "nothing was split");
  });

  test("a request stamped more than 5 minutes in the future is refused like a stale one; small skew is fine", async () => {
    const responsesBefore = h.fake.responses.length;
    const body = (text: string) =>
      slashCommandBody({ text, userId: ALICE, channelId: CH, responseUrl: h.fake.responseUrl() });
    const now = Math.floor(Date.now() / 1000);
    const future = await postSigned(h.events, SIGNING_SECRET, body("help"), { timestamp: now + 6 * 60 });
    assert.equal(future.status, 401);
    const farFuture = await postSigned(h.events, SIGNING_SECRET, body("help"), { timestamp: now + 86_400 * 365 });
    assert.equal(farFuture.status, 401);
    const stale = await postSigned(h.events, SIGNING_SECRET, body("help"), { timestamp: now - 6 * 60 });
    assert.equal(stale.status, 401);
    const skewed = body("help");
    const ok = await postSigned(h.events, SIGNING_SECRET, skewed, { timestamp: now + 60 });
    assert.equal(ok.status, 200);
    const responseUrl = new URLSearchParams(skewed).get("response_url") as string;
    await firstResponse(h, responseUrl, "the answer to the skewed request");
    assert.equal(h.fake.responses.length, responsesBefore + 1, "only the request within 5 minutes was answered");
  });

  test("a partial secret (any 8+ characters of one) never reaches a reply or the log", async () => {
    const part = BOT_TOKEN.slice(7, 27);
    const r = await h.slash(`dataset show ${part}`, { user: ALICE, channel: CH });
    const resp = await firstResponse(h, r.responseUrl, "the reply");
    assert.match(blocksText(resp.body.blocks), /\[redacted\]/);
    const all = sent();
    for (let i = 0; i + 8 <= part.length; i++) assert.ok(!all.includes(part.slice(i, i + 8)), part.slice(i, i + 8));
    const log = fs.readFileSync(h.logFile, "utf8");
    assert.ok(!log.includes(part.slice(0, 8)) && !log.includes(part.slice(-8)), "no partial secret in the log");
  });
});
