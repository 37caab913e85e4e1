/**
 * Socket Mode against a local WebSocket server: apps.connections.open (with the app-level token) hands out the
 * fake's ws:// URL, the server says hello, then sends envelopes as Slack does; the adapter acks each envelope
 * and answers through the Web API / response_url as in HTTP mode.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { waitFor } from "../../fakes/slack.ts";
import { APP_TOKEN, blocksText, firstResponse, type Harness, startHarness } from "./harness.ts";

describe("Slack in Socket Mode", () => {
  let h: Harness;

  before(async () => {
    h = await startHarness({ socket: true, fake: { users: { U0SOCK001: { name: "sam" } } } });
  });
  after(async () => {
    await h.close();
  });

  test("connects with the app-level token and no HTTP port", async () => {
    assert.equal(h.slack.mode, "socket");
    assert.equal(h.slack.port, undefined);
    const open = h.fake.callsOf("apps.connections.open");
    assert.equal(open.length, 1);
    assert.equal(open[0].token, APP_TOKEN);
    assert.equal(h.fake.socket.connections, 1);
  });

  test("a slash command envelope is acked and answered", async () => {
    const responseUrl = h.fake.responseUrl();
    const envelopeId = crypto.randomUUID();
    const t0 = Date.now();
    h.fake.socket.send({
      envelope_id: envelopeId,
      type: "slash_commands",
      accepts_response_payload: true,
      payload: {
        token: "x",
        team_id: "T0TEST",
        team_domain: "tuneloop-test",
        channel_id: "C0SOCK001",
        channel_name: "ml",
        user_id: "U0SOCK001",
        user_name: "sam",
        command: "/tune",
        text: "help dataset",
        api_app_id: "A0TEST",
        response_url: responseUrl,
        trigger_id: "13345224609.738474920.8088930838d88f008e0",
      },
    });
    await waitFor("ack", () => h.fake.socket.received.find((m) => m.envelope_id === envelopeId));
    assert.ok(Date.now() - t0 < 3000, "acked within 3 s");
    const resp = await firstResponse(h, responseUrl, "help");
    assert.match(blocksText(resp.body.blocks), /\/tune dataset upload/);
  });

  test("an events_api envelope (App Home) is acked and handled; a retried one is acked again", async () => {
    const event = {
      type: "app_home_opened",
      user: "U0SOCK001",
      channel: "D0SOCK001",
      tab: "home",
      event_ts: "1712345678.000100",
    };
    const payload = {
      token: "x",
      team_id: "T0TEST",
      api_app_id: "A0TEST",
      type: "event_callback",
      event_id: "Ev0SOCK0001",
      event_time: 1712345678,
      event,
    };
    h.fake.socket.send({
      envelope_id: "env-1",
      type: "events_api",
      accepts_response_payload: false,
      retry_attempt: 0,
      retry_reason: "",
      payload,
    });
    await waitFor("ack", () => h.fake.socket.received.find((m) => m.envelope_id === "env-1"));
    const home = await waitFor("home published", () => h.fake.homes.get("U0SOCK001"));
    assert.match(blocksText(home), /Your recent runs/);
    h.fake.socket.send({
      envelope_id: "env-2",
      type: "events_api",
      accepts_response_payload: false,
      retry_attempt: 1,
      retry_reason: "timeout",
      payload,
    });
    await waitFor("ack of the retry", () => h.fake.socket.received.find((m) => m.envelope_id === "env-2"));
  });
});
