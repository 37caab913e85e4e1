/** How packs read in chat: the verdict's pack table and warning, the pack list and a pack run. */
import { fmt, list, table, text, type Block, type Card } from "../cards.ts";
import type { Comparison } from "../evals/service.ts";
import type { PackComparison, PackRun, PackVerdict } from "./types.ts";

export const PACK_COLUMNS = ["pack", "base", "tuned", "difference", "95% interval", "p", "regressed"];

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function packName(c: PackComparison): string {
  return c.group ? `${c.pack} · ${c.group}` : `${c.pack} v${c.version}`;
}

export function packRow(c: PackComparison): string[] {
  const extra =
    c.agreement !== undefined
      ? ` (orders agree ${pct(c.agreement)})`
      : c.flipped
        ? ` (flipped ${c.flipped.base} → ${c.flipped.tuned})`
        : "";
  return [
    packName(c),
    pct(c.base),
    `${pct(c.tuned)}${extra}`,
    fmt.pts(c.diff),
    `${fmt.pts(c.ci[0])} to ${fmt.pts(c.ci[1])}`,
    fmt.p(c.pValue),
    String(c.regressed.length),
  ];
}

/** A significant drop on a pack (the tuned model worse than the base). */
export const packRegressed = (c: PackComparison) => c.significant && c.diff < 0;

/**
 * The warning at the top of a verdict: the tuned model regresses significantly on a pack (worded for the case the
 * issue names, a run that gains on its task), or null.
 */
export function packWarning(v: PackVerdict, main: Comparison | undefined): Block | null {
  const bad = v.comparisons.filter(packRegressed);
  if (!bad.length) return null;
  const what = bad.map((c) => `${packName(c)} (${fmt.pts(c.diff)}, ${fmt.p(c.pValue)})`).join("; ");
  const gains = main && main.diff > 0 && main.significant;
  return text(
    `⚠ Warning: ${gains ? `this run gains on its task (${fmt.pts(main.diff)}) but ` : "this run "}regresses significantly on ${bad.length === 1 ? "a pack" : `${bad.length} packs`} against the base: ${what}. Read the regressed rows before shipping it.`,
  );
}

export function packBlocks(v: PackVerdict): Block[] {
  const blocks: Block[] = [];
  if (v.comparisons.length) {
    blocks.push(text(`Eval packs, base vs tuned (paired; pass rates; ${fmt.usd(v.usd)} spent on them):`));
    blocks.push(table(PACK_COLUMNS, v.comparisons.map(packRow)));
    const reg = v.comparisons.filter((c) => c.regressed.length && !c.group);
    if (reg.length)
      blocks.push(
        list(
          reg.map((c) => `${c.pack}: ${c.regressed.slice(0, 12).join(", ")}${c.regressed.length > 12 ? ", ..." : ""}`),
          "Pack rows that regressed (base passed, tuned failed)",
        ),
      );
  }
  if (v.skipped.length)
    blocks.push(
      list(
        v.skipped.map((s) => `${s.pack}: ${s.reason}`),
        "Packs not run",
      ),
    );
  return blocks;
}

export function packRunCard(r: PackRun & { usd: number }): Card {
  const failed = r.units.filter((u) => u.score < 1);
  const blocks: Block[] = [
    text(
      `${r.model} passes ${pct(r.mean)} of ${r.units.length} (95% CI ${pct(r.ci[0])} to ${pct(r.ci[1])}); cost ${fmt.usd(r.usd)}.`,
    ),
  ];
  if (failed.length)
    blocks.push(
      list(
        failed.slice(0, 10).map((u) => `${u.unit}${u.group ? ` (${u.group})` : ""}: ${u.reason ?? "failed"}`),
        `Failed (${failed.length})`,
      ),
    );
  return { title: `Pack ${r.pack} v${r.version} on ${r.model}`, blocks };
}

export function packCompareCard(model: string, base: string, comparisons: PackComparison[], usd: number): Card {
  const v: PackVerdict = { comparisons, usd, skipped: [] };
  const w = packWarning(v, undefined);
  return {
    title: `Pack ${comparisons[0]?.pack ?? ""}: ${model} vs ${base}`,
    tone: w ? "error" : "info",
    blocks: [...(w ? [w] : []), ...packBlocks(v)],
  };
}

export function packComparisonJson(c: PackComparison) {
  return {
    pack: c.pack,
    version: c.version,
    attribute: c.group ?? null,
    base: c.base,
    tuned: c.tuned,
    diff: c.diff,
    ci: c.ci,
    pValue: c.pValue,
    test: c.test,
    n: c.n,
    significant: c.significant,
    regressed: c.regressed,
    ...(c.agreement !== undefined ? { orderAgreement: c.agreement } : {}),
    ...(c.flipped ? { flipped: c.flipped } : {}),
  };
}
