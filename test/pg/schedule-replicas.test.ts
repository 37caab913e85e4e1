/**
 * Three chat replicas on one Postgres, one schedule firing every minute: for three minutes each fire runs exactly
 * once (pg-boss's cron sends one job per slot, one replica takes it). Real minutes on the database's clock (pg-boss
 * keeps its own time, so a mock clock cannot drive it): about four minutes, on the Postgres pass only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createScheduler } from "../../src/iterations.ts";
import { startScale, type Scale } from "../../src/scale/index.ts";
import type { App } from "../../src/app.ts";
import { engineApp } from "../engine/engine-helpers.ts";
import { tmpDir } from "../helpers.ts";

const pass = process.env.TUNELOOP_TEST_DATABASE_URL;

test("3 chat replicas, a schedule every minute for 3 minutes: each fire runs exactly once", {
  skip: pass ? false : "runs in npm run test:pg (real minutes on a Postgres cluster)",
  timeout: 8 * 60_000,
}, async () => {
  const dataDir = tmpDir("sched");
  const env = { TUNELOOP_SCHEDULE_MIN_INTERVAL: "1m" };
  const replicas: Array<{ app: App; scale: Scale }> = [];
  try {
    for (let i = 0; i < 3; i++) {
      const { app } = await engineApp({ dataDir, env });
      const scale = await startScale(app, { role: "chat", providers: [], queue: { cronCheckS: 5, pollS: 1 } });
      app.scheduler = createScheduler(app, scale.timer);
      await app.scheduler.start();
      replicas.push({ app, scale });
    }
    const s = replicas[0].app.scheduler!.add({
      cron: "* * * * *",
      tz: "UTC",
      recipe: "digest",
      channelId: null,
      user: "tester",
    });
    const repo = replicas[0].app.iterations;
    const deadline = Date.now() + 7 * 60_000;
    // Wait for three fires, then for most of the minute after the third (a duplicate would come within seconds).
    for (;;) {
      const fires = repo.fires(s.id, 100);
      if (fires.length >= 3 && Date.now() - fires[0].at.getTime() > 45_000) break;
      assert.ok(Date.now() < deadline, `only ${fires.length} fires after 7 minutes`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const fires = repo.fires(s.id, 100).reverse();
    const minutes = fires.map((f) => Math.floor(f.at.getTime() / 60_000));
    assert.equal(
      new Set(minutes).size,
      minutes.length,
      `two fires in one minute: ${fires.map((f) => f.at.toISOString())}`,
    );
    assert.ok(fires.length >= 3 && fires.length <= 4, `${fires.length} fires`);
    assert.ok(fires.every((f) => f.reason === "scheduled"));
    for (let i = 1; i < minutes.length; i++) assert.equal(minutes[i] - minutes[i - 1], 1, "one fire each minute");
    console.log(`schedule fires: ${fires.map((f) => `${f.at.toISOString()} ${f.outcome}`).join(", ")}`);
  } finally {
    for (const r of replicas) {
      await r.app.scheduler?.stop();
      await r.scale.stop();
      await r.app.close();
    }
  }
});
