/** The Slack adapter's pieces on their own: settings, Block Kit rendering within Slack's limits, the outbox. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { webApi } from "@slack/bolt";
import { Outbox } from "../../../src/adapters/slack/outbox.ts";
import { chunkText, escapeMrkdwn, renderCard } from "../../../src/adapters/slack/render.ts";
import { slackSettings } from "../../../src/adapters/slack/settings.ts";
import { commandText } from "../../../src/adapters/slack/context.ts";
import { typedCommand } from "../../../src/adapters/slack/listeners/file-share.ts";
import { isTuneError } from "../../../src/errors.ts";
import type { Card } from "../../../src/core/cards.ts";

describe("slack settings", () => {
  test("null without a bot token; HTTP mode with the signing secret; Socket Mode with an app token", () => {
    assert.equal(slackSettings({}), null);
    const http = slackSettings({
      SLACK_BOT_TOKEN: "xoxb-1-2-abc",
      SLACK_SIGNING_SECRET: "abcdef0123456789",
      PORT: "0",
    });
    assert.equal(http?.mode, "http");
    assert.equal(http?.port, 0);
    assert.equal(http?.apiUrl, "https://slack.com/api/");
    const sock = slackSettings({
      SLACK_BOT_TOKEN: "xoxb-1-2-abc",
      SLACK_APP_TOKEN: "xapp-1-A-1-abc",
      SLACK_API_URL: "http://127.0.0.1:9/api",
    });
    assert.equal(sock?.mode, "socket");
    assert.equal(sock?.apiUrl, "http://127.0.0.1:9/api/", "a trailing slash is added");
  });

  test("a bad value is a TuneError naming the setting, never showing a token", () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { SLACK_BOT_TOKEN: "xapp-wrong-kind-secretvalue", SLACK_SIGNING_SECRET: "abcdef0123456789" },
        /SLACK_BOT_TOKEN=\(hidden\): must be a bot token/,
      ],
      [{ SLACK_BOT_TOKEN: "xoxb-1-2-abc", SLACK_SIGNING_SECRET: "abcdef0123456789", PORT: "http" }, /PORT="http"/],
      [
        { SLACK_BOT_TOKEN: "xoxb-1-2-abc", SLACK_SIGNING_SECRET: "abcdef0123456789", SLACK_API_URL: "slack" },
        /SLACK_API_URL="slack"/,
      ],
      [{ SLACK_BOT_TOKEN: "xoxb-1-2-abc", SLACK_APP_TOKEN: "xoxb-not-app-secretvalue" }, /SLACK_APP_TOKEN=\(hidden\)/],
      [{ SLACK_BOT_TOKEN: "xoxb-1-2-abc" }, /SLACK_SIGNING_SECRET is not set/],
    ];
    for (const [env, re] of cases) {
      try {
        slackSettings(env);
        assert.fail(`accepted ${JSON.stringify(env)}`);
      } catch (err) {
        assert.ok(isTuneError(err), String(err));
        assert.equal(err.code, "config_invalid");
        assert.match(err.message, re);
        assert.ok(!err.message.includes("secretvalue"), err.message);
      }
    }
  });
});

describe("Block Kit rendering", () => {
  const secrets = ["xoxb-super-secret-token"];

  test("escapes mrkdwn (echoed text can never ping @here or a group) but keeps channel links and links; scrubs secrets", () => {
    assert.equal(
      escapeMrkdwn("a <b> & <#C1> <https://x.y|z> <!here> <!subteam^S1> <@U123>"),
      "a &lt;b&gt; &amp; <#C1> <https://x.y|z> &lt;!here&gt; &lt;!subteam^S1&gt; &lt;@U123&gt;",
    );
    const r = renderCard(
      { title: "T xoxb-super-secret-token", blocks: [{ type: "text", text: "token xoxb-super-secret-token" }] },
      { secrets },
    );
    assert.ok(!JSON.stringify(r).includes("xoxb-super-secret-token"));
    assert.match(JSON.stringify(r), /\[redacted\]/);
  });

  test("buttons carry their command; danger asks first", () => {
    const r = renderCard(
      {
        blocks: [{ type: "text", text: "x" }],
        actions: [
          { id: "confirm", label: "Confirm", command: "run confirm 7", style: "primary" },
          { id: "cancel", label: "Cancel", command: "run cancel 7", style: "danger" },
        ],
      },
      { secrets },
    );
    const actions = r.blocks.find((b) => b.type === "actions") as {
      elements: Array<{ action_id: string; value: string; style?: string; confirm?: unknown }>;
    };
    assert.deepEqual(
      actions.elements.map((e) => [e.action_id, e.value, e.style]),
      [
        ["tune:confirm", "run confirm 7", "primary"],
        ["tune:cancel", "run cancel 7", "danger"],
      ],
    );
    assert.ok(actions.elements[1].confirm);
  });

  test("never over 50 blocks, 3,000 characters a section, or ~12k in all: cut with a note and the full text as a file", () => {
    const huge: Card = {
      title: "Big",
      blocks: [
        { type: "text", text: "y".repeat(7000) },
        {
          type: "table",
          columns: ["a", "b"],
          rows: Array.from({ length: 400 }, (_, i) => [`row ${i}`, "v".repeat(30)]),
        },
        ...Array.from({ length: 80 }, (_, i) => ({ type: "text" as const, text: `t${i}` })),
      ],
      actions: [{ id: "rerun", label: "Re-run", command: "run rerun 1" }],
    };
    const r = renderCard(huge, { secrets, footer: "<@U1> · `/tune x`" });
    assert.ok(r.blocks.length <= 50);
    assert.ok(JSON.stringify(r.blocks).length <= 12_000, `${JSON.stringify(r.blocks).length}`);
    for (const b of r.blocks) if (b.type === "section") assert.ok((b.text?.text.length ?? 0) <= 3000);
    assert.ok(r.truncated);
    assert.equal(r.blocks.at(-1)?.type, "context", "the footer stays");
    assert.ok(
      r.blocks.some((b) => b.type === "actions"),
      "the buttons stay",
    );
    const full = r.files.find((f) => f.name === "big-full.txt");
    assert.ok(full && String(full.content).includes("row 399"));
    // many small blocks: the 50-block limit
    const many = renderCard(
      { blocks: Array.from({ length: 200 }, (_, i) => ({ type: "divider" as const, i })) },
      { secrets },
    );
    assert.ok(many.blocks.length <= 50 && many.truncated);
    // ephemeral: no file, a note instead
    const eph = renderCard(huge, { secrets, ephemeral: true });
    assert.equal(eph.files.length, 0);
  });

  test("chunks at line ends", () => {
    const parts = chunkText(`${"a".repeat(60)}\n${"b".repeat(60)}`, 100);
    assert.deepEqual(
      parts.map((p) => p.length),
      [60, 60],
    );
  });
});

describe("typed text", () => {
  test("Slack's escapes, links and curly quotes become plain command text", () => {
    assert.equal(
      commandText("hypothesis exp \u2018it helps\u2019 &amp; &lt;x&gt; <https://a.b/c|a.b/c> <@U1|bob>"),
      "hypothesis exp 'it helps' & <x> https://a.b/c <@U1>",
    );
    assert.equal(typedCommand("tune dataset upload support --drop-bad-rows"), "dataset upload support --drop-bad-rows");
    assert.equal(typedCommand("/tune"), "dataset upload");
    assert.equal(typedCommand("here is the data"), null);
  });
});

describe("outbox", () => {
  const limited = (sec: number) =>
    Object.assign(new Error("rate limited"), { code: webApi.ErrorCode.RateLimitedError, retryAfter: sec });

  test("one channel: writes at least the interval apart (default ~1/s); other channels do not wait", async () => {
    const ob = new Outbox({ intervalMs: 1000 });
    const at: Array<[string, number]> = [];
    const t0 = Date.now();
    const w = (ch: string) => ob.send(ch, async () => at.push([ch, Date.now() - t0]));
    await Promise.all([w("C1"), w("C1"), w("C1"), w("C2")]);
    const c1 = at.filter(([c]) => c === "C1").map(([, t]) => t);
    assert.ok(c1[1] - c1[0] >= 990 && c1[2] - c1[1] >= 990, JSON.stringify(c1));
    // C2 went out before C1's second write (which waited its interval), whatever the machine's load
    const order = at.map(([c]) => c);
    assert.ok(order.indexOf("C2") < order.lastIndexOf("C1") - 1, `C2 did not wait for C1: ${order}`);
    await ob.close(100);
  });

  test("edits of one message waiting in the queue collapse into the newest", async () => {
    const ob = new Outbox({ intervalMs: 100 });
    const sent: string[] = [];
    const jobs = ["first", "v1", "v2", "v3"].map((v, i) =>
      ob.send("C1", async () => sent.push(v), i === 0 ? undefined : "update:1"),
    );
    await Promise.all(jobs);
    assert.deepEqual(sent, ["first", "v3"]);
    await ob.close(100);
  });

  test("a 429 holds the channel for Retry-After, then sends the same call again", async () => {
    const ob = new Outbox({ intervalMs: 10 });
    let calls = 0;
    const at: number[] = [];
    const t0 = Date.now();
    const first = ob.send("C1", async () => {
      at.push(Date.now() - t0);
      if (++calls === 1) throw limited(1);
      return "ok";
    });
    const second = ob.send("C1", async () => at.push(Date.now() - t0));
    assert.equal(await first, "ok");
    await second;
    assert.ok(at[1] >= 990, `retried after ${at[1]} ms`);
    assert.ok(at[2] >= at[1], "the next write waited too");
    await ob.close(100);
  });
});

describe("manifest", () => {
  test("declares /tune, the scopes and events the adapter uses, interactivity, and the events URL", async () => {
    const fs = await import("node:fs");
    const text = fs.readFileSync(new URL("../../../src/adapters/slack/manifest.yml", import.meta.url), "utf8");
    assert.match(text, /- command: \/tune\n/);
    for (const scope of [
      "chat:write",
      "commands",
      "files:read",
      "files:write",
      "channels:history",
      "groups:history",
      "users:read",
      "usergroups:read",
    ]) {
      assert.match(text, new RegExp(`^\\s+- ${scope}$`, "m"), scope);
    }
    for (const ev of ["message.channels", "message.groups", "app_home_opened"])
      assert.match(text, new RegExp(`^\\s+- ${ev}$`, "m"), ev);
    assert.match(text, /interactivity:\n\s+is_enabled: true/);
    assert.equal(
      text.match(/url: https:\/\/tuneloop\.example\.com\/slack\/events$/gm)?.length,
      3,
      "slash command, events and interactivity all at /slack/events",
    );
    assert.match(text, /socket_mode_enabled: false/);
    assert.ok(!text.includes("\t"), "YAML has no tabs");
  });
});

describe("downloads", () => {
  test("without the bot token Slack answers with its sign-in page: refused with what to do", async () => {
    const { startFakeSlack } = await import("../../fakes/slack.ts");
    const { SlackApi } = await import("../../../src/adapters/slack/api.ts");
    const { pino } = await import("pino");
    const fake = await startFakeSlack({ botToken: "xoxb-right-token-000" });
    try {
      const f = fake.addFile({ name: "d.jsonl", content: "{}\n", user: "U1" });
      const api = new SlackApi(
        { botToken: "xoxb-wrong-token-000", mode: "http", port: 0, apiUrl: fake.apiUrl },
        pino({ level: "silent" }),
        [],
      );
      const dest = `${process.env.TMPDIR ?? "/tmp"}/slack-dl-${process.pid}.jsonl`;
      await assert.rejects(api.download(fake.fileObject(f) as never, dest, 1e6), /sign-in page.*files:read/);
      assert.deepEqual(
        fake.downloads.map((d) => d.authorized),
        [false],
      );
      const small = new SlackApi(
        { botToken: "xoxb-right-token-000", mode: "http", port: 0, apiUrl: fake.apiUrl },
        pino({ level: "silent" }),
        [],
      );
      await assert.rejects(small.download(fake.fileObject(f) as never, dest, 1), /TUNELOOP_MAX_UPLOAD_MB/);
      await small.download(fake.fileObject(f) as never, dest, 1e6);
      const fs = await import("node:fs");
      assert.equal(fs.readFileSync(dest, "utf8"), "{}\n");
      fs.rmSync(dest);
    } finally {
      await fake.close();
    }
  });
});
