/** The parts of a migration on their own: the non-inferiority rule by hand, the recipe mapping, refused data, job shapes. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { findUnusableData } from "../../src/core/migrate/files.ts";
import { mapRecipe } from "../../src/core/migrate/recipe.ts";
import { jobName } from "../../src/core/migrate/service.ts";
import type { FineTuneJob } from "../../src/core/migrate/source.ts";
import { type ComparedPair, nonInferiority, parseMargin } from "../../src/core/migrate/verdict.ts";
import { pairedComparison } from "../../src/core/stats.ts";
import { jobFromOpenAI } from "../../src/providers/openai-jobs.ts";
import { tmpDir } from "../helpers.ts";

/** Source (a) and target (b) pass/fail scores compared as EvalService.compareEvals does (pairedComparison). */
function comparison(source: number[], target: number[]): ComparedPair {
  const pc = pairedComparison(source, target);
  return {
    n: pc.n,
    a: { model: "openai:ft:src", evalId: 1, mean: pc.meanA },
    b: { model: "run:1", evalId: 2, mean: pc.meanB },
    diff: pc.diff,
    ci: pc.ci,
    mde: pc.mde,
    regressions: source.flatMap((s, i) => (target[i] < s ? [i + 1] : [])),
  };
}

describe("non-inferiority verdict", () => {
  test("50 rows where both models pass the same 40: the interval by hand is ±5.71 pts", () => {
    // Newcombe's method 10 by hand, (e, f, g, h) = (40, 0, 0, 10), n = 50, z = 1.96:
    //   Wilson 40/50: centre (0.8 + 1.96²/100) / (1 + 1.96²/50) = 0.838415 / 1.076829 = 0.778597,
    //   half-width 1.96 · sqrt(0.8·0.2/50 + 1.96²/10000) / 1.076829 = 0.108966 -> [0.669629, 0.887562] (both sides);
    //   φ = (eh - fg - n/2) / sqrt((e+f)(g+h)(e+g)(f+h)) = (400 - 25) / 400 = 0.9375;
    //   L = 0 - sqrt(0.130371² - 2·0.9375·0.130371·0.087562 + 0.087562²) = -sqrt(0.0032595) = -0.057092; U = +0.057092.
    const s = [...Array(40).fill(1), ...Array(10).fill(0)];
    const c = comparison(s, s);
    assert.ok(Math.abs(c.ci[0] + 0.057092) < 1e-5, String(c.ci));
    assert.ok(Math.abs(c.ci[1] - 0.057092) < 1e-5, String(c.ci));
    // Identical answers, yet 50 rows cannot show the target within 2 points: inconclusive, with the MDE.
    const two = nonInferiority(c, 2);
    assert.equal(two.outcome, "inconclusive");
    assert.deepEqual(two.ciPts, [-5.7, 5.7]);
    assert.match(two.sentence, /^Inconclusive: .*at 50 rows it detects differences of about \d+\.\d pts \(80% power\)/);
    assert.ok(two.mdePts !== null && two.mdePts > 0);
    // -5.71 > -6: non-inferior at a 6-point margin; at 5.7 points the bound is still below: inconclusive.
    assert.equal(nonInferiority(c, 6).outcome, "non-inferior");
    assert.equal(nonInferiority(c, 5.7).outcome, "inconclusive");
    assert.deepEqual(nonInferiority(c, 6).regressions, []);
  });

  test("inferior when the whole interval lies below -margin; the regressed rows are the source-only passes", () => {
    // 30 rows only the source passes, 20 both fail: diff -60 pts, the upper bound far below -2.
    const src = [...Array(30).fill(1), ...Array(20).fill(0)];
    const tgt = Array(50).fill(0);
    const v = nonInferiority(comparison(src, tgt), 2);
    assert.equal(v.outcome, "inferior");
    assert.ok(v.ciPts[1] < -2);
    assert.equal(v.regressions.length, 30);
    assert.match(v.sentence, /^Inferior: run:1 scores -60\.0 pts against openai:ft:src/);
  });

  test("margins as users write them", () => {
    assert.equal(parseMargin("2pts"), 2);
    assert.equal(parseMargin("2 pts"), 2);
    assert.equal(parseMargin("1.5pt"), 1.5);
    assert.equal(parseMargin("3"), 3);
    assert.equal(parseMargin("0"), null);
    assert.equal(parseMargin("-2pts"), null);
    assert.equal(parseMargin("2%"), null);
    assert.equal(parseMargin("101"), null);
  });
});

const job = (hyper: FineTuneJob["hyper"]): FineTuneJob => ({
  id: "ftjob-abc",
  status: "succeeded",
  baseModel: "gpt-4o-mini-2024-07-18",
  tunedModel: "ft:gpt-4o-mini-2024-07-18:org::abc",
  trainingFile: "file-1",
  validationFile: null,
  method: "supervised",
  hyper,
  createdAt: new Date(0),
  trainedTokens: 1000,
});

describe("the same recipe on the target", () => {
  test("epochs and batch size as OpenAI trained; learning rate = the target's default x the multiplier", () => {
    const r = mapRecipe(job({ epochs: 4, learningRateMultiplier: 1.8, batchSize: 8 }), "together", 500);
    assert.deepEqual([r.epochs, r.batchSize, r.learningRate], [4, 8, 1.8e-4]);
    const l = mapRecipe(job({ epochs: 4, learningRateMultiplier: 1.8, batchSize: 8 }), "local", 500);
    assert.equal(l.learningRate, 5.4e-3);
    assert.match(l.notes.join("\n"), /multiplier 1\.8 x local's default 0\.003 = 0\.0054/);
  });

  test('"auto": the cookbook epochs for the rows, the target\'s default rate and batch; a huge multiplier is capped', () => {
    const r = mapRecipe(job({ epochs: "auto", learningRateMultiplier: "auto", batchSize: "auto" }), "together", 20);
    assert.deepEqual([r.epochs, r.batchSize, r.learningRate], [5, 8, 1e-4]);
    assert.equal(mapRecipe(job({ epochs: 1, learningRateMultiplier: 1e6, batchSize: 1 }), "local", 9).learningRate, 1);
  });
});

describe("files tuneloop cannot train on", () => {
  test("preference (DPO) rows and image messages are found with their line; chat rows pass", async () => {
    const dir = tmpDir("migrate-files");
    const write = (name: string, rows: unknown[]) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
      return p;
    };
    const chat = {
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
      ],
    };
    const dpo = {
      input: { messages: [{ role: "user", content: "hi" }] },
      preferred_output: [{ role: "assistant", content: "hello" }],
      non_preferred_output: [{ role: "assistant", content: "go away" }],
    };
    const image = {
      messages: [
        { role: "user", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] },
        { role: "assistant", content: "a cat" },
      ],
    };
    assert.equal(await findUnusableData(write("chat.jsonl", [chat, chat])), null);
    assert.deepEqual(await findUnusableData(write("dpo.jsonl", [chat, dpo])).then((x) => [x?.kind, x?.line]), [
      "preference",
      2,
    ]);
    const v = await findUnusableData(write("vision.jsonl", [chat, chat, image]));
    assert.equal(v?.kind, "vision");
    assert.equal(v?.line, 3);
    assert.match(v?.reason ?? "", /images/);
  });
});

describe("OpenAI's job object", () => {
  test("hyperparameters from method.<type>.hyperparameters, else the legacy top-level field; names from ids", () => {
    const j = jobFromOpenAI({
      id: "ftjob-AbC",
      status: "succeeded",
      model: "gpt-4o-mini-2024-07-18",
      fine_tuned_model: "ft:gpt-4o-mini-2024-07-18:org::x",
      training_file: "file-t",
      validation_file: null,
      created_at: 1_700_000_000,
      method: { type: "dpo", dpo: { hyperparameters: { n_epochs: 2, beta: 0.1, learning_rate_multiplier: "auto" } } },
    } as never);
    assert.equal(j.method, "dpo");
    assert.deepEqual(j.hyper, { epochs: 2, learningRateMultiplier: "auto", batchSize: null });
    assert.equal(j.createdAt.toISOString(), "2023-11-14T22:13:20.000Z");
    const legacy = jobFromOpenAI({
      id: "ftjob-1",
      status: "succeeded",
      hyperparameters: { n_epochs: 3, batch_size: 1, learning_rate_multiplier: 2 },
    } as never);
    assert.equal(legacy.method, "supervised");
    assert.deepEqual(legacy.hyper, { epochs: 3, learningRateMultiplier: 2, batchSize: 1 });
    assert.equal(jobName("ftjob-AbC"), "ftjob-abc");
  });
});
