/**
 * Experiments keep to themselves: two experiments share one eval dataset; `small` has a finished run, `big`'s only
 * run was cancelled. Nothing `big` shows (leaderboard, digest, experiment show, compare best, rerun, reeval) may
 * name `small`'s run or its evals.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { renderCard } from "../../src/adapters/console/render.ts";
import type { Card } from "../../src/core/cards.ts";
import { ctxFor, engineApp, seedExperiment } from "./engine-helpers.ts";

const shown = (card: Card) => renderCard(card, { withThread: true });

test("two experiments sharing an eval set: big never sees small's run", async () => {
  const { app } = await engineApp();
  try {
    const { train, eval: evalRef } = await seedExperiment(app, { name: "small" });
    app.experiments.create({
      name: "big",
      evalDataset: evalRef,
      metric: "exact",
      baselines: [],
      user: "tester",
      channelId: "c1",
    });
    const ctx = ctxFor(app);
    const small = await runCommand(["run", "start", train, "--experiment", "small", "--yes", "--wait"], ctx);
    const smallRun = (small.data as { run: { id: number; state: string } }).run;
    assert.equal(smallRun.state, "succeeded");
    const tunedRef = `run:${smallRun.id}`;
    const big = await app.runs.start({ dataset: train, experiment: "big", yes: true, user: "tester", channelId: null });
    app.runs.cancel(big.run.id, "tester");

    // small still shows its own run
    const smallBoard = await runCommand(["leaderboard", "small"], ctx);
    assert.match(shown(smallBoard.card), new RegExp(`${tunedRef}\\b`));

    const board = await runCommand(["leaderboard", "big"], ctx);
    assert.equal(board.exitCode, 0);
    assert.doesNotMatch(shown(board.card), new RegExp(`${tunedRef}\\b`));
    assert.match(shown(board.card), /No evals yet/);
    assert.deepEqual((board.data as { entries: unknown[] }).entries, []);

    const digest = await runCommand(["digest", "now", "--experiment", "big"], ctx);
    assert.doesNotMatch(shown(digest.card), new RegExp(`${tunedRef}\\b`));
    assert.match(shown(digest.card), /big: no evals yet/);
    const all = await runCommand(["digest", "now"], ctx);
    const allText = shown(all.card);
    assert.match(allText, /big: no evals yet/);
    assert.match(allText, new RegExp(`small: ${tunedRef} 100\\.0%`));
    const bigDetail = (all.card.thread ?? []).filter((c) => c.title?.startsWith("big"));
    assert.equal(bigDetail.length, 0, "no detail table of someone else's evals under big");

    const showBig = await runCommand(["experiment", "show", "big"], ctx);
    assert.doesNotMatch(shown(showBig.card), new RegExp(`${tunedRef}\\b`));

    const best = await runCommand(["compare", "best", "local:stories260K", "--experiment", "big"], ctx);
    assert.equal(best.error?.code, "eval_not_found");
    assert.match(best.error?.message ?? "", /Nothing else has been evaluated in big/);

    const rerun = await runCommand(["experiment", "rerun", "big"], ctx);
    assert.match(shown(rerun.card), /Nothing to re-run in big/);
    const reeval = await runCommand(["experiment", "reeval", "big"], ctx);
    assert.match(shown(reeval.card), /Nothing to re-evaluate in big/);
    assert.equal(app.engine.evals({ experimentId: app.experiments.get("big").id }).length, 0, "nothing evaluated");
  } finally {
    await app.close();
  }
});
