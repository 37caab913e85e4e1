/** The charts people compare in chat: a run's loss curve, and models with their 95% intervals. */
import type { TopLevelSpec } from "vega-lite";
import { renderPng } from "./render.ts";

export interface LossPoint {
  step: number;
  loss: number;
  series?: "train" | "validation";
}

export function lossCurveSpec(title: string, points: LossPoint[], subtitle?: string): TopLevelSpec {
  const hasVal = points.some((p) => p.series === "validation");
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, subtitle: subtitle ?? "" },
    width: 820,
    height: 360,
    data: { values: points.map((p) => ({ ...p, series: p.series ?? "train" })) },
    mark: { type: "line", strokeWidth: 2.5, point: points.length <= 40 },
    encoding: {
      x: { field: "step", type: "quantitative", title: "training step" },
      y: { field: "loss", type: "quantitative", title: "loss (nats per answer token)", scale: { zero: true } },
      color: hasVal
        ? {
            field: "series",
            type: "nominal",
            title: null,
            scale: { domain: ["train", "validation"], range: ["#1f77b4", "#d62728"] },
          }
        : { value: "#1f77b4" },
    },
  };
}

export interface ModelScore {
  model: string;
  role: string;
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

/** Each model's score with its 95% interval, best first; a dashed rule marks the chance baseline when given. */
export function scoresSpec(
  title: string,
  metric: string,
  scores: ModelScore[],
  opts: { subtitle?: string; chance?: number } = {},
): TopLevelSpec {
  const rows = [...scores]
    .sort((a, b) => b.mean - a.mean)
    .map((s) => ({ ...s, label: `${(s.mean * 100).toFixed(1)}%` }));
  const palette: Record<string, string> = { tuned: "#2ca02c", base: "#7f7f7f", baseline: "#1f77b4", adhoc: "#9467bd" };
  const roles = Object.keys(palette).filter((r) => rows.some((x) => x.role === r));
  const y = { field: "model", type: "nominal", sort: null, title: null, axis: { labelFontSize: 14, labelLimit: 260 } };
  const layers: unknown[] = [
    {
      mark: { type: "bar", height: { band: 0.6 }, cornerRadiusEnd: 3 },
      encoding: {
        y,
        x: {
          field: "mean",
          type: "quantitative",
          title: `${metric} (95% interval)`,
          scale: { domain: [0, 1] },
          axis: { format: "%" },
        },
        color: {
          field: "role",
          type: "nominal",
          title: null,
          scale: { domain: roles, range: roles.map((r) => palette[r]) },
        },
      },
    },
    {
      mark: { type: "rule", strokeWidth: 2, color: "black" },
      encoding: { y, x: { field: "lo", type: "quantitative" }, x2: { field: "hi" } },
    },
    {
      mark: { type: "text", align: "left", dx: 6, fontSize: 13, fontWeight: "bold" },
      encoding: { y, x: { field: "hi", type: "quantitative" }, text: { field: "label" } },
    },
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
          ? `dashed red line: chance (majority label) ${(opts.chance * 100).toFixed(1)}%`
          : ""),
    },
    width: 760,
    height: { step: 46 },
    data: { values: rows },
    layer: layers,
  } as TopLevelSpec;
}

export const lossCurvePng = (title: string, points: LossPoint[], subtitle?: string) =>
  renderPng(lossCurveSpec(title, points, subtitle));
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
