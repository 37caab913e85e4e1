/**
 * One way to write money, counts, durations and times in every reply (src/core/format.ts), and a scan of the
 * user-facing sources for the ad-hoc formats it replaced ("row(s)", "$" + toFixed, bare ISO slices).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fmt, pluralOf } from "../src/core/format.ts";
import { repoRoot } from "./helpers.ts";

describe("format", () => {
  test("money: thousands separators, cents, two significant digits below a cent, never $0.0000", () => {
    assert.equal(fmt.usd(1_000_000), "$1,000,000.00");
    assert.equal(fmt.usd(1234.5), "$1,234.50");
    assert.equal(fmt.usd(0.5), "$0.50");
    assert.equal(fmt.usd(0.01), "$0.01");
    assert.equal(fmt.usd(0), "$0");
    assert.equal(fmt.usd(0.0042), "$0.0042");
    assert.equal(fmt.usd(0.00004213), "$0.000042");
    assert.equal(fmt.usd(0.000012), "$0.000012");
    assert.equal(fmt.usd(0.0099999), "$0.01");
    assert.equal(fmt.usd(0.00000001), "<$0.000001");
    assert.equal(fmt.usd(-2.5), "-$2.50");
  });

  test("plurals: one row, two rows, English spelling for the rest", () => {
    assert.equal(fmt.count(1, "row"), "1 row");
    assert.equal(fmt.count(0, "row"), "0 rows");
    assert.equal(fmt.count(12_345, "row"), "12,345 rows");
    assert.equal(fmt.count(3, "templated family"), "3 templated families");
    assert.equal(fmt.count(2, "hypothesis"), "2 hypotheses");
    assert.equal(fmt.count(2, "near-duplicate match"), "2 near-duplicate matches");
    assert.equal(fmt.count(2, "day"), "2 days");
    assert.equal(fmt.count(3, "epoch"), "3 epochs");
    assert.equal(fmt.count(2, "batch"), "2 batches");
    assert.equal(fmt.noun(1, "row"), "row");
    assert.equal(pluralOf("eval row"), "eval rows");
  });

  test("durations: ms, seconds, minutes and seconds, hours and minutes", () => {
    assert.equal(fmt.duration(850), "850 ms");
    assert.equal(fmt.duration(12_600), "12.6 s");
    assert.equal(fmt.duration(168_000), "2 min 48 s");
    assert.equal(fmt.duration(1_229_000), "20 min 29 s");
    assert.equal(fmt.duration(59_990), "1 min 0 s");
    assert.equal(fmt.duration(3_720_000), "1 h 2 min");
    assert.equal(fmt.duration(7_200_000), "2 h");
    assert.equal(fmt.seconds(11.6), "11.6 s");
  });

  test("times say their zone", () => {
    const d = new Date("2026-03-02T18:27:41Z");
    assert.equal(fmt.time(d), "2026-03-02 18:27 UTC");
    assert.equal(fmt.day(d), "2026-03-02");
    assert.equal(fmt.zoned(d, "UTC"), "2026-03-02 18:27 UTC");
    assert.equal(fmt.zoned(d, "Europe/Berlin"), "2026-03-02 19:27 Europe/Berlin");
    assert.equal(fmt.zoned(new Date("2026-07-01T23:30:00Z"), "America/New_York"), "2026-07-01 19:30 America/New_York");
  });

  test("points and p-values", () => {
    assert.equal(fmt.pts(0.053), "+5.3 pts");
    assert.equal(fmt.pts(-0.02), "-2.0 pts");
    assert.equal(fmt.pts(-0.0001), "+0.0 pts");
    assert.equal(fmt.pts(0.162, { signed: false }), "16.2 pts");
    assert.equal(fmt.p(0.0421), "p = 0.042");
    assert.equal(fmt.p(1e-9), "p < 0.001");
  });

  test("user-facing sources format through the module (no row(s), no $ + toFixed, no bare ISO minutes)", () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts") && !p.endsWith("format.ts")) {
          fs.readFileSync(p, "utf8")
            .split("\n")
            .forEach((line, i) => {
              if (/^\s*(\/\/|\*|\/\*)/.test(line)) return;
              const bad =
                /\b(row|record|problem|pair|file|part|failure|group|kind|cell|line|epoch|item|run|eval|model|prompt|token|error|warning|character|attempt|step)\(s\)/.test(
                  line,
                )
                  ? "plural (s)"
                  : /\$\$\{[^}]*toFixed/.test(line)
                    ? "$ + toFixed"
                    : /toISOString\(\)\.slice\(0, 1[69]\)/.test(line)
                      ? "ISO time without a zone"
                      : null;
              if (bad) offenders.push(`${path.relative(repoRoot, p)}:${i + 1} ${bad}: ${line.trim().slice(0, 100)}`);
            });
        }
      }
    };
    walk(path.join(repoRoot, "src"));
    walk(path.join(repoRoot, "commands"));
    assert.deepEqual(offenders, []);
  });
});
