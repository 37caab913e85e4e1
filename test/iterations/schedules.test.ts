/** Schedules under node:test mock timers: fires, next times, time zones, a missed fire after a restart, no overlap, pause after failures. */
import assert from "node:assert/strict";
import fs from "node:fs";
import { afterEach, describe, mock, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { renderCard } from "../../src/adapters/console/render.ts";
import type { Card } from "../../src/core/cards.ts";
import type { ScheduleRecord } from "../../src/core/ports.ts";
import { nextRuns, Scheduler, type RecipeOutcome } from "../../src/core/schedules/scheduler.ts";
import { runCardFor } from "../../commands/run.ts";
import { createScheduler, scheduleContext } from "../../src/iterations.ts";
import { ctxFor, engineApp, seedExperiment } from "../engine/engine-helpers.ts";
import { tmpDir } from "../helpers.ts";

const flush = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe("schedules", () => {
  afterEach(() => mock.timers.reset());

  test("next fire times honour the time zone", () => {
    const from = nextRuns("0 9 * * *", "Europe/Berlin", 3);
    assert.equal(from.length, 3);
    for (const d of from) assert.equal(d.getUTCHours() === 8 || d.getUTCHours() === 7, true, d.toISOString()); // CET or CEST
    const ny = nextRuns("30 6 * * MON", "America/New_York", 2);
    assert.ok(ny.every((d) => d.getUTCDay() === 1 && d.getUTCMinutes() === 30));
    assert.equal((ny[1].getTime() - ny[0].getTime()) / 86_400_000, 7);
  });

  test("add validates the expression, the zone and the recipe, and answers with the next three fires", async () => {
    const { app } = await engineApp();
    try {
      await seedExperiment(app);
      app.scheduler = createScheduler(app);
      const ok = await runCommand(
        ["schedule", "add", "0 2 * * *", "rerun", "exp", "--tz", "Europe/Berlin"],
        ctxFor(app),
      );
      assert.equal(ok.exitCode, 0, JSON.stringify(ok.data));
      const d = ok.data as { id: number; cron: string; tz: string; recipe: string; nextRuns: string[] };
      assert.equal(d.recipe, "rerun exp");
      assert.equal(d.tz, "Europe/Berlin");
      assert.equal(d.nextRuns.length, 3);
      const bad = [
        [["schedule", "add", "61 * * * *", "digest"], "schedule_invalid_cron"],
        [["schedule", "add", "0 9 * * *", "digest", "--tz", "Mars/Olympus"], "schedule_invalid_tz"],
        [["schedule", "add", "0 9 * * *", "dance"], "schedule_invalid_recipe"],
        [["schedule", "add", "0 9 * * *", "rerun", "nope"], "experiment_not_found"],
      ] as const;
      for (const [words, code] of bad) {
        const r = await runCommand([...words], ctxFor(app));
        assert.equal(r.exitCode, 1, words.join(" "));
        assert.equal(r.error?.code, code);
      }
      // Times say their zone: the schedule's own, written out.
      assert.match(renderCard(ok.card), /Next\s+\d{4}-\d\d-\d\d 02:00 Europe\/Berlin · /);
      const utc = await runCommand(["schedule", "add", "30 9 * * *", "digest", "--tz", "UTC"], ctxFor(app));
      const list = await runCommand(["schedule", "list"], ctxFor(app));
      assert.deepEqual(
        (list.data as Array<{ id: number; state: string }>).map((s) => [s.id, s.state]),
        [
          [d.id, "active"],
          [(utc.data as { id: number }).id, "active"],
        ],
      );
      const shown = renderCard(list.card);
      assert.match(
        shown,
        /#\d+\s+rerun exp\s+0 2 \* \* \* \(Europe\/Berlin\)\s+active\s+-\s+\d{4}-\d\d-\d\d 02:00 Europe\/Berlin/,
      );
      assert.match(shown, /#\d+\s+digest\s+30 9 \* \* \* \(UTC\)\s+active\s+-\s+\d{4}-\d\d-\d\d 09:30 UTC/);
    } finally {
      await app.close();
    }
  });

  test("a digest schedule fires at its time and posts to its channel and subscribers", async () => {
    const { app } = await engineApp();
    try {
      await seedExperiment(app);
      const posted: Array<{ channel: string; card: Card }> = [];
      app.chat = {
        async post(channel, card) {
          posted.push({ channel, card });
          return { messageId: `m${posted.length}` };
        },
        async update() {},
      };
      await runCommand(["subscribe", "all", "digest"], { ...ctxFor(app, "console"), channelId: "c-digest" });
      mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: new Date("2026-11-30T07:59:30Z") });
      app.scheduler = createScheduler(app);
      await app.scheduler.start();
      const s = app.scheduler.add({
        cron: "0 9 * * MON",
        tz: "Europe/Berlin",
        recipe: "digest",
        channelId: "c1",
        user: "tester",
      });
      mock.timers.tick(20_000);
      await flush();
      assert.equal(app.iterations.fires(s.id).length, 0, "not yet");
      mock.timers.tick(15_000);
      await flush(200);
      const fires = app.iterations.fires(s.id);
      assert.equal(fires.length, 1);
      assert.equal(fires[0].outcome, "ok");
      assert.equal(fires[0].reason, "scheduled");
      const channels = posted
        .filter((p) => p.card.title?.startsWith("Digest"))
        .map((p) => p.channel)
        .sort();
      assert.deepEqual(channels, ["c-digest", "c1"]);
      assert.ok(app.iterations.schedule(s.id)?.nextFireAt?.toISOString().startsWith("2026-12-07T08:00"));
    } finally {
      mock.timers.reset();
      await app.close();
    }
  });

  test("a fire runs as the schedule: shown as it in what it starts, with no host access and no admin rights", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      app.scheduler = createScheduler(app);
      const recipe = `sweep exp --dataset ${train} --epochs 1`;
      const s = app.scheduler.add({ cron: "0 2 * * *", tz: "UTC", recipe, channelId: "c1", user: "tester" });
      const ctx = scheduleContext(app, s);
      assert.equal(ctx.surface, "schedule");
      assert.equal(ctx.user.id, "system:schedule");
      assert.equal(ctx.host, undefined);
      // No host access: a path is refused as it is in chat, and nothing is written.
      const out = `${tmpDir("sched-out")}/x.jsonl`;
      const exported = await runCommand(["dataset", "export", train, "--out", out], ctx);
      assert.equal(exported.error?.code, "host_path_refused");
      assert.equal(fs.existsSync(out), false);
      // A schedule may spend (what it was added for) but never do what needs an admin.
      const budget = await runCommand(["experiment", "budget", "exp", "5"], ctx);
      assert.equal(budget.error?.code, "permission_denied");
      assert.match(budget.error?.message ?? "", /A schedule cannot do what needs an admin/);

      const fired = await app.scheduler.fire(s.id, "manual");
      assert.equal(fired.outcome, "ok", fired.message);
      const [run] = app.runs.list();
      assert.ok(run, "the fire started a run");
      assert.equal(run.createdBy, `schedule #${s.id} (${recipe})`);
      assert.equal(run.createdById, "system:schedule");
      assert.match(renderCard(runCardFor(app, run)), new RegExp(`Started by\\s+schedule #${s.id} \\(sweep exp`));
    } finally {
      await app.close();
    }
  });

  describe("fires, recorded", () => {
    const make = async (run: (s: ScheduleRecord) => Promise<RecipeOutcome>) => {
      const { app, dataDir } = await engineApp();
      const notes: Card[] = [];
      const sch = new Scheduler({
        repo: app.iterations,
        clock: app.clock,
        maxFailures: 3,
        minIntervalMs: 60_000, // these tests fire every five minutes
        checkRecipe: () => {},
        run: (s) => run(s),
        notify: async (_s, card) => {
          notes.push(card);
          return undefined;
        },
        onError: (e) => {
          throw e;
        },
      });
      return { app, dataDir, sch, notes };
    };

    test("after downtime a missed fire runs once, not once per missed slot", async () => {
      let runs = 0;
      const { app, sch } = await make(async () => {
        runs++;
        return { outcome: "ok", message: "done" };
      });
      try {
        const s = sch.add({ cron: "*/5 * * * *", tz: "UTC", recipe: "digest", channelId: null, user: "t" });
        // The bot was down for an hour: twelve slots passed.
        app.iterations.updateSchedule(s.id, { nextFireAt: new Date(Date.now() - 3_600_000) });
        await sch.start();
        assert.equal(runs, 1);
        assert.deepEqual(
          app.iterations.fires(s.id).map((f) => f.reason),
          ["missed"],
        );
        assert.ok((app.iterations.schedule(s.id)?.nextFireAt?.getTime() ?? 0) > Date.now());
        await sch.stop();
      } finally {
        await app.close();
      }
    });

    test("two fires never overlap", async () => {
      let release: () => void = () => {};
      const { app, sch } = await make(
        () => new Promise((r) => (release = () => r({ outcome: "ok", message: "slow" }))),
      );
      try {
        const s = sch.add({ cron: "0 * * * *", tz: "UTC", recipe: "digest", channelId: null, user: "t" });
        const first = sch.fire(s.id, "scheduled");
        const second = await sch.fire(s.id, "manual");
        assert.equal(second.outcome, "skipped");
        release();
        assert.equal((await first).outcome, "ok");
        assert.deepEqual(
          app.iterations
            .fires(s.id)
            .map((f) => f.outcome)
            .sort(),
          ["ok", "skipped"],
        );
      } finally {
        await app.close();
      }
    });

    test("a failing schedule says so each time and pauses itself after N failures", async () => {
      const { app, sch, notes } = await make(async () => {
        throw new Error("endpoint vllm is down");
      });
      try {
        const s = sch.add({ cron: "0 * * * *", tz: "UTC", recipe: "reeval exp", channelId: "c1", user: "t" });
        for (let i = 0; i < 3; i++) await sch.fire(s.id, "scheduled");
        const after = app.iterations.schedule(s.id);
        assert.equal(after?.state, "paused");
        assert.equal(after?.failures, 3);
        assert.equal(notes.length, 3);
        assert.match(notes[0].title ?? "", /Schedule \d+ failed$/);
        assert.match(notes[2].title ?? "", /failed and is paused/);
        assert.match(JSON.stringify(notes[2].blocks), /endpoint vllm is down.*schedule resume/);
        assert.deepEqual(
          app.iterations.fires(s.id).map((f) => f.outcome),
          ["failed", "failed", "failed"],
        );
      } finally {
        await app.close();
      }
    });
  });
});
