/**
 * Charts rendered on the server, no browser: a Vega-Lite spec is compiled to Vega, rendered to SVG, and rasterised
 * to PNG by resvg with the DejaVu Sans font shipped in the `dejavu-fonts-ttf` package (no system fonts, no network).
 * Sized for chat previews: 900 px wide at 2x pixel density reads well on a phone and in a Slack/Discord preview.
 */
import { createRequire } from "node:module";
import path from "node:path";
import type { TopLevelSpec } from "vega-lite";

const require = createRequire(import.meta.url);
const fontDir = path.join(path.dirname(require.resolve("dejavu-fonts-ttf/package.json")), "ttf");
const FONT_FILES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) => path.join(fontDir, f));

export const FONT = "DejaVu Sans";

/** Shared look: readable sizes at preview scale, titles bold, light grid. */
export const CHART_CONFIG = {
  font: FONT,
  background: "white",
  padding: 16,
  title: { fontSize: 18, fontWeight: "bold", anchor: "start", offset: 12, subtitleFontSize: 13, subtitleColor: "#555" },
  axis: { labelFontSize: 13, titleFontSize: 14, titleFontWeight: "normal", gridColor: "#e6e6e6" },
  legend: { labelFontSize: 13, titleFontSize: 13, orient: "bottom" },
  view: { stroke: null },
} as const;

export interface RenderedChart {
  png: Buffer;
  width: number;
  height: number;
  /** RGBA pixels (for tests that check the picture is not blank). */
  pixels: Buffer;
}

export async function renderPng(spec: TopLevelSpec, opts: { scale?: number } = {}): Promise<Buffer> {
  return (await renderChart(spec, opts)).png;
}

/** Vega, Vega-Lite and resvg load on the first chart (tens of MB a bot that never charts does not need). */
const libs = () => Promise.all([import("vega"), import("vega-lite"), import("@resvg/resvg-js")]);

export async function renderChart(spec: TopLevelSpec, opts: { scale?: number } = {}): Promise<RenderedChart> {
  const [vega, { compile }, { Resvg }] = await libs();
  const vgSpec = compile({ ...spec, config: { ...CHART_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: opts.scale ?? 2 },
    font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: FONT },
    background: "white",
  });
  const img = resvg.render();
  return { png: Buffer.from(img.asPng()), width: img.width, height: img.height, pixels: Buffer.from(img.pixels) };
}
