/**
 * A run queued from the CLI says who will run it: a live bot (its worker's heartbeat row in the database), or
 * nobody, and then how to get it run. The "bot" here is a second app on the same data folder with its worker
 * started, as `npm start` does it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { renderCard } from "../../src/adapters/console/render.ts";
import { ctxFor, engineApp, seedExperiment } from "./engine-helpers.ts";

test("run start from the CLI: 'nobody is running runs' without a bot, the bot's name while one runs", async () => {
  const cli = await engineApp();
  try {
    const { train } = await seedExperiment(cli.app);
    const ctx = ctxFor(cli.app, "cli");
    const alone = await runCommand(["run", "start", train, "--experiment", "exp", "--yes"], ctx);
    assert.equal(alone.exitCode, 0);
    const text = renderCard(alone.card);
    assert.match(text, /Nobody is running runs right now, so run 1 waits in the queue/);
    assert.match(text, /start the bot \(`npm start`\) and it runs it, or pass --wait to run it in this process\./);
    assert.deepEqual((alone.data as { runner: unknown }).runner, {
      live: false,
      runners: [],
      note: (alone.data as { runner: { note: string } }).runner.note,
    });

    // A bot that died long ago left its heartbeat row behind: still nobody.
    const old = new Date(Date.now() - 5 * 60_000);
    cli.app.engine.beatWorker({ id: "gone", label: "the Slack bot", host: "h", pid: 1, startedAt: old, seenAt: old });
    const stale = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--seed", "2"], ctx);
    assert.match(renderCard(stale.card), /Nobody is running runs right now/);

    // The bot starts on the same data folder: its worker beats at once.
    const bot = await engineApp({ dataDir: cli.dataDir });
    try {
      bot.app.worker.start({ label: "the console bot" });
      const seen = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--seed", "3"], ctx);
      const id = (seen.data as { run: { id: number } }).run.id;
      assert.match(
        renderCard(seen.card),
        new RegExp(
          `Run ${id} is queued: the console bot \\([^,]+, pid ${process.pid}, seen \\d+ s ago\\) will run it\\.`,
        ),
      );
      assert.equal((seen.data as { runner: { live: boolean } }).runner.live, true);
      // In chat, where the bot itself runs what it queues, the card does not say it.
      const chat = await runCommand(
        ["run", "start", train, "--experiment", "exp", "--yes", "--seed", "4"],
        ctxFor(cli.app, "console"),
      );
      assert.doesNotMatch(renderCard(chat.card), /will run it|Nobody is running/);
      // The bot runs what was queued.
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && cli.app.engine.runById(id)?.state !== "succeeded")
        await new Promise((r) => setTimeout(r, 100));
      assert.equal(cli.app.engine.runById(id)?.state, "succeeded");
    } finally {
      await bot.app.close();
    }
    // A bot that stopped removed its row.
    const after = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--seed", "5"], ctx);
    assert.match(renderCard(after.card), /Nobody is running runs right now/);
  } finally {
    await cli.app.close();
  }
});
