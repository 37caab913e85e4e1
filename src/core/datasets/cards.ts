/** Cards (platform-neutral replies) for dataset commands. */
import { fields, fmt, list, table, text, type Block, type Card } from "../cards.ts";
import type { TrainingEstimate } from "../costs/estimate.ts";
import type { DatasetVersionRecord } from "../ports.ts";
import { formatRef } from "./names.ts";
import type { UploadOutcome } from "./service.ts";
import type { IssueKind } from "./types.ts";

const SHOWN_PER_KIND = 3;

const FORMAT_LABEL: Record<string, string> = {
  "openai-chat": "OpenAI chat",
  "prompt-completion": "prompt/completion",
  alpaca: "Alpaca",
  sharegpt: "ShareGPT",
  text: "text rows",
};

export function formatLabel(f: string | null): string {
  return f ? (FORMAT_LABEL[f] ?? f) : "unknown";
}

function tokenLine(t: { min: number; median: number; p95: number; max: number; total: number }): string {
  return `${fmt.int(t.total)} total · min ${fmt.int(t.min)} · median ${fmt.int(t.median)} · p95 ${fmt.int(t.p95)} · max ${fmt.int(t.max)}`;
}

export function estimateBlock(estimates: TrainingEstimate[]): Block {
  return table(
    ["provider", "model", "epochs", "billed tokens", "est. cost"],
    estimates.map((e) => [e.provider, e.model, String(e.epochs), fmt.int(e.billedTokens), fmt.usd(e.usd)]),
    ["left", "left", "right", "right", "right"],
  );
}

/** The models the cost table leaves out because they cannot train on this data, and why. */
function leftOutBlock(l: { models: string[]; why: string | null }): Block | null {
  return l.models.length
    ? text(`Not priced: ${l.models.join(", ")} (${l.why ?? "they cannot train on this data"}).`)
    : null;
}

export function uploadCard(o: UploadOutcome, opts: { dropHint: string }): Card {
  const r = o.report;
  const problemCount = Object.values(r.issueCounts).reduce((a, b) => a + (b ?? 0), 0);
  const blocks: Block[] = [];
  let title: string;
  let tone: Card["tone"];
  if (o.stored && o.dataset) {
    title = `Stored ${formatRef(o.dataset.name, o.dataset.version)}`;
    tone = problemCount ? "warning" : "success";
    if (problemCount)
      blocks.push(text(`Dropped ${fmt.count(r.badRows, "bad row")} as asked; ${fmt.count(r.validRows, "row")} kept.`));
  } else if (o.existing && o.dataset) {
    title = `Already stored as ${formatRef(o.dataset.name, o.dataset.version)}`;
    tone = "info";
    blocks.push(text("This file is identical to a version already stored; nothing new was written."));
  } else if (r.validRows === 0) {
    title = `Upload refused: no usable rows in ${o.name}`;
    tone = "error";
    blocks.push(
      text(
        `None of the ${fmt.count(r.records, "record")} passed the checks. Nothing was stored. Fix the file and upload it again.`,
      ),
    );
  } else {
    title = `Upload refused: ${fmt.count(problemCount, "problem")} in ${fmt.int(r.badRows)} of ${fmt.count(r.records, "row")}`;
    tone = "error";
    blocks.push(
      text(
        `Nothing was stored. Fix the file and upload it again, or store only the ${fmt.count(r.validRows, "good row")} with ${opts.dropHint}.`,
      ),
    );
  }

  blocks.push(
    fields([
      ["Format", formatLabel(r.format)],
      ["Rows", `${fmt.int(r.validRows)} valid of ${fmt.int(r.records)}`],
      ["Messages per row", r.validRows ? `median ${r.messages.median} · max ${r.messages.max}` : "-"],
      ["Tokens per row", r.validRows ? tokenLine(r.tokens) : "-"],
      ["Over context", fmt.count(r.overContext, "row")],
      ["Duplicates", `${fmt.int(r.duplicateCounts.exact)} exact · ${fmt.int(r.duplicateCounts.near)} near`],
      ["PII warnings", piiLine(r.piiCounts)],
      ["File", `${fmt.bytes(r.bytes)} · sha256 ${r.sha256.slice(0, 12)}`],
    ]),
  );

  if (problemCount) {
    const byKind = new Map<IssueKind, string[]>();
    for (const i of r.issues) {
      const arr = byKind.get(i.kind) ?? [];
      if (arr.length < SHOWN_PER_KIND) arr.push(`line ${i.line}${i.field ? ` (${i.field})` : ""}: ${i.message}`);
      byKind.set(i.kind, arr);
    }
    const kinds = Object.entries(r.issueCounts).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0));
    for (const [kind, count] of kinds) {
      const shown = byKind.get(kind as IssueKind) ?? [];
      const more = (count ?? 0) - shown.length;
      blocks.push(
        list(more > 0 ? [...shown, `... and ${fmt.int(more)} more`] : shown, `${kind} (${fmt.int(count ?? 0)})`),
      );
    }
  }

  const stored = o.stored || o.existing;
  const warnings = r.warnings.map((w) => w.message);
  if (warnings.length) blocks.push(list(warnings.slice(0, 12), "Warnings"));

  if (o.estimates.length && r.validRows) {
    blocks.push(
      text(
        `Cost estimate (${fmt.count(o.estimates[0]?.epochs ?? 0, "epoch")} by the OpenAI cookbook rule for ${fmt.count(r.validRows, stored ? "row" : "good row")}):`,
      ),
    );
    blocks.push(estimateBlock(o.estimates));
  }
  const leftOut = leftOutBlock(o.leftOut);
  if (leftOut && r.validRows) blocks.push(leftOut);
  if (o.stored && o.dataset) {
    blocks.push(text(`Next: /tune dataset split ${o.dataset.name} --eval 20%`));
  }
  // The card lists a few problems per kind; when there are more, the whole report comes as a file.
  const shown = Object.values(r.issueCounts).reduce((a, n) => a + Math.min(SHOWN_PER_KIND, n ?? 0), 0);
  const files =
    o.reportText && problemCount > shown
      ? [{ name: `${o.name}-problems.txt`, content: o.reportText, mime: "text/plain", title: "Full problem report" }]
      : undefined;
  return { title, tone, blocks, files, ephemeral: !o.stored && !o.existing };
}

function piiLine(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([k, n]) => `${n} ${k.replace("_", " ")}`);
  return parts.length ? parts.join(" · ") : "none found";
}

export function listCard(rows: DatasetVersionRecord[]): Card {
  if (!rows.length)
    return {
      title: "Datasets",
      blocks: [text("No datasets yet. Upload one with /tune dataset upload (attach a .jsonl or .json file).")],
    };
  return {
    title: `Datasets (${rows.length})`,
    blocks: [
      table(
        ["dataset", "rows", "tokens", "format", "created"],
        rows.map((v) => [
          formatRef(v.name, v.version),
          fmt.int(v.rows),
          fmt.int(v.stats.tokens.total),
          formatLabel(v.format),
          fmt.time(v.createdAt),
        ]),
        ["left", "right", "right", "left", "left"],
      ),
    ],
  };
}

export function showCard(
  v: DatasetVersionRecord,
  versions: DatasetVersionRecord[],
  estimates: TrainingEstimate[],
  leftOut: { models: string[]; why: string | null } = { models: [], why: null },
): Card {
  const s = v.stats;
  const origin =
    v.origin.kind === "split"
      ? `${v.origin.side} side of ${v.origin.from} (eval share ${fmt.pct(v.origin.evalShare, 0)}, seed ${v.origin.seed})`
      : v.origin.kind === "append"
        ? `${v.origin.from} + ${fmt.count(v.origin.added, "row")} from ${v.origin.source}`
        : `upload${v.filename ? ` of ${v.filename}` : ""}${v.origin.droppedRows ? ` (${fmt.count(v.origin.droppedRows, "bad row")} dropped)` : ""}`;
  return {
    title: formatRef(v.name, v.version),
    blocks: [
      fields([
        ["Rows", fmt.int(v.rows)],
        ["Format", formatLabel(v.format)],
        ["Tokens per row", tokenLine(s.tokens)],
        ["Assistant tokens", fmt.int(s.assistantTokens)],
        ["Messages per row", `median ${s.messages.median} · max ${s.messages.max}`],
        ["Duplicates", `${fmt.int(s.duplicates.exact)} exact · ${fmt.int(s.duplicates.near)} near`],
        ["PII warnings", piiLine(s.piiKinds)],
        ["Origin", origin],
        ["Created", `${fmt.time(v.createdAt)}${v.createdBy ? ` by ${v.createdBy}` : ""}`],
        ["sha256", v.sha256],
      ]),
      text(`Versions: ${versions.map((x) => `v${x.version} (${fmt.count(x.rows, "row")})`).join(", ")}`),
      text("Cost estimate:"),
      estimateBlock(estimates),
      ...[leftOutBlock(leftOut)].filter((b) => b !== null),
    ],
  };
}
