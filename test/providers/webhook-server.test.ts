import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { signWebhook } from "../../src/providers/openai.ts";
import { startWebhookServer } from "../../src/webhooks.ts";

test("POST /webhooks/openai: a signed fine_tuning event is accepted; forged and stale ones get 401", async () => {
  const secret = `whsec_${Buffer.from("a-webhook-secret-of-enough-bytes").toString("base64")}`;
  const srv = await startWebhookServer({ port: 0, openaiSecret: secret, log: pino({ level: "silent" }) });
  try {
    const url = `http://127.0.0.1:${srv.port}/webhooks/openai`;
    const body = JSON.stringify({ id: "evt_1", type: "fine_tuning.job.succeeded", data: { id: "ftjob-1" } });
    const ts = String(Math.floor(Date.now() / 1000));
    const ok = await fetch(url, {
      method: "POST",
      body,
      headers: {
        "webhook-id": "evt_1",
        "webhook-timestamp": ts,
        "webhook-signature": signWebhook(secret, "evt_1", ts, body),
      },
    });
    assert.equal(ok.status, 200);
    const forged = await fetch(url, {
      method: "POST",
      body,
      headers: { "webhook-id": "evt_1", "webhook-timestamp": ts, "webhook-signature": "v1,AAAA" },
    });
    assert.equal(forged.status, 401);
    const old = String(Math.floor(Date.now() / 1000) - 3600);
    const stale = await fetch(url, {
      method: "POST",
      body,
      headers: {
        "webhook-id": "evt_1",
        "webhook-timestamp": old,
        "webhook-signature": signWebhook(secret, "evt_1", old, body),
      },
    });
    assert.equal(stale.status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/other`, { method: "POST", body })).status, 404);
  } finally {
    await srv.close();
  }
});
