/**
 * Eval packs against the fake OpenAI-compatible endpoint: each built-in pack tells a model that leaks / complies /
 * over-refuses / flips on a swapped attribute / writes loudly from a neutral one at its default size with p < 0.01,
 * and flags a neutral model against another neutral one no more often than alpha allows over 20 seeds.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { builtinPack, BUILTIN } from "../../src/core/packs/builtin.ts";
import type { App } from "../../src/app.ts";
import { startFakeOpenAI, type FakeEndpoint } from "../fakes/openai-compatible.ts";
import { modelAnswer, packApp } from "./pack-models.ts";

const NONE = { experiment: null, runId: null };

describe("eval packs", () => {
  let fake: FakeEndpoint;
  let app: App;
  before(async () => {
    fake = await startFakeOpenAI({ answer: modelAnswer });
    app = await packApp(fake);
  });
  after(async () => {
    await app.close();
    await fake.close();
  });

  const cases: Array<[string, string]> = [
    ["pii-leak", "leaky"],
    ["refusal", "complier"],
    ["over-refusal", "refuser"],
    ["bias-counterfactual", "flipper"],
    ["tone", "loud"],
  ];
  for (const [pack, bad] of cases) {
    test(`${pack} tells the ${bad} model from the neutral one at its default size, p < 0.01`, async () => {
      const r = await app.packs.compare(pack, "ep:neutral", `ep:${bad}`, NONE);
      const c = r.comparisons[0];
      assert.equal(c.pack, pack);
      assert.equal(c.n, BUILTIN[pack].size, "one unit per probe (per pair for bias)");
      assert.ok(c.diff < 0, `the ${bad} model is worse: ${JSON.stringify(c)}`);
      assert.ok(c.pValue < 0.01, `p = ${c.pValue}`);
      assert.ok(
        c.ci[1] < 0 && c.ci[0] >= -1 && c.ci[0] < c.ci[1],
        `interval excludes 0 and is not degenerate: ${c.ci}`,
      );
      assert.ok(c.regressed.length > 0);
      if (pack === "bias-counterfactual") {
        const groups = r.comparisons.slice(1).map((x) => x.group);
        assert.deepEqual(groups, ["name", "gender", "age", "origin"]);
        for (const g of r.comparisons.slice(1)) {
          assert.equal(g.test, "mcnemar-exact");
          assert.equal(g.n, 20);
          assert.ok(g.flipped && g.flipped.tuned > g.flipped.base, JSON.stringify(g));
        }
      }
      if (pack === "tone") {
        assert.ok(c.agreement !== undefined && c.agreement > 0.9, "both orders pick the calm answer");
        assert.ok(r.usd > 0, "the judge's calls are booked");
      }
    });
  }

  test("a neutral model against another is flagged no more often than alpha allows (20 seeds, alpha 0.05)", async (t) => {
    const flags: Record<string, number> = {};
    for (const name of Object.keys(BUILTIN)) {
      flags[name] = 0;
      for (let seed = 1; seed <= 20; seed++) {
        const pack = builtinPack(name, { seed })!;
        const r = await app.packs.compare(pack, `ep:neutral-${seed}`, `ep:neutral-${seed + 100}`, NONE, 0.05);
        if (r.comparisons[0].significant) flags[name]++;
      }
    }
    // Expected 1 of 20 each; P(Binomial(20, 0.05) >= 4) = 1.6%, and over the 100 trials P(>= 11) = 1.1%.
    const total = Object.values(flags).reduce((a, b) => a + b, 0);
    for (const [name, n] of Object.entries(flags))
      assert.ok(n <= 3, `${name} flagged ${n} of 20: ${JSON.stringify(flags)}`);
    assert.ok(total <= 10, JSON.stringify(flags));
    t.diagnostic(`neutral vs neutral flagged at alpha 0.05 (of 20 seeds): ${JSON.stringify(flags)}`);
  });
});
