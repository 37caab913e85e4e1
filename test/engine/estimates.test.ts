/**
 * What a run card says about training time: where the estimate comes from, and once the run ends, how far off it
 * was. The second run of the same shape is estimated from the first one's measured throughput.
 */
import { fmt } from "../../src/core/format.ts";
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { renderCard } from "../../src/adapters/console/render.ts";
import { seqBucket } from "../../src/core/costs/throughput.ts";
import type { RunEstimate } from "../../src/core/runs/service.ts";
import { FakeTrainer } from "../fakes/providers.ts";
import { ctxFor, engineApp, seedExperiment } from "./engine-helpers.ts";

const secs = (ms: number) => fmt.duration(ms);

test("run cards: the estimate names its source; the ended run shows estimated vs took; the next run learns", async () => {
  const { app } = await engineApp({ trainer: new FakeTrainer({ steps: 6, stepMs: 40 }) });
  try {
    const { train } = await seedExperiment(app);
    const ctx = ctxFor(app);
    const first = await runCommand(["run", "start", train, "--experiment", "exp", "--yes"], ctx);
    const queued = renderCard(first.card);
    assert.match(
      queued,
      /about [\d.]+ s of training \(from the default table, measured on [^:]+: [\d,]+ tokens\/s at ~\d+ tokens\/row/,
    );
    const id1 = (first.data as { run: { id: number } }).run.id;
    await app.worker.runNext(id1);

    const r1 = app.runs.get(id1);
    const e1 = r1.estimate as RunEstimate;
    const took1 = r1.result?.trainWallMs as number;
    assert.ok(took1 >= 6 * 40, `took ${took1} ms`);
    const pct = Math.round(((took1 / 1000 - (e1.wallSeconds ?? 0)) / (e1.wallSeconds ?? 1)) * 100);
    const status = await runCommand(["run", "status", String(id1)], ctx);
    assert.match(
      renderCard(status.card),
      new RegExp(
        `Training time +estimated ${secs((e1.wallSeconds ?? 0) * 1000).replace(".", "\\.")}, took ${secs(took1).replace(".", "\\.")} \\(${pct >= 0 ? "\\+" : "-"}${Math.abs(pct)}%\\)`,
      ),
    );

    // The measured throughput is kept under the run's provider, model and row length.
    const bucket = seqBucket(e1.trainingTokens / e1.epochs / e1.trainRows);
    const [s] = app.engine.throughputSamples({ provider: "local", baseModel: "stories260K", seqBucket: bucket }, 10);
    assert.deepEqual([s.runId, s.tokens, s.wallMs, s.rows], [id1, e1.trainingTokens, took1, e1.trainRows]);

    // The same training again is estimated at what the first one took, and says so.
    const second = await runCommand(["run", "rerun", String(id1), "--seed", "2", "--yes"], ctx);
    const e2 = (second.data as { run: { estimate: RunEstimate } }).run.estimate;
    assert.equal(e2.wallBasis, "measured");
    assert.equal(e2.wallSeconds, Math.round(took1 / 100) / 10);
    const rate = Math.round(e1.trainingTokens / (took1 / 1000)).toLocaleString("en-US");
    assert.match(
      renderCard(second.card),
      new RegExp(`\\(from 1 earlier run of stories260K at ~${bucket} tokens/row: ${rate} tokens/s\\)`),
    );
  } finally {
    await app.close();
  }
});
