/** Training-time estimates: the default table, what measured runs change, and the error shown after a run. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  estimateError,
  estimateWall,
  seqBucket,
  tableThroughput,
  throughputTable,
  type ThroughputEntry,
} from "../../src/core/costs/throughput.ts";
import type { ThroughputSample } from "../../src/core/ports.ts";
import { installCostTables } from "../../src/providers/tables.ts";

// The wiring hands the core the providers' tables; these tests estimate with the real ones.
installCostTables();

const entry = (e: Partial<ThroughputEntry>): ThroughputEntry => ({
  provider: "local",
  model: "m",
  tokensPerRow: null,
  tokensPerSec: 1000,
  overheadSeconds: 1,
  note: "measured here",
  source: "test",
  date: "2026-12-02",
  ...e,
});
const ENTRIES = [
  entry({ tokensPerRow: 64, tokensPerSec: 1000 }),
  entry({ tokensPerRow: 256, tokensPerSec: 250 }),
  entry({ provider: "hosted", model: "*", tokensPerSec: 2000, overheadSeconds: 600, note: "a guess" }),
];
const wall = (
  work: { tokens: number; tokensPerRow: number; unit?: string },
  samples: ThroughputSample[] = [],
  provider = "local",
  model = "m",
) => estimateWall({ provider, model, work, samples, entries: ENTRIES });
const sample = (tokens: number, wallMs: number, seqBucket = 128): ThroughputSample => ({
  runId: tokens,
  provider: "local",
  baseModel: "m",
  seqBucket,
  rows: 100,
  tokens,
  wallMs,
  at: new Date(0),
});

describe("training-time estimates", () => {
  test("sequence-length buckets are the nearest power of two", () => {
    assert.deepEqual([0, 29, 42, 46, 134, 260, 392].map(seqBucket), [8, 32, 32, 64, 128, 256, 512]);
  });

  test("the table interpolates the rate between row lengths on log scales, and clamps outside them", () => {
    // halfway (in log) between 64 and 256 tokens/row: the geometric mean of 1,000 and 250 tokens/s
    assert.equal(Math.round(tableThroughput("local", "m", 128, ENTRIES)?.tokensPerSec ?? 0), 500);
    assert.equal(tableThroughput("local", "m", 16, ENTRIES)?.tokensPerSec, 1000);
    assert.equal(tableThroughput("local", "m", 4000, ENTRIES)?.tokensPerSec, 250);
    assert.equal(tableThroughput("hosted", "any-model", 128, ENTRIES)?.overheadSeconds, 600);
    assert.equal(tableThroughput("nobody", "m", 128, ENTRIES), null);
  });

  test("without earlier runs: the table, and the estimate says so", () => {
    const w = wall({ tokens: 12_800, tokensPerRow: 128 });
    assert.ok(w);
    assert.equal(w.basis, "table");
    assert.equal(Math.round(w.seconds * 10) / 10, 26.6); // 1 s + 12,800 / 500
    assert.equal(w.source, "from the default table, measured here: 500 tokens/s at ~128 tokens/row");
    const hosted = wall({ tokens: 1_200_000, tokensPerRow: 400 }, [], "hosted", "big");
    assert.equal(hosted?.seconds, 1200); // 10 min + 1.2M / 2,000
    assert.match(
      hosted?.source ?? "",
      /^from the default table, a guess: 2,000 tokens\/s plus 10 min of queue and setup$/,
    );
    assert.equal(
      estimateWall({ provider: "nobody", model: "m", work: { tokens: 1, tokensPerRow: 1 }, samples: [] }),
      null,
    );
  });

  test("with earlier runs of the same shape: their median correction of the table, and their tokens/s", () => {
    // The table predicts 1 + tokens / 500 s at ~128 tokens/row. These runs took 2x, 1x and ~3x that.
    const samples = [sample(12_800, 53_200), sample(6_400, 13_800), sample(25_600, 157_800)];
    const w = wall({ tokens: 12_800, tokensPerRow: 128 }, samples);
    assert.ok(w);
    assert.equal(w.basis, "measured");
    assert.equal(w.runs, 3);
    assert.equal(Math.round(w.seconds * 10) / 10, 53.2); // the median factor (2) times 26.6 s
    // median of 12,800/53.2 = 240.6, 6,400/13.8 = 463.8, 25,600/157.8 = 162.2 tokens/s
    assert.equal(w.source, "from 3 earlier runs of m at ~128 tokens/row: 241 tokens/s");
    const one = wall({ tokens: 12_800, tokensPerRow: 128 }, [sample(12_800, 40_000)]);
    assert.equal(one?.seconds, 40, "the same training again is estimated at what it took");
    assert.equal(one?.source, "from 1 earlier run of m at ~128 tokens/row: 320 tokens/s");
    const own = wall({ tokens: 12_800, tokensPerRow: 128, unit: "m tokens with padding" }, [sample(12_800, 40_000)]);
    assert.equal(
      own?.source,
      "from 1 earlier run of m at ~128 tokens/row: 320 tokens/s, counting m tokens with padding",
    );
  });

  test("a provider the table does not know learns from its runs alone", () => {
    const samples = [{ ...sample(1000, 10_000), provider: "nobody" }];
    const w = wall({ tokens: 2000, tokensPerRow: 200 }, samples, "nobody", "m");
    assert.equal(w?.seconds, 20);
  });

  test("the error after the run", () => {
    assert.equal(estimateError(168, 190), "+13%");
    assert.equal(estimateError(100, 80), "-20%");
    assert.equal(estimateError(60, 60), "+0%");
  });

  test("the shipped table covers every trainer and says where each number comes from", () => {
    const t = throughputTable();
    for (const p of ["local", "together", "openai"])
      assert.ok(
        t.some((e) => e.provider === p),
        p,
      );
    for (const e of t) assert.ok(e.source.length > 20 && e.note.length > 5, `${e.provider}:${e.model}`);
    const local = t.filter((e) => e.provider === "local");
    assert.ok(local.length >= 4, "several row lengths for the local trainer");
    for (const e of local) assert.match(e.source, /npm run bench/);
  });
});
