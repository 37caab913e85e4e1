import type { TopLevelSpec } from "vega-lite";
import { renderPng } from "./render.ts";

export interface HeatCell {
  row: string;
  col: string;
  score: number | null;
}

/** Sweep heat map: one square per cell, coloured by the metric, labelled with its value. */
export function heatmapSpec(title: string, metric: string, cells: HeatCell[], subtitle = ""): TopLevelSpec {
  const values = cells.map((c) => ({ ...c, label: c.score === null ? "n/a" : `${(c.score * 100).toFixed(1)}%` }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, subtitle },
    width: { step: 110 },
    height: { step: 56 },
    data: { values },
    encoding: {
      x: { field: "col", type: "nominal", title: "learning rate · LoRA rank", sort: null, axis: { labelAngle: 0 } },
      y: { field: "row", type: "nominal", title: "dataset · epochs", sort: null, axis: { labelLimit: 360 } },
    },
    layer: [
      {
        mark: { type: "rect", stroke: "white", strokeWidth: 2 },
        encoding: {
          color: {
            field: "score",
            type: "quantitative",
            title: metric,
            scale: { scheme: "viridis", domain: [0, 1] },
            legend: { format: "%", orient: "right" },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 14, fontWeight: "bold" },
        encoding: {
          text: { field: "label" },
          color: { condition: { test: "datum.score === null || datum.score > 0.55", value: "black" }, value: "white" },
        },
      },
    ],
  } as TopLevelSpec;
}

export const heatmapPng = (title: string, metric: string, cells: HeatCell[], subtitle?: string) =>
  renderPng(heatmapSpec(title, metric, cells, subtitle));
