import { z } from "zod";
import { fields, fmt, list, table, text, type Card } from "../src/core/cards.ts";
import { estimateBlock, listCard, showCard, uploadCard } from "../src/core/datasets/cards.ts";
import { formatRef } from "../src/core/datasets/names.ts";
import { shareOption } from "./parse.ts";
import { defineCommand } from "./types.ts";

export const datasetUpload = defineCommand({
  path: ["dataset", "upload"],
  summary: "Upload a fine-tuning dataset (a .jsonl or .json file): validation, statistics, PII scan and cost estimate.",
  options: z.object({
    name: z.string().optional().describe("Dataset name (default: from the file name)"),
    dropBadRows: z.boolean().default(false).describe("Store the good rows even if some rows have errors"),
    model: z.string().optional().describe("Model whose context limit rows are checked against, as provider:model"),
    appendTo: z.string().optional().describe("Add the rows to this dataset's next version"),
  }),
  positional: ["name"],
  attachment: "required",
  permission: "write",
  examples: [
    "/tune dataset upload support-tickets (with the file attached)",
    "npx tuneloop dataset upload data.jsonl --name support --json",
  ],
  async handler(ctx, input) {
    const att = ctx.attachment;
    if (!att) throw new Error("attachment checked by the dispatcher");
    let lastPct = -1;
    const outcome = await ctx.app.datasets.upload(
      {
        filePath: att.path,
        filename: att.filename,
        name: input.name,
        dropBadRows: input.dropBadRows,
        model: input.model,
        user: ctx.user.name,
      },
      (p) => {
        const pct = Math.floor((p.bytes / Math.max(1, p.totalBytes)) * 10) * 10;
        if (pct > lastPct && pct < 100) {
          lastPct = pct;
          ctx.progress(`Reading ${att.filename}: ${pct}% (${fmt.count(p.records, "row")} so far)`);
        }
      },
    );
    const r = outcome.report;
    const card = uploadCard(outcome, {
      dropHint: ctx.surface === "cli" ? "--drop-bad-rows" : `/tune dataset upload ${outcome.name} --drop-bad-rows`,
    });
    const data = {
      stored: outcome.stored,
      existing: outcome.existing ?? false,
      dataset: outcome.dataset
        ? {
            name: outcome.dataset.name,
            version: outcome.dataset.version,
            ref: formatRef(outcome.dataset.name, outcome.dataset.version),
            sha256: outcome.dataset.sha256,
            format: outcome.dataset.format,
            rows: outcome.dataset.rows,
          }
        : { name: outcome.name, version: null, ref: null, sha256: r.sha256, format: r.format, rows: r.validRows },
      records: r.records,
      badRows: r.badRows,
      errors: r.issues.map((i) => ({ line: i.line, field: i.field ?? null, kind: i.kind, message: i.message })),
      errorCounts: r.issueCounts,
      warnings: r.warnings,
      tokens: {
        total: r.tokens.total,
        min: r.tokens.min,
        median: r.tokens.median,
        p95: r.tokens.p95,
        max: r.tokens.max,
      },
      messagesPerRow: { min: r.messages.min, median: r.messages.median, p95: r.messages.p95, max: r.messages.max },
      overContext: r.overContext,
      duplicates: {
        exact: r.duplicateCounts.exact,
        near: r.duplicateCounts.near,
        exactRows: r.duplicates.exact,
        nearRows: r.duplicates.near,
      },
      pii: r.pii.map((p) => ({ line: p.line, kind: p.kind, field: p.field ?? null })),
      estimates: outcome.estimates.map((e) => ({
        provider: e.provider,
        model: e.model,
        epochs: e.epochs,
        billedTokens: e.billedTokens,
        usd: e.usd,
      })),
      elapsedMs: r.elapsedMs,
    };
    if (input.appendTo && outcome.dataset) {
      // the file's rows (validated above, like any upload) added to the other dataset's latest version
      const target = ctx.app.datasets.get(input.appendTo);
      const added = await ctx.app.datasets.allRows(outcome.dataset);
      const v = await ctx.app.datasets.appendRows(target.id, added, {
        user: ctx.user.name,
        from: `upload ${formatRef(outcome.dataset.name, outcome.dataset.version)}`,
      });
      const ref = formatRef(v.name, v.version);
      card.blocks.push(
        text(
          `Appended: ${ref} = ${formatRef(target.name, target.version)} + ${fmt.count(added.length, "row")} (${fmt.count(v.rows, "row")}). Train on it: /tune run start ${ref} --experiment <name>`,
        ),
      );
      Object.assign(data, { appended: { ref, rows: v.rows, added: added.length } });
    }
    // Refused for its errors (or empty): a user error for the CLI's exit code; identical content is not.
    return { card, data, failed: !outcome.stored && !outcome.existing };
  },
});

export const datasetList = defineCommand({
  path: ["dataset", "list"],
  summary: "List datasets (latest version of each).",
  options: z.object({}),
  permission: "read",
  examples: ["/tune dataset list"],
  async handler(ctx) {
    const rows = ctx.app.datasets.list();
    return {
      card: listCard(rows),
      data: rows.map((v) => ({
        name: v.name,
        version: v.version,
        rows: v.rows,
        sha256: v.sha256,
        createdAt: v.createdAt.toISOString(),
        format: v.format,
        tokens: v.stats.tokens.total,
      })),
    };
  },
});

export const datasetShow = defineCommand({
  path: ["dataset", "show"],
  summary: "Show a dataset version: statistics, versions, cost estimate.",
  options: z.object({ dataset: z.string().describe("name or name@vN") }),
  positional: ["dataset"],
  complete: { dataset: "dataset" },
  permission: "read",
  examples: ["/tune dataset show support", "/tune dataset show support@v2"],
  async handler(ctx, input) {
    const v = ctx.app.datasets.get(input.dataset);
    const versions = ctx.app.datasets.versions(v.name);
    const estimates = ctx.app.datasets.estimates(v);
    return {
      card: showCard(v, versions, estimates, ctx.app.datasets.estimatesLeftOut(v)),
      data: {
        name: v.name,
        version: v.version,
        ref: formatRef(v.name, v.version),
        sha256: v.sha256,
        format: v.format,
        rows: v.rows,
        bytes: v.bytes,
        origin: v.origin,
        stats: v.stats,
        createdAt: v.createdAt.toISOString(),
        createdBy: v.createdBy,
        versions: versions.map((x) => ({
          version: x.version,
          rows: x.rows,
          sha256: x.sha256,
          createdAt: x.createdAt.toISOString(),
        })),
        estimates: estimates.map((e) => ({
          provider: e.provider,
          model: e.model,
          epochs: e.epochs,
          billedTokens: e.billedTokens,
          usd: e.usd,
        })),
      },
    };
  },
});

export const datasetDiff = defineCommand({
  path: ["dataset", "diff"],
  summary: "Rows added, removed and changed between two versions.",
  options: z.object({
    a: z.string().describe("older version, name@vN"),
    b: z.string().describe("newer version, name@vN"),
  }),
  positional: ["a", "b"],
  complete: { a: "dataset", b: "dataset" },
  permission: "read",
  examples: ["/tune dataset diff support@v1 support@v2"],
  async handler(ctx, input) {
    const d = await ctx.app.datasets.diff(input.a, input.b);
    const sample = (xs: number[]) =>
      xs.length ? `${xs.slice(0, 10).join(", ")}${xs.length > 10 ? ", ..." : ""}` : "-";
    const card: Card = {
      title: `${d.a} -> ${d.b}`,
      blocks: [
        fields([
          ["Rows", `${fmt.int(d.aRows)} -> ${fmt.int(d.bRows)}`],
          ["Unchanged", fmt.int(d.unchanged)],
          ["Added", `${fmt.int(d.added.length)} (lines of ${d.b}: ${sample(d.added)})`],
          ["Removed", `${fmt.int(d.removed.length)} (lines of ${d.a}: ${sample(d.removed)})`],
          [
            "Changed",
            `${fmt.int(d.changed.length)} (same prompt, new content: ${
              d.changed
                .slice(0, 5)
                .map((c) => `${c.aLine}->${c.bLine}`)
                .join(", ") || "-"
            })`,
          ],
        ]),
      ],
    };
    return { card, data: d };
  },
});

export const datasetSplit = defineCommand({
  path: ["dataset", "split"],
  summary: "Split a dataset into train and eval versions with no shared prompts (deterministic for a seed).",
  options: z.object({
    dataset: z.string().describe("name or name@vN"),
    eval: shareOption("20%").describe("share of rows for eval: 20% or 20 (percent), or 0.2 (a fraction below 1)"),
    seed: z.coerce.number().int().min(0).default(42).describe("Seed for the deterministic split"),
  }),
  positional: ["dataset"],
  complete: { dataset: "dataset" },
  permission: "write",
  examples: ["/tune dataset split support --eval 20% --seed 7"],
  async handler(ctx, input) {
    const s = await ctx.app.datasets.split(input.dataset, {
      evalShare: input.eval,
      seed: input.seed,
      user: ctx.user.name,
    });
    const train = formatRef(s.train.name, s.train.version);
    const evalRef = formatRef(s.eval.name, s.eval.version);
    const clean = !s.overlap.exact.length && !s.overlap.samePrompt.length;
    const hit = s.overlap.overlappingB;
    const card: Card = {
      title: `Split ${formatRef(s.source.name, s.source.version)} -> ${train} + ${evalRef}`,
      tone: clean ? "success" : "warning",
      blocks: [
        fields([
          ["Train", `${train}: ${fmt.count(s.train.rows, "row")}`],
          ["Eval", `${evalRef}: ${fmt.count(s.eval.rows, "row")} (${fmt.pct(s.eval.rows / s.source.rows)})`],
          ["Prompt groups", `${fmt.int(s.groups)} (rows with the same or a near-duplicate prompt stay on one side)`],
          ["Seed", String(input.seed)],
          [
            "Overlap check",
            hit.any
              ? `${fmt.count(hit.any, "eval row")} ${hit.any === 1 ? "matches" : "match"} training rows: ${hit.exact} identical · ${hit.samePrompt} same prompt · ${hit.near} near-duplicate`
              : "no eval row matches a training row",
          ],
        ]),
        ...(s.templated.families
          ? [
              text(
                `${fmt.count(s.templated.rows, "row")} belong to ${fmt.count(s.templated.families, "templated family")} of near-identical prompts (e.g. one question with different names): they were split by exact prompt, so similar rows may sit on both sides. Prefer an eval set whose templates the training set never saw when you want to measure more than the format.`,
              ),
            ]
          : []),
        text(`Next: /tune dataset check-overlap ${train} ${evalRef}`),
      ],
    };
    return {
      card,
      data: {
        source: formatRef(s.source.name, s.source.version),
        train: { ref: train, name: s.train.name, version: s.train.version, rows: s.train.rows, sha256: s.train.sha256 },
        eval: { ref: evalRef, name: s.eval.name, version: s.eval.version, rows: s.eval.rows, sha256: s.eval.sha256 },
        seed: input.seed,
        evalShare: input.eval,
        groups: s.groups,
        templated: s.templated,
        // Eval rows that match a training row, by kind (an eval row is counted once however many rows it matches).
        overlap: { exact: hit.exact, samePrompt: hit.samePrompt, near: hit.near, evalRows: hit.any },
      },
    };
  },
});

export const datasetCheckOverlap = defineCommand({
  path: ["dataset", "check-overlap"],
  summary: "Report exact, same-prompt and near-duplicate overlap between two datasets (e.g. train and eval).",
  options: z.object({
    train: z.string().describe("first dataset, name[@vN]"),
    eval: z.string().describe("second dataset, name[@vN]"),
  }),
  positional: ["train", "eval"],
  complete: { train: "dataset", eval: "dataset" },
  permission: "read",
  examples: ["/tune dataset check-overlap support-train support-eval"],
  async handler(ctx, input) {
    const o = await ctx.app.datasets.checkOverlap(input.train, input.eval);
    const none = !o.exact.length && !o.samePrompt.length && !o.near.length;
    const pairs = (xs: Array<{ aLine: number; bLine: number; similarity?: number }>) =>
      xs
        .slice(0, 10)
        .map(
          (p) =>
            `line ${p.aLine} of ${o.a} ~ line ${p.bLine} of ${o.b}${p.similarity !== undefined ? ` (${fmt.pct(p.similarity, 0)})` : ""}`,
        );
    // Counted in rows of the second dataset (the eval set): a pair count would count one leaked eval row once for
    // every training row it matches.
    const hit = o.overlappingB;
    const of = (n: number, pairs: number) =>
      `${fmt.count(n, "row")} of ${o.b}${pairs > n ? ` (${fmt.count(pairs, "pair")} with ${o.a})` : ""}`;
    const blocks = [
      fields([
        [
          "Overlapping",
          `${fmt.count(hit.any, "row")} of ${o.b}'s ${fmt.int(o.bRows)} (${fmt.pct(hit.any / Math.max(1, o.bRows))})`,
        ],
        ["Exact (identical rows)", of(hit.exact, o.exact.length)],
        ["Same prompt", of(hit.samePrompt, o.samePrompt.length)],
        ["Near-duplicate", of(hit.near, o.near.length)],
      ]),
    ];
    if (o.exact.length) blocks.push(list(pairs(o.exact), "Exact"));
    if (o.samePrompt.length) blocks.push(list(pairs(o.samePrompt), "Same prompt"));
    if (o.near.length) blocks.push(list(pairs(o.near), "Near-duplicate"));
    const card: Card = {
      title: `Overlap of ${o.a} and ${o.b}`,
      tone: none ? "success" : o.exact.length || o.samePrompt.length ? "error" : "warning",
      blocks: none
        ? [text("No overlap: no identical rows, no shared prompts, no near-duplicates."), ...blocks]
        : blocks,
    };
    return {
      card,
      data: {
        a: o.a,
        b: o.b,
        exact: o.exact,
        near: o.near,
        samePrompt: o.samePrompt,
        overlappingRows: { ...hit, of: o.bRows },
      },
    };
  },
});

export const datasetExport = defineCommand({
  path: ["dataset", "export"],
  summary: "Export a dataset version in a provider's upload format.",
  options: z.object({
    dataset: z.string().describe("name or name@vN"),
    format: z.enum(["openai", "together", "alpaca"]).default("openai").describe("openai, together or alpaca"),
    out: z.string().optional().describe("CLI/console: write the file to this path"),
  }),
  positional: ["dataset"],
  hostPaths: { out: "Leave --out out: in chat the export comes back as a file attached to the reply." },
  complete: { dataset: "dataset" },
  permission: "read",
  examples: [
    "/tune dataset export support@v2 --format together",
    "npx tuneloop dataset export support --format openai --out support.jsonl",
  ],
  async handler(ctx, input) {
    const e = await ctx.app.datasets.export(input.dataset, input.format);
    const ref = formatRef(e.dataset.name, e.dataset.version);
    if (input.out) {
      // The parser takes --out only with host access (CLI, console); without it there is nothing to write with.
      if (!ctx.host) throw new Error("--out reached the handler without host access");
      const dest = ctx.host.writeFile(input.out, e.content);
      return {
        card: {
          title: `Exported ${ref} as ${input.format}`,
          blocks: [text(`${fmt.count(e.rows, "row")} written to ${dest}`)],
        },
        data: { dataset: ref, format: input.format, rows: e.rows, path: dest },
      };
    }
    return {
      card: {
        title: `Exported ${ref} as ${input.format}`,
        blocks: [text(`${fmt.count(e.rows, "row")}, ${fmt.bytes(Buffer.byteLength(e.content))}.`)],
        files: [{ name: e.filename, content: e.content, mime: "application/jsonl" }],
      },
      data: { dataset: ref, format: input.format, rows: e.rows, filename: e.filename },
    };
  },
});

export const datasetCommands = [
  datasetUpload,
  datasetList,
  datasetShow,
  datasetDiff,
  datasetSplit,
  datasetCheckOverlap,
  datasetExport,
];
export { estimateBlock, table };
