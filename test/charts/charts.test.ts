import assert from "node:assert/strict";
import { test } from "node:test";
import type { TopLevelSpec } from "vega-lite";
import { lossCurveSpec, scoresSpec } from "../../src/charts/index.ts";
import { CHART_CONFIG, renderChart } from "../../src/charts/render.ts";

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

/** The rendered scene (vega's scenegraph, no pixels): every mark item with its kind, position and datum. */
interface SceneItem {
  marktype: string;
  name: string;
  x: number;
  y: number;
  x2?: number;
  width?: number;
  size?: number;
  text?: string;
  stroke?: string;
  fill?: string;
  datum: Record<string, unknown>;
}
async function scene(spec: TopLevelSpec): Promise<{ items: SceneItem[]; width: number }> {
  const vega = await import("vega");
  const { compile } = await import("vega-lite");
  const vg = compile({ ...spec, config: { ...CHART_CONFIG } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vg), { renderer: "none" });
  await view.runAsync();
  const items: SceneItem[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: vega's scenegraph is untyped
  const walk = (node: any, marktype = "", name = "") => {
    if (!node) return;
    if (node.marktype !== undefined) {
      for (const it of node.items ?? []) walk(it, node.marktype, node.name ?? "");
      return;
    }
    if (marktype && marktype !== "group") {
      items.push({
        marktype,
        name,
        x: node.x,
        y: node.y,
        x2: node.x2,
        width: node.width,
        size: node.size,
        text: node.text,
        stroke: node.stroke,
        fill: node.fill,
        datum: node.datum ?? {},
      });
    }
    for (const child of node.items ?? []) walk(child);
  };
  walk((view.scenegraph() as unknown as { root: unknown }).root);
  const width = view.width();
  view.finalize();
  return { items, width };
}

test("scores: a visible marker at 0%, and each label in a column right of the plot, not at its interval's end", async () => {
  const scores = [
    { model: "run:1", role: "tuned", mean: 17 / 18, lo: 0.742, hi: 0.99, n: 18 },
    { model: "local:stories260K", role: "base", mean: 0, lo: 0, hi: 0.176, n: 18 },
  ];
  const { items, width } = await scene(scoresSpec("exp", "exact", scores));
  const base = (it: SceneItem) => it.datum.model === "local:stories260K";
  // the diamond of the 0% model sits on the axis (x = 0) and is drawn at a visible size
  const marker = items.find((it) => it.marktype === "symbol" && base(it));
  assert.ok(marker, "a marker for the 0% model");
  assert.equal(marker.x, 0);
  assert.ok((marker.size ?? 0) >= 100, `marker size ${marker.size}`);
  // its interval runs from 0 to 17.6% of the axis
  const rule = items.find((it) => it.marktype === "rule" && base(it));
  assert.ok(rule && rule.x === 0 && Math.abs((rule.x2 ?? 0) - 0.176 * width) < 1e-6);
  // the label says 0.0% and stands right of the plot, past every interval end
  const label = items.find((it) => it.marktype === "text" && base(it));
  assert.equal(label?.text, "0.0%  [0.0–17.6]");
  assert.equal(label?.x, width);
  const tuned = items.find((it) => it.marktype === "text" && it.datum.model === "run:1");
  assert.equal(tuned?.text, "94.4%  [74.2–99.0]");
  assert.equal(tuned?.x, width);
});

test("paired difference: the interval and the point are the comparison's, with 0 and the detectable band", async () => {
  const { differenceSpec } = await import("../../src/charts/index.ts");
  const { pairedComparison } = await import("../../src/core/stats.ts");
  // the demo: 150 rows the base fails and the tuned model passes
  const c = pairedComparison(new Array(150).fill(0), new Array(150).fill(1));
  const rows = [
    {
      label: "run:1 − local:stories260K",
      diff: c.diff,
      lo: c.ci[0],
      hi: c.ci[1],
      mde: c.mde,
      significant: c.significant,
      pText: "p < 0.001",
    },
    { label: "run:1 − vllm:big", diff: 0.02, lo: -0.03, hi: 0.07, mde: 0.06, significant: false, pText: "p = 0.412" },
  ];
  const spec = differenceSpec("Run 1 · exact", "exact", rows, { method: "Newcombe" });
  const { items } = await scene(spec);
  const demo = (it: SceneItem) => it.datum.model === "run:1 − local:stories260K";
  const point = items.find((it) => it.marktype === "symbol" && demo(it));
  const ruleAt = items.filter((it) => it.marktype === "rule");
  const interval = ruleAt.find((it) => demo(it) && it.x2 !== undefined);
  const zero = ruleAt.find((it) => it.datum.zero === 0);
  assert.ok(point && interval && zero);
  // x is linear in points: recover the scale from the zero line and the point at +100
  const px = (pts: number) => zero.x + ((point.x - zero.x) * pts) / 100;
  assert.equal(point.datum.diffPts, 100);
  assert.ok(Math.abs(interval.x - px(c.ci[0] * 100)) < 1e-6, "the interval starts at Newcombe's lower limit");
  assert.ok(Math.abs((interval.x2 ?? 0) - px(100)) < 1e-6);
  assert.ok(interval.x < point.x, "not a point: +96.5 to +100");
  const label = items.find((it) => it.marktype === "text" && demo(it));
  assert.equal(label?.text, "+100.0 pts  [+96.5, +100.0]  p < 0.001");
  // the grey band is ± the MDE
  const band = items.find((it) => it.marktype === "rect" && demo(it));
  assert.ok(
    band &&
      Math.abs(band.x - px(-c.mde * 100)) < 1e-6 &&
      Math.abs((band.width ?? 0) - (px(c.mde * 100) - px(-c.mde * 100))) < 1e-6,
  );
  // colours: significant and better is green, the other grey
  assert.equal(interval.stroke, "#2ca02c");
  assert.equal(ruleAt.find((it) => it.datum.model === "run:1 − vllm:big" && it.x2 !== undefined)?.stroke, "#7f7f7f");
  const png = await renderChart(spec);
  assert.ok(ink(png.pixels).share > 0.02);
});

test("scores over runs: one point per run in time order, with its interval and the base as a dashed line", async () => {
  const { historySpec } = await import("../../src/charts/index.ts");
  const pts = [
    { run: "run:4", at: "2026-11-23T16:00:00Z", mean: 0.7, lo: 0.6, hi: 0.78, n: 100 },
    { run: "run:1", at: "2026-11-20T10:00:00Z", mean: 0.5, lo: 0.4, hi: 0.6, n: 100 },
  ];
  const { items } = await scene(
    historySpec("exp over its runs", "exact", pts, [{ model: "local:stories260K", mean: 0 }]),
  );
  const dots = items.filter((it) => it.marktype === "symbol");
  assert.deepEqual(
    dots.map((d) => d.datum.run),
    ["run:1", "run:4"],
  );
  assert.ok(dots[0].x < dots[1].x && dots[0].y > dots[1].y, "later and higher");
  assert.ok(items.some((it) => it.marktype === "text" && it.text === "local:stories260K 0.0%"));
  assert.ok(items.some((it) => it.marktype === "text" && it.text === "70.0%"));
});

test("loss curve: epoch marks and, when reported, validation loss in red", async () => {
  const train = Array.from({ length: 30 }, (_, i) => ({ step: i + 1, loss: 3 * Math.exp(-i / 8) + 0.2 }));
  const valid = [0, 10, 20, 30].map((step) => ({
    step,
    loss: 3 * Math.exp(-step / 10) + 0.5,
    series: "validation" as const,
  }));
  const { items } = await scene(
    lossCurveSpec("Run 1", [...train, ...valid], "", {
      epochEnds: [
        { step: 10, epoch: 1 },
        { step: 20, epoch: 2 },
      ],
    }),
  );
  assert.deepEqual(
    items.filter((it) => it.marktype === "text" && it.text?.startsWith("end of epoch")).map((it) => it.text),
    ["end of epoch 1", "end of epoch 2"],
  );
  const epochRules = items.filter((it) => it.marktype === "rule" && typeof it.datum.epoch === "number");
  assert.equal(epochRules.length, 2);
  const validDots = items.filter((it) => it.marktype === "symbol" && it.datum.series === "validation");
  assert.equal(validDots.length, 4);
  // the epoch-1 mark passes through the validation point taken at the end of epoch 1
  assert.ok(Math.abs(epochRules[0].x - (validDots.find((d) => d.datum.step === 10)?.x ?? -1)) < 1e-6);
  const lines = items.filter((it) => it.marktype === "line");
  assert.ok(lines.some((l) => l.stroke === "#d62728") && lines.some((l) => l.stroke === "#1f77b4"));
  // without a validation set: one blue curve, no red
  const plain = await scene(lossCurveSpec("Run 1", train));
  assert.ok(!plain.items.some((it) => it.marktype === "line" && it.stroke === "#d62728"));
});
