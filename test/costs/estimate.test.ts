import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import {
  billingTokens,
  defaultEpochs,
  EstimateError,
  estimateTraining,
  findModel,
  parsePriceTable,
  priceTable,
} from "../../src/core/costs/estimate.ts";
import { installCostTables } from "../../src/providers/tables.ts";

// The wiring hands the core the providers' tables; these tests estimate with the real ones.
installCostTables();

describe("defaultEpochs (cookbook rule)", () => {
  it("boundaries", () => {
    const cases: Array<[number, number]> = [
      [1, 25], // 100/1 = 100, capped at 25
      [4, 25], // 100/4 = 25
      [5, 20],
      [10, 10], // 30 < 100: min(25, floor(100/10))
      [33, 3], // 99 < 100: floor(100/33) = 3
      [34, 3], // 102 >= 100
      [100, 3],
      [8333, 3], // 24999 <= 25000
      [8334, 2], // 25002 > 25000: floor(25000/8334) = 2
      [12500, 2],
      [12501, 1],
      [25000, 1],
      [100000, 1], // floor(0.25) -> max(1, 0)
    ];
    for (const [n, e] of cases) assert.equal(defaultEpochs(n), e, `n=${n}`);
    assert.equal(defaultEpochs(0), 3);
  });
});

describe("billingTokens", () => {
  it("sums min(limit, len)", () => {
    assert.equal(billingTokens([100, 600, 512, 0], 512), 100 + 512 + 512);
    assert.equal(billingTokens([], 512), 0);
  });
});

describe("price table", () => {
  it("prices.json is valid and has the required models", () => {
    const refs = priceTable().map((e) => `${e.provider}:${e.model}`);
    for (const ref of [
      "openai:gpt-4.1",
      "openai:gpt-4.1-mini",
      "openai:gpt-4.1-nano",
      "openai:gpt-4o",
      "openai:gpt-4o-mini",
      "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
      "together:Qwen/Qwen2.5-7B-Instruct",
      "together:meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
      "local:stories260K",
    ]) {
      assert.ok(refs.includes(ref), ref);
    }
    for (const e of priceTable()) assert.match(e.date, /^\d{4}-\d{2}-\d{2}$/);
    const local = findModel("local:stories260K");
    assert.deepEqual([local.trainingPer1M, local.inputPer1M, local.outputPer1M, local.contextTokens], [0, 0, 0, 512]);
  });

  it("rejects malformed tables with a coded error", () => {
    const good = JSON.parse(readFileSync(new URL("../../src/providers/prices.json", import.meta.url), "utf8"));
    assert.equal(parsePriceTable(good).length, good.length);
    const bad = [{ ...good[0], trainingPer1M: -1 }];
    assert.throws(
      () => parsePriceTable(bad),
      (e: unknown) => e instanceof EstimateError && e.code === "invalid_price_table",
    );
    assert.throws(
      () => parsePriceTable([good[0], good[0]]),
      (e: unknown) => e instanceof EstimateError,
    );
    assert.throws(() => parsePriceTable([{ ...good[0], date: "25/11/2026" }]), EstimateError);
    assert.throws(() => parsePriceTable([{ ...good[0], surprise: 1 }]), EstimateError);
  });
});

describe("findModel", () => {
  it("resolves provider:model, bare names and aliases, case-insensitively", () => {
    assert.equal(findModel("openai:gpt-4.1").model, "gpt-4.1");
    assert.equal(findModel("gpt-4.1-mini").model, "gpt-4.1-mini");
    assert.equal(findModel("openai:gpt-4o-mini-2024-07-18").model, "gpt-4o-mini");
    assert.equal(findModel("gpt-4o-2024-08-06").model, "gpt-4o");
    assert.equal(findModel("together:meta-llama/meta-llama-3.1-8b-instruct-reference").provider, "together");
    assert.equal(findModel("stories260K").provider, "local");
  });

  it("unknown models throw EstimateError code unknown_model listing the known models", () => {
    assert.throws(
      () => findModel("openai:gpt-5-turbo-max"),
      (e: unknown) =>
        e instanceof EstimateError &&
        e.code === "unknown_model" &&
        e.message.includes("openai:gpt-4.1") &&
        e.message.includes("local:stories260K"),
    );
    assert.throws(
      () => findModel("anthropic:gpt-4.1"),
      (e: unknown) => e instanceof EstimateError && e.code === "unknown_model",
    );
  });
});

describe("estimateTraining", () => {
  it("a known estimate: 100 rows x 1,000 tokens, default 3 epochs", () => {
    const rows = new Array(100).fill(1000);
    const [mini, full, local] = estimateTraining(rows, {
      models: ["openai:gpt-4o-mini", "openai:gpt-4.1", "local:stories260K"],
    });
    // 3 epochs x 100,000 tokens = 300,000 billed tokens
    assert.deepEqual(mini, {
      provider: "openai",
      model: "gpt-4o-mini",
      epochs: 3,
      billedTokens: 300_000,
      usd: 0.9, // 0.3M x $3.00
      contextTokens: 65536,
      rowsOverContext: 0,
    });
    assert.equal(full.usd, 7.5); // 0.3M x $25.00
    // the local trainer truncates at 512 tokens: 3 x 100 x 512
    assert.deepEqual(
      [local.billedTokens, local.usd, local.rowsOverContext, local.contextTokens],
      [153_600, 0, 100, 512],
    );
  });

  it("explicit epochs, rounding to cents and Together bands", () => {
    const [r] = estimateTraining([123_457], {
      epochs: 2,
      models: ["together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"],
    });
    assert.equal(r.billedTokens, 246_914);
    assert.equal(r.usd, 0.12); // 0.246914 x $0.48 = $0.1185
    assert.equal(estimateTraining([10], { epochs: 1, models: ["gpt-4.1-nano"] })[0].usd, 0);
  });

  it("defaults to every model with a training price", () => {
    const all = estimateTraining([10, 20]);
    assert.equal(all.length, priceTable().filter((e) => e.trainingPer1M !== null).length);
    assert.ok(all.every((e) => e.epochs === 25)); // n = 2: min(25, floor(100/2))
  });

  it("rejects bad epochs and unknown models", () => {
    assert.throws(() => estimateTraining([1], { epochs: 0 }), RangeError);
    assert.throws(
      () => estimateTraining([1], { models: ["nope"] }),
      (e: unknown) => e instanceof EstimateError && e.code === "unknown_model",
    );
  });
});
