/** The charts people compare in chat: a run's loss curve, and models with their 95% intervals. */
import type { TopLevelSpec } from "vega-lite";
import { renderPng } from "./render.ts";

export interface LossPoint {
  step: number;
  loss: number;
  series?: "train" | "validation";
}

/**
 * The loss over training steps: training loss in blue, validation loss (when the run had a validation set and its
 * trainer reported it) in red with a dot per evaluation, and a dashed grey line at the last step of each epoch but the
 * final one, labelled "end of epoch N".
 */
export function lossCurveSpec(
  title: string,
  points: LossPoint[],
  subtitle?: string,
  opts: { epochEnds?: Array<{ step: number; epoch: number }> } = {},
): TopLevelSpec {
  const data = points.map((p) => ({ ...p, series: p.series ?? "train" }));
  const train = data.filter((p) => p.series === "train");
  const valid = data.filter((p) => p.series === "validation");
  const x = { field: "step", type: "quantitative", title: "training step" };
  const y = { field: "loss", type: "quantitative", title: "loss (nats per answer token)", scale: { zero: true } };
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    scale: { domain: valid.length ? ["train", "validation"] : ["train"], range: ["#1f77b4", "#d62728"] },
  };
  const layers: unknown[] = [];
  const epochs = opts.epochEnds ?? [];
  if (epochs.length) {
    const marks = epochs.map((e) => ({ ...e, label: `end of epoch ${e.epoch}` }));
    layers.push(
      {
        data: { values: marks },
        mark: { type: "rule", strokeDash: [5, 4], color: "#999", strokeWidth: 1.5 },
        encoding: { x: { field: "step", type: "quantitative" } },
      },
      {
        data: { values: marks },
        mark: { type: "text", align: "left", baseline: "top", dx: 4, y: 4, fontSize: 12, color: "#666" },
        encoding: { x: { field: "step", type: "quantitative" }, text: { field: "label" } },
      },
    );
  }
  layers.push({
    data: { values: train },
    mark: { type: "line", strokeWidth: 2.5, point: train.length <= 40 },
    encoding: { x, y, color },
  });
  if (valid.length) {
    layers.push({
      data: { values: valid },
      mark: { type: "line", strokeWidth: 2.5, point: { filled: true, size: 70 } },
      encoding: { x, y, color },
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, subtitle: subtitle ?? "" },
    width: 820,
    height: 360,
    layer: layers,
  } as TopLevelSpec;
}

export interface ModelScore {
  model: string;
  role: string;
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

const pct1 = (x: number) => (x * 100).toFixed(1);

/**
 * An interval drawn the same way in every chart: a line from the `lo` field to the `hi` field with end caps, along x
 * (one interval per row of `band`) or along y (one per column), coloured by `color` (an encoding or { value }).
 */
function intervalLayers(o: {
  along: "x" | "y";
  band: object;
  lo: string;
  hi: string;
  /** Extra properties of the quantitative channel (title, scale, axis). */
  channel?: object;
  color: object;
  width: number;
  cap: number;
}): unknown[] {
  const across = o.along === "x" ? "y" : "x";
  const at = (field: string) => ({ field, type: "quantitative", ...(o.channel ?? {}) });
  return [
    {
      mark: { type: "rule", strokeWidth: o.width },
      encoding: { [across]: o.band, [o.along]: at(o.lo), [`${o.along}2`]: { field: o.hi }, color: o.color },
    },
    ...[o.lo, o.hi].map((field) => ({
      mark: { type: "tick", orient: o.along === "x" ? "vertical" : "horizontal", thickness: o.width, size: o.cap },
      encoding: { [across]: o.band, [o.along]: at(field), color: o.color },
    })),
  ];
}

/** One row per `model`, in data order, labelled on the left. */
const rowAxis = (labelLimit: number) => ({
  field: "model",
  type: "nominal",
  sort: null,
  title: null,
  axis: { labelFontSize: 14, labelLimit, labelPadding: 14 },
});

/** A colour per category of `field`, in this order, with a legend without a title. */
const categoryColor = (field: string, domain: string[], range: string[]) => ({
  field,
  type: "nominal",
  title: null,
  scale: { domain, range },
});

/** The estimate of a horizontal interval: a diamond with a dark outline, visible even on the axis at 0. */
function estimateDiamond(y: object, x: object, color: object, size: number): unknown {
  return {
    mark: { type: "point", shape: "diamond", filled: true, size, stroke: "black", strokeWidth: 1.5, opacity: 1 },
    encoding: { y, x, color },
  };
}

/** Each row's numbers (the `label` field) in a column right of the plot, never at a place on the axis. */
function labelColumn(y: object): unknown {
  return {
    mark: { type: "text", align: "left", dx: 14, fontSize: 13, fontWeight: "bold" },
    encoding: { y, x: { value: "width" }, text: { field: "label" } },
  };
}

/**
 * Each model's score with its 95% interval, best first; a dashed rule marks the chance baseline when given.
 * Every model gets a bar from 0 to its score AND a dot at the score, so a score of 0% still shows (a dot on the
 * axis); the interval is a black line with end caps; the numbers ("0.0% [0.0–17.6]") sit in a column to the right
 * of the plot, so no label stands at a place on the axis that is not its value.
 */
export function scoresSpec(
  title: string,
  metric: string,
  scores: ModelScore[],
  opts: { subtitle?: string; chance?: number } = {},
): TopLevelSpec {
  const rows = [...scores]
    .sort((a, b) => b.mean - a.mean)
    .map((s) => ({ ...s, label: `${pct1(s.mean)}%  [${pct1(s.lo)}–${pct1(s.hi)}]` }));
  const palette: Record<string, string> = { tuned: "#2ca02c", base: "#7f7f7f", baseline: "#1f77b4", adhoc: "#9467bd" };
  const roles = Object.keys(palette).filter((r) => rows.some((x) => x.role === r));
  const y = rowAxis(260);
  const color = categoryColor(
    "role",
    roles,
    roles.map((r) => palette[r]),
  );
  const x = {
    field: "mean",
    type: "quantitative",
    title: `${metric} (score with its 95% interval)`,
    scale: { domain: [0, 1] },
    axis: { format: "%" },
  };
  const layers: unknown[] = [
    {
      mark: { type: "bar", height: { band: 0.6 }, cornerRadiusEnd: 3, opacity: 0.85 },
      encoding: { y, x, color },
    },
    ...intervalLayers({ along: "x", band: y, lo: "lo", hi: "hi", color: { value: "black" }, width: 2, cap: 14 }),
    estimateDiamond(y, { field: "mean", type: "quantitative" }, color, 220),
    labelColumn(y),
  ];
  if (opts.chance !== undefined) {
    layers.push({
      data: { values: [{ chance: opts.chance }] },
      mark: { type: "rule", strokeDash: [6, 4], color: "#d62728", strokeWidth: 2 },
      encoding: { x: { field: "chance", type: "quantitative" } },
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: title,
      subtitle:
        opts.subtitle ??
        (opts.chance !== undefined
          ? `◆ score, black line: 95% interval · dashed red line: chance (majority label) ${pct1(opts.chance)}%`
          : "◆ score, black line: 95% interval"),
    },
    width: 700,
    height: { step: 46 },
    data: { values: rows },
    layer: layers,
  } as TopLevelSpec;
}

export const lossCurvePng = (
  title: string,
  points: LossPoint[],
  subtitle?: string,
  opts?: { epochEnds?: Array<{ step: number; epoch: number }> },
) => renderPng(lossCurveSpec(title, points, subtitle, opts));
export const scoresPng = (
  title: string,
  metric: string,
  scores: ModelScore[],
  opts?: { subtitle?: string; chance?: number },
) => renderPng(scoresSpec(title, metric, scores, opts));

export interface SpendPoint {
  day: string;
  provider: string;
  usd: number;
}

/** Spend per day by provider, stacked, with the cumulative total as a line on the same axis. */
export function spendSpec(title: string, points: SpendPoint[], subtitle = ""): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, subtitle },
    width: 820,
    height: 320,
    data: { values: points },
    layer: [
      {
        mark: { type: "bar", cornerRadiusTopLeft: 2, cornerRadiusTopRight: 2 },
        encoding: {
          x: { field: "day", type: "ordinal", title: "day (UTC)", axis: { labelAngle: -30 } },
          y: { aggregate: "sum", field: "usd", type: "quantitative", title: "spend (USD)", axis: { format: "$.2f" } },
          color: { field: "provider", type: "nominal", title: null },
        },
      },
    ],
  } as TopLevelSpec;
}

export const spendPng = (title: string, points: SpendPoint[], subtitle?: string) =>
  renderPng(spendSpec(title, points, subtitle));

export interface DifferenceRow {
  /** "run:1 − local:stories260K" */
  label: string;
  /** Proportion points (0.05 = 5 points): b - a, positive = the first-named model is better. */
  diff: number;
  lo: number;
  hi: number;
  /** Minimum detectable effect (proportion points); Infinity or NaN leaves the band out. */
  mde: number;
  significant: boolean;
  /** "p < 0.001" */
  pText: string;
}

const signedPts = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}`;

/**
 * The paired difference of each comparison with its 95% interval, in percentage points: a dashed line at 0 (no
 * difference), a grey band of ± the minimum detectable effect, a diamond at the observed difference and the
 * interval as a line with end caps, green when significantly better, red when significantly worse, grey otherwise.
 * The numbers sit in a column to the right of the plot.
 */
export function differenceSpec(
  title: string,
  metric: string,
  rows: DifferenceRow[],
  opts: { subtitle?: string; method?: string } = {},
): TopLevelSpec {
  const values = rows.map((r) => {
    const finite = Number.isFinite(r.mde);
    return {
      ...r,
      model: r.label,
      diffPts: r.diff * 100,
      loPts: r.lo * 100,
      hiPts: r.hi * 100,
      mdeLo: finite ? -r.mde * 100 : 0,
      mdeHi: finite ? r.mde * 100 : 0,
      hasMde: finite,
      verdict: r.significant ? (r.diff > 0 ? "better" : "worse") : "not significant",
      label: `${signedPts(r.diff)} pts  [${signedPts(r.lo)}, ${signedPts(r.hi)}]  ${r.pText}`,
    };
  });
  const y = rowAxis(360);
  const verdictColor = categoryColor(
    "verdict",
    ["better", "worse", "not significant"],
    ["#2ca02c", "#d62728", "#7f7f7f"],
  );
  const x = { type: "quantitative", title: `difference in ${metric} (percentage points), 95% interval` };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: title,
      subtitle:
        opts.subtitle ??
        `◆ observed difference · line: 95% interval${opts.method ? ` (${opts.method})` : ""} · grey band: smaller than this eval can detect (80% power) · dashed: no difference`,
    },
    width: 700,
    height: { step: 56 },
    data: { values },
    layer: [
      {
        transform: [{ filter: "datum.hasMde" }],
        mark: { type: "bar", height: { band: 0.7 }, color: "#e3e3e3" },
        encoding: { y, x: { field: "mdeLo", ...x }, x2: { field: "mdeHi" } },
      },
      {
        data: { values: [{ zero: 0 }] },
        mark: { type: "rule", strokeDash: [6, 4], color: "black", strokeWidth: 1.5 },
        encoding: { x: { field: "zero", type: "quantitative" } },
      },
      ...intervalLayers({
        along: "x",
        band: y,
        lo: "loPts",
        hi: "hiPts",
        channel: x,
        color: verdictColor,
        width: 3,
        cap: 18,
      }),
      estimateDiamond(y, { field: "diffPts", ...x }, verdictColor, 240),
      labelColumn(y),
    ],
  } as TopLevelSpec;
}

export interface HistoryPoint {
  /** "run:3" */
  run: string;
  /** ISO time of the eval. */
  at: string;
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * An experiment's tuned scores over its runs, oldest first (one column per run, labelled with its run and the UTC
 * day of its eval), each with its 95% interval; the base model's (and any baseline's) latest score is a labelled
 * dashed line.
 */
export function historySpec(
  title: string,
  metric: string,
  points: HistoryPoint[],
  references: Array<{ model: string; mean: number }> = [],
  subtitle = "",
): TopLevelSpec {
  const values = [...points]
    .sort((a, b) => a.at.localeCompare(b.at))
    .map((p) => {
      const d = new Date(p.at);
      return {
        ...p,
        column: `${p.run} · ${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`,
        label: `${pct1(p.mean)}%`,
      };
    });
  const x = {
    field: "column",
    type: "ordinal",
    sort: null,
    title: "run · day evaluated (UTC)",
    axis: { labelAngle: values.length > 6 ? -30 : 0 },
    scale: { paddingOuter: 0.3 },
  };
  const y = {
    type: "quantitative",
    title: `${metric} (95% interval)`,
    scale: { domain: [0, 1] },
    axis: { format: "%" },
  };
  const layers: unknown[] = [
    {
      mark: { type: "line", color: "#2ca02c", strokeWidth: 2, opacity: 0.5 },
      encoding: { x, y: { field: "mean", ...y } },
    },
    ...intervalLayers({
      along: "y",
      band: x,
      lo: "lo",
      hi: "hi",
      channel: y,
      color: { value: "black" },
      width: 2,
      cap: 14,
    }),
    {
      mark: { type: "point", filled: true, size: 130, color: "#2ca02c", stroke: "black", strokeWidth: 1, opacity: 1 },
      encoding: { x, y: { field: "mean", ...y } },
    },
    {
      mark: { type: "text", align: "left", dx: 10, fontSize: 12, fontWeight: "bold" },
      encoding: { x, y: { field: "mean", ...y }, text: { field: "label" } },
    },
  ];
  if (references.length) {
    const refs = references.map((r) => ({ ...r, label: `${r.model} ${pct1(r.mean)}%` }));
    layers.unshift(
      {
        data: { values: refs },
        mark: { type: "rule", strokeDash: [6, 4], color: "#7f7f7f", strokeWidth: 2 },
        encoding: { y: { field: "mean", ...y } },
      },
      {
        data: { values: refs },
        mark: { type: "text", align: "left", x: "width", dx: 8, fontSize: 12, color: "#555" },
        encoding: { y: { field: "mean", ...y }, text: { field: "label" } },
      },
    );
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: title,
      subtitle: subtitle || "● tuned model of each run, black line: 95% interval · dashed: base model and baselines",
    },
    width: Math.max(520, Math.min(1000, values.length * 150)),
    height: 320,
    data: { values },
    layer: layers,
  } as TopLevelSpec;
}
