/** Starting the bot: what Discord refuses at login is a clear error, at once, naming what to fix. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { discordSettings, startDiscord } from "../../../src/adapters/discord/index.ts";
import { isTuneError } from "../../../src/errors.ts";
import { engineApp } from "../../engine/engine-helpers.ts";
import { startFakeDiscord } from "../../fakes/discord.ts";

const MESSAGE_CONTENT = 1 << 15;

/** Long, so that only a refusal (never the wait for READY running out) ends a start on a slow, busy machine. */
const READY_TIMEOUT_MS = 120_000;

async function attempt(opts: { disallowedIntents?: number; token?: string; watch?: boolean }) {
  const fake = await startFakeDiscord({ disallowedIntents: opts.disallowedIntents });
  const { app } = await engineApp();
  const settings = discordSettings({
    DISCORD_TOKEN: opts.token ?? fake.token,
    DISCORD_APPLICATION_ID: fake.applicationId,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_WATCH_CHANNELS: opts.watch ? fake.watchChannelId : "",
  })!;
  const t0 = Date.now();
  try {
    const bot = await startDiscord(app, settings, { readyTimeoutMs: READY_TIMEOUT_MS });
    await bot.stop();
    return { err: null, ms: Date.now() - t0, chat: app.chat };
  } catch (err) {
    return { err, ms: Date.now() - t0, chat: app.chat };
  } finally {
    await app.close();
    await fake.close();
  }
}

describe("discord start", () => {
  test("the Message Content intent switched off in the portal: refused at once, saying which switch", async () => {
    const r = await attempt({ disallowedIntents: MESSAGE_CONTENT, watch: true });
    assert.ok(isTuneError(r.err), String(r.err));
    assert.equal(r.err.code, "config_invalid");
    assert.match(r.err.message, /Message Content intent .* DISCORD_WATCH_CHANNELS/);
    // At once: the gateway's close code ends the start, not the wait for READY (whose message would differ).
    assert.ok(r.ms < READY_TIMEOUT_MS, `${r.ms} ms`);
    assert.equal(r.chat, undefined, "no half-started chat left behind");
  });

  test("without watched channels the privileged intent is not asked for", async () => {
    const r = await attempt({ disallowedIntents: MESSAGE_CONTENT, watch: false });
    assert.equal(r.err, null);
  });

  test("a wrong token: refused, and the token is not in the message", async () => {
    const token = `${Buffer.from("100000000000000001").toString("base64")}.wrong.${"x".repeat(27)}`;
    const r = await attempt({ token });
    assert.ok(isTuneError(r.err), String(r.err));
    assert.match(r.err.message, /Discord refused the bot token \(DISCORD_TOKEN\)/);
    assert.ok(!r.err.message.includes(token));
  });
});
