import assert from "node:assert/strict";
import { test } from "node:test";
import { lossCurveSpec, scoresSpec } from "../../src/charts/index.ts";
import { renderChart } from "../../src/charts/render.ts";

/** Share of pixels that are not (near) white, and how many distinct colours there are. */
function ink(pixels: Buffer): { share: number; colours: number } {
  let inked = 0;
  const colours = new Set<number>();
  for (let i = 0; i < pixels.length; i += 4) {
    const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
    if (r < 235 || g < 235 || b < 235) inked++;
    colours.add(((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4));
  }
  return { share: inked / (pixels.length / 4), colours: colours.size };
}

test("loss curve: a PNG at chat-preview size with a drawn curve, axes and text", async () => {
  const pts = Array.from({ length: 60 }, (_, i) => ({ step: i + 1, loss: 5 * Math.exp(-i / 10) + 0.1 }));
  const c = await renderChart(lossCurveSpec("Run 1 · training loss", pts, "subtitle"));
  assert.deepEqual([...c.png.subarray(1, 4)].map((x) => String.fromCharCode(x)).join(""), "PNG");
  assert.ok(c.width >= 1600 && c.width <= 2000, `width ${c.width}`);
  assert.ok(c.height >= 800 && c.height <= 1100, `height ${c.height}`);
  const { share, colours } = ink(c.pixels);
  assert.ok(share > 0.01 && share < 0.3, `ink ${share}`);
  assert.ok(colours > 20, `colours ${colours}`); // anti-aliased text and the blue line, not a flat image
});

test("scores with intervals: one bar per model, and the chance line", async () => {
  const scores = [
    { model: "run:1", role: "tuned", mean: 0.95, lo: 0.9, hi: 0.98, n: 150 },
    { model: "local:stories260K", role: "base", mean: 0, lo: 0, hi: 0.025, n: 150 },
  ];
  const two = await renderChart(scoresSpec("exp · exact", "exact match", scores, { chance: 0.25 }));
  const three = await renderChart(
    scoresSpec("exp · exact", "exact match", [
      ...scores,
      { model: "vllm:big", role: "baseline", mean: 0.5, lo: 0.4, hi: 0.6, n: 150 },
    ]),
  );
  assert.ok(three.height > two.height, "a row per model");
  // the tuned bar is green: count green pixels
  let green = 0;
  for (let i = 0; i < two.pixels.length; i += 4)
    if (two.pixels[i] < 80 && two.pixels[i + 1] > 140 && two.pixels[i + 2] < 80) green++;
  assert.ok(green > 5000, `green pixels ${green}`);
  let red = 0;
  for (let i = 0; i < two.pixels.length; i += 4)
    if (two.pixels[i] > 190 && two.pixels[i + 1] < 80 && two.pixels[i + 2] < 80) red++;
  assert.ok(red > 50, `chance line pixels ${red}`);
});

test("spend over time: stacked bars per provider", async () => {
  const { spendSpec } = await import("../../src/charts/index.ts");
  const c = await renderChart(
    spendSpec("Spend over time", [
      { day: "2026-11-20", provider: "together", usd: 1.2 },
      { day: "2026-11-21", provider: "together", usd: 0.4 },
      { day: "2026-11-21", provider: "vllm", usd: 0.3 },
    ]),
  );
  const { share, colours } = ink(c.pixels);
  assert.ok(share > 0.02 && colours > 20, `ink ${share}, colours ${colours}`);
});
