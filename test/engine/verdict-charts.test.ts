/**
 * What a user reads and sees after a run: the verdict's interval (Newcombe's score interval for pass/fail metrics,
 * never a point), the detectable effect (never 0), the charts posted with the verdict (loss with epoch marks and
 * validation loss, scores, the paired difference) and the digest's scores over runs. Real SQLite, real datasets and
 * evals, a fake trainer and a fake OpenAI-compatible endpoint behind the real ports; the charts are rendered.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import { runVerdict, runVerdictCard } from "../../commands/run.ts";
import { runCommand } from "../../commands/dispatch.ts";
import { epochEnds, lossPoints } from "../../src/charts/run-charts.ts";
import type { TrainJob } from "../../src/core/trainer.ts";
import { FakeTrainer } from "../fakes/providers.ts";
import { startFakeOpenAI } from "../fakes/openai-compatible.ts";
import { ctxFor, engineApp, fakeEndpoint, seedExperiment } from "./engine-helpers.ts";

const Z2 = 1.959963984540054 ** 2;

/** A fake trainer that reports validation loss like the local one: before training and at the end of the run. */
class ValidatingTrainer extends FakeTrainer {
  readonly validationLoss = true;
  validRows = 0;
  override async train(job: TrainJob) {
    this.validRows = job.validRows?.length ?? 0;
    job.onValidLoss?.({ step: 0, loss: 3 });
    const out = await super.train(job);
    job.onValidLoss?.({ step: 5, loss: 1.5 });
    job.onValidLoss?.({ step: 10, loss: 1 });
    return out;
  }
}

const blocksText = (card: { blocks: Array<{ type: string; text?: string; fields?: Array<[string, string]> }> }) =>
  card.blocks
    .flatMap((b) =>
      b.type === "text" ? [b.text ?? ""] : b.type === "fields" ? (b.fields ?? []).map((f) => f.join(": ")) : [],
    )
    .join("\n");

describe("verdict intervals and charts", () => {
  const fake = startFakeOpenAI({ latencyMs: 0 }); // echoes the question: scores 0 on every row

  after(async () => (await fake).close());

  test("all rows discordant: +77.2 to +100.0 (Newcombe), a difference chart; two models at 0/20: ±16.1 and an MDE", async () => {
    const endpoint = await fake;
    const { app } = await engineApp({
      endpoints: [fakeEndpoint("big", endpoint.baseUrl, { inputPer1M: 0, outputPer1M: 0 })],
    });
    try {
      const { train } = await seedExperiment(app, { baselines: ["big:model"] });
      app.experiments.addHypothesis({ experiment: "exp", text: "tuning helps", expectPts: 50, user: "tester" });
      const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--wait"], ctxFor(app));
      assert.equal(out.exitCode, 0, JSON.stringify(out.data));
      const data = out.data as {
        run: { id: number };
        comparison: { ci: number[]; ciMethod: string; mde: number; diff: number; n: number; verdict: string };
        hypotheses: Array<{ verdict: { outcome: string; ci: number[]; summary: string } }>;
      };
      // the hypothesis is decided on the same interval, not on +100.0 to +100.0
      assert.deepEqual(data.hypotheses[0].verdict.ci, [77.2, 100]);
      assert.equal(data.hypotheses[0].verdict.outcome, "supported");
      assert.match(data.hypotheses[0].verdict.summary, /95% CI 77\.2 to 100\.0/);
      // tuned 20/20 against base 0/20: every row discordant. Newcombe: [1 - √2·z²/(20 + z²), 1] = [0.772135, 1]
      const c = data.comparison;
      assert.equal(c.n, 20);
      assert.equal(c.diff, 1);
      assert.equal(c.ciMethod, "newcombe");
      assert.ok(Math.abs(c.ci[0] - (1 - (Math.SQRT2 * Z2) / (20 + Z2))) < 1e-12, `ci ${c.ci}`);
      assert.ok(Math.abs(c.ci[0] - 0.772135) < 1e-6);
      assert.equal(c.ci[1], 1);
      assert.match(c.verdict, /95% CI \+77\.2 pts to \+100\.0 pts/);
      assert.doesNotMatch(c.verdict, /\+100\.0 pts to \+100\.0 pts/);

      const run = app.runs.get(data.run.id);
      const v = runVerdict(app, run);
      assert.ok(v);
      const card = await runVerdictCard(app, run, v);
      const names = (card.files ?? []).map((f) => f.name);
      assert.deepEqual(
        names.filter((n) => n.endsWith(".png")),
        [`run-${run.id}-loss.png`, `run-${run.id}-scores.png`, `run-${run.id}-difference.png`],
      );
      assert.ok(
        names.some((n) => /^eval-\d+-rows\.jsonl$/.test(n)),
        "every row of the tuned eval comes as a file too",
      );
      const diffPng = card.files?.find((f) => f.name.endsWith("difference.png"));
      assert.ok(diffPng?.path && fs.statSync(diffPng.path).size > 10_000, "the difference chart is a real PNG");
      assert.equal(
        Buffer.from(diffPng?.content ?? "")
          .subarray(1, 4)
          .toString(),
        "PNG",
      );

      // Two models that both fail all 20 rows: base against the echoing endpoint.
      const cmp = await runCommand(["compare", "local:stories260K", "big:model", "--experiment", "exp"], ctxFor(app));
      assert.equal(cmp.exitCode, 0, JSON.stringify(cmp.data));
      const z = cmp.data as {
        a: { mean: number };
        b: { mean: number };
        ci: number[];
        mde: number;
        mdeBasis: { method: string; pBase: number; discordance: number };
        verdict: string;
      };
      assert.equal(z.a.mean, 0);
      assert.equal(z.b.mean, 0);
      // ±(the Wilson upper limit of 0/20) = ±z²/(20 + z²) = ±0.161133 (Newcombe 1998: 0/20 -> [0, 0.1611])
      assert.ok(Math.abs(z.ci[1] - Z2 / (20 + Z2)) < 1e-12 && Math.abs(z.ci[0] + Z2 / (20 + Z2)) < 1e-12);
      assert.match(z.verdict, /95% CI -16\.1 pts to \+16\.1 pts/);
      // MDE with no discordance: √(20δ) = z_.975 + z_.8·√(1 - δ), solved by fixed-point iteration by hand
      let d = 0.3;
      for (let i = 0; i < 200; i++) d = (1.959963984540054 + 0.8416212335729143 * Math.sqrt(1 - d)) ** 2 / 20;
      assert.ok(Math.abs(z.mde - d) < 1e-9, `mde ${z.mde} vs ${d}`);
      assert.deepEqual(z.mdeBasis, { method: "connor", pBase: 0, discordance: 0 });
      assert.match(z.verdict, new RegExp(`can detect differences of about ${(d * 100).toFixed(1)} pts`));
      assert.doesNotMatch(z.verdict, /\+0\.0 pts to \+0\.0 pts|about 0\.0 pts/);

      // the card's fields say how the interval and the detectable effect were computed
      const fields = blocksText(cmp.card as Parameters<typeof blocksText>[0]);
      assert.match(
        fields,
        /95% CI: -16\.1 pts to \+16\.1 pts \(Newcombe's hybrid score interval for paired proportions\)/,
      );
      assert.match(
        fields,
        /Detectable effect: \d+\.\d pts at 80% power \(n = 20, local:stories260K at 0\.0%, 0\.0% of rows discordant; McNemar, Connor 1987\)/,
      );
    } finally {
      await app.close();
    }
  });

  test("the digest carries each experiment's tuned scores over its runs, as data and as a chart", async () => {
    const { app } = await engineApp();
    try {
      const { train } = await seedExperiment(app);
      const ids: number[] = [];
      for (const seed of [1, 2]) {
        const out = await runCommand(
          ["run", "start", train, "--experiment", "exp", "--seed", String(seed), "--yes", "--wait"],
          ctxFor(app),
        );
        assert.equal(out.exitCode, 0, JSON.stringify(out.data));
        ids.push((out.data as { run: { id: number } }).run.id);
      }
      const d = await runCommand(["digest", "now"], ctxFor(app));
      assert.equal(d.exitCode, 0, JSON.stringify(d.data));
      const data = d.data as {
        charts: string[];
        experiments: Array<{ name: string; history: Array<{ run: string; mean: number; lo: number; hi: number }> }>;
      };
      const h = data.experiments.find((e) => e.name === "exp")?.history ?? [];
      assert.deepEqual(
        h.map((p) => p.run),
        ids.map((id) => `run:${id}`),
      );
      for (const p of h) {
        assert.equal(p.mean, 1);
        // the tuned eval's own Wilson interval for 20/20: [20/(20 + z²), 1]
        assert.ok(Math.abs(p.lo - 20 / (20 + Z2)) < 1e-12 && p.hi === 1, `interval ${p.lo} ${p.hi}`);
      }
      const chart = data.charts.find((c) => c.endsWith("experiment-exp-history.png"));
      assert.ok(chart && fs.statSync(chart).size > 10_000, `charts: ${data.charts.join(", ")}`);
    } finally {
      await app.close();
    }
  });

  test("a validation set: refused where the trainer cannot report it, else drawn as a second loss curve", async () => {
    const plain = await engineApp();
    try {
      const { train, eval: evalRef } = await seedExperiment(plain.app);
      const out = await runCommand(
        ["run", "start", train, "--experiment", "exp", "--valid", evalRef, "--yes"],
        ctxFor(plain.app),
      );
      assert.notEqual(out.exitCode, 0);
      assert.match(JSON.stringify(out.data), /validation_unsupported|does not report validation loss/);
    } finally {
      await plain.app.close();
    }

    const trainer = new ValidatingTrainer({ steps: 10 });
    const { app } = await engineApp({ trainer });
    try {
      const { train, eval: evalRef } = await seedExperiment(app);
      const same = await runCommand(
        ["run", "start", train, "--experiment", "exp", "--valid", train, "--yes"],
        ctxFor(app),
      );
      assert.notEqual(same.exitCode, 0);
      assert.match(JSON.stringify(same.data), /is the training set itself/);

      const out = await runCommand(
        ["run", "start", train, "--experiment", "exp", "--valid", evalRef, "--epochs", "2", "--yes", "--wait"],
        ctxFor(app),
      );
      assert.equal(out.exitCode, 0, JSON.stringify(out.data));
      const id = (out.data as { run: { id: number; validation: string } }).run.id;
      assert.equal((out.data as { run: { validation: string } }).run.validation, evalRef);
      assert.equal(trainer.validRows, 20, "the worker passed the validation rows to the trainer");
      const pts = lossPoints(app, id);
      assert.deepEqual(
        pts.filter((p) => p.series === "validation").map((p) => [p.step, p.loss]),
        [
          [0, 3],
          [5, 1.5],
          [10, 1],
        ],
      );
      assert.equal(pts.filter((p) => p.series === "train").length, 10);
      // 10 steps over 2 epochs: epoch 1 ends at step 5
      assert.deepEqual(epochEnds(10, 2), [{ step: 5, epoch: 1 }]);
      const files = await runVerdictCard(app, app.runs.get(id), runVerdict(app, app.runs.get(id))!);
      assert.ok(files.files?.some((f) => f.name === `run-${id}-loss.png`));

      // a re-run keeps the validation set
      const again = await runCommand(["run", "rerun", String(id), "--yes"], ctxFor(app));
      assert.equal(again.exitCode, 0, JSON.stringify(again.data));
      const rerun = app.runs.get((again.data as { run: { id: number } }).run.id);
      assert.equal(rerun.validVersionId, app.runs.get(id).validVersionId);
    } finally {
      await app.close();
    }
  });
});
