/**
 * Datasets: upload (ingest, validate, store as a new version), list, show, diff, split, check-overlap, export.
 * Talks to storage only through the BlobStore and DatasetRepo ports.
 */
import fs from "node:fs";
import readline from "node:readline";
import { fmt } from "../format.ts";
import { ErrorCode, TuneError } from "../../errors.ts";
import { estimateTraining, findModel, trainableModels, type TrainingEstimate } from "../costs/estimate.ts";
import type { BlobStore, Clock, DatasetRepo, DatasetStats, DatasetVersionRecord } from "../ports.ts";
import { MAX_JSON_DEPTH, tooDeep } from "./depth.ts";
import { DuplicateFinder, findOverlap, groupNearPrompts, promptKey } from "./dedupe.ts";
import { IngestRefusal, type IngestProgress, type IngestResult } from "./ingest.ts";
import { formatRef, nameFromFilename, parseDatasetRef, assertDatasetName } from "./names.ts";
import { scanRowPii } from "./pii.ts";
import type { IngestPool } from "./run-ingest.ts";
import { summarize } from "./summary.ts";
import { hashRow } from "./text.ts";
import type { ChatMessage, LocatedRow, NormalizedRow } from "./types.ts";

export interface DatasetSettings {
  limits: { maxUploadBytes: number; maxRows: number; maxLineBytes: number };
  defaultModel: string;
  estimateModels: string[];
  nearDupThreshold: number;
}

export interface UploadInput {
  filePath: string;
  /** The name the file had where the user got it (display and default dataset name only; never used as a path). */
  filename: string;
  name?: string;
  dropBadRows?: boolean;
  model?: string;
  user?: string;
}

export interface UploadOutcome {
  stored: boolean;
  /** Set when identical content was already stored under this name: nothing new was written. */
  existing?: boolean;
  dataset: DatasetVersionRecord | null;
  name: string;
  report: IngestResult;
  estimates: TrainingEstimate[];
  /** Models of the estimate list that cannot train on this data's format, and why (not priced). */
  leftOut: { models: string[]; why: string | null };
  /** The full problem report (one line per problem), when there were problems. */
  reportText?: string;
}

export type ExportFormat = "openai" | "together" | "alpaca";

export class DatasetService {
  constructor(
    private readonly repo: DatasetRepo,
    private readonly blobs: BlobStore,
    private readonly clock: Clock,
    private readonly settings: DatasetSettings,
    private readonly ingest: IngestPool,
  ) {}

  async upload(input: UploadInput, onProgress?: (p: IngestProgress) => void): Promise<UploadOutcome> {
    const name = assertDatasetName(input.name ?? nameFromFilename(input.filename));
    if (!fs.existsSync(input.filePath) || !fs.statSync(input.filePath).isFile()) {
      throw new TuneError(ErrorCode.DatasetFileNotFound, `No file at ${input.filePath}. Check the path and try again.`);
    }
    const model = findModel(input.model ?? this.settings.defaultModel);
    const out = {
      original: this.blobs.tmpPath("original"),
      normalized: this.blobs.tmpPath("normalized.jsonl"),
      tokens: this.blobs.tmpPath("tokens.u32"),
      report: this.blobs.tmpPath("report.txt"),
    };
    const cleanup = () => {
      for (const p of Object.values(out)) fs.rmSync(p, { force: true });
    };
    let report: IngestResult;
    try {
      report = await this.ingest.run(
        {
          filePath: input.filePath,
          maxRows: this.settings.limits.maxRows,
          maxLineBytes: this.settings.limits.maxLineBytes,
          maxUploadBytes: this.settings.limits.maxUploadBytes,
          contextModel: `${model.provider}:${model.model}`,
          contextTokens: model.contextTokens,
          nearDupThreshold: this.settings.nearDupThreshold,
          out,
        },
        onProgress,
      );
    } catch (err) {
      cleanup();
      if (err instanceof IngestRefusal) throw new TuneError(err.code, err.message, err.details);
      throw err;
    }

    try {
      const problems = Object.values(report.issueCounts).reduce((a, b) => a + (b ?? 0), 0);
      const reportText = problems ? fs.readFileSync(out.report, "utf8") : undefined;
      const tokenCounts = readTokenFile(out.tokens);
      const models = trainableModels(this.settings.estimateModels, report.format);
      const estimates = estimateTraining(tokenCounts, { models: models.trainable });
      const leftOut = { models: models.leftOut, why: models.why };
      const base = { name, report, estimates, leftOut, reportText };
      if (report.validRows === 0) {
        return { ...base, stored: false, dataset: null };
      }
      if (problems > 0 && !input.dropBadRows) {
        return { ...base, stored: false, dataset: null };
      }
      const same = this.repo.findBySha(name, report.sha256);
      if (same) return { ...base, stored: false, existing: true, dataset: same };

      // Blobs first (each an atomic rename), then one database transaction: a crash in between leaves only
      // unreferenced blobs, never a version row without its data.
      await this.blobs.adopt(out.original, report.sha256);
      await this.blobs.adopt(out.normalized, report.normSha256);
      await this.blobs.adopt(out.tokens, report.tokensSha256);
      const dataset = this.repo.addVersion({
        name,
        sha256: report.sha256,
        normSha256: report.normSha256,
        tokensSha256: report.tokensSha256,
        format: report.format ?? "unknown",
        rows: report.validRows,
        bytes: report.bytes,
        filename: safeFilename(input.filename),
        origin: { kind: "upload", droppedRows: problems ? report.badRows : undefined },
        stats: statsFromReport(report, `${model.provider}:${model.model}`),
        createdBy: input.user ?? null,
        createdAt: this.clock.now(),
      });
      return { ...base, stored: true, dataset };
    } finally {
      cleanup();
    }
  }

  list(): DatasetVersionRecord[] {
    return this.repo.listLatest();
  }

  names(): string[] {
    return this.repo.names();
  }

  versions(name: string): DatasetVersionRecord[] {
    return this.repo.listVersions(name);
  }

  get(ref: string): DatasetVersionRecord {
    const r = parseDatasetRef(ref);
    const found = this.repo.findVersion(r.name, r.version);
    if (found) return found;
    const versions = this.repo.listVersions(r.name);
    if (versions.length) {
      throw new TuneError(
        ErrorCode.DatasetNotFound,
        `${r.name} has no version ${r.version}; it has ${versions.map((v) => `v${v.version}`).join(", ")}.`,
      );
    }
    const names = this.repo.names();
    throw new TuneError(
      ErrorCode.DatasetNotFound,
      `No dataset named "${r.name}". ${names.length ? `Known: ${names.slice(0, 10).join(", ")}.` : "Upload one with /tune dataset upload."}`,
    );
  }

  byId(id: number): DatasetVersionRecord {
    const v = this.repo.versionById(id);
    if (!v) throw new TuneError(ErrorCode.DatasetNotFound, `No dataset version with id ${id}.`);
    return v;
  }

  refOf(id: number): string {
    const v = this.repo.versionById(id);
    return v ? formatRef(v.name, v.version) : `#${id}`;
  }

  /** Training cost of a version on each estimate model that can train on its format. */
  estimates(v: DatasetVersionRecord, models = this.settings.estimateModels): TrainingEstimate[] {
    return estimateTraining(this.tokenCounts(v), { models: trainableModels(models, v.format).trainable });
  }

  /** The estimate models that cannot train on a version's format (left out of its cost table), and why. */
  estimatesLeftOut(v: DatasetVersionRecord): { models: string[]; why: string | null } {
    const m = trainableModels(this.settings.estimateModels, v.format);
    return { models: m.leftOut, why: m.why };
  }

  tokenCounts(v: DatasetVersionRecord): number[] {
    try {
      return readTokenFile(this.blobs.path(v.tokensSha256));
    } catch (err) {
      throw notHere(v, err);
    }
  }

  /**
   * The stored rows of a version. A row nested deeper than MAX_JSON_DEPTH (stored before uploads refused them) is
   * a coded error naming it: what reads rows recurses and would overflow the stack on it.
   */
  async *rows(v: DatasetVersionRecord): AsyncGenerator<LocatedRow> {
    const rl = readline.createInterface({ input: this.blobs.read(v.normSha256), crlfDelay: Number.POSITIVE_INFINITY });
    const lines = (async function* () {
      try {
        yield* rl;
      } catch (err) {
        throw notHere(v, err);
      }
    })();
    for await (const line of lines) {
      if (!line) continue;
      const row = JSON.parse(line) as LocatedRow;
      // a row needs at least two characters per level to be that deep
      const deep = line.length > 2 * MAX_JSON_DEPTH ? tooDeep(row) : null;
      if (deep) {
        rl.close();
        throw new TuneError(
          ErrorCode.DatasetRowTooDeep,
          `${formatRef(v.name, v.version)} line ${row.line} (${deep.field}) is nested more than ${MAX_JSON_DEPTH} levels deep: this version was stored before tuneloop refused such rows, and cannot be read safely. Flatten or remove that row and upload the file again as a new version (--drop-bad-rows drops it).`,
          { line: row.line, field: deep.field },
        );
      }
      yield row;
    }
  }

  async allRows(v: DatasetVersionRecord): Promise<LocatedRow[]> {
    const out: LocatedRow[] = [];
    for await (const r of this.rows(v)) out.push(r);
    return out;
  }

  async diff(aRef: string, bRef: string) {
    const a = this.get(aRef);
    const b = this.get(bRef);
    const [aRows, bRows] = await Promise.all([this.allRows(a), this.allRows(b)]);
    const aHashes = new Map(aRows.map((r) => [hashRow(r), r]));
    const bHashes = new Map(bRows.map((r) => [hashRow(r), r]));
    const onlyA = aRows.filter((r) => !bHashes.has(hashRow(r)));
    const onlyB = bRows.filter((r) => !aHashes.has(hashRow(r)));
    // A row whose prompt is in both but whose content differs was changed, not removed and added.
    const aByPrompt = new Map<string, LocatedRow[]>();
    for (const r of onlyA) {
      const k = promptKey(r);
      const same = aByPrompt.get(k);
      if (same) same.push(r);
      else aByPrompt.set(k, [r]);
    }
    const changed: Array<{ aLine: number; bLine: number }> = [];
    const added: number[] = [];
    for (const r of onlyB) {
      const match = aByPrompt.get(promptKey(r))?.shift();
      if (match) changed.push({ aLine: match.line, bLine: r.line });
      else added.push(r.line);
    }
    const changedA = new Set(changed.map((c) => c.aLine));
    const removed = onlyA.filter((r) => !changedA.has(r.line)).map((r) => r.line);
    return {
      a: formatRef(a.name, a.version),
      b: formatRef(b.name, b.version),
      aRows: a.rows,
      bRows: b.rows,
      unchanged: aRows.length - onlyA.length,
      added,
      removed,
      changed,
    };
  }

  async checkOverlap(aRef: string, bRef: string) {
    const a = this.get(aRef);
    const b = this.get(bRef);
    const [aRows, bRows] = await Promise.all([this.allRows(a), this.allRows(b)]);
    const res = findOverlap(
      aRows.map((r) => ({ line: r.line, row: r })),
      bRows.map((r) => ({ line: r.line, row: r })),
      { threshold: this.settings.nearDupThreshold },
    );
    return { a: formatRef(a.name, a.version), b: formatRef(b.name, b.version), aRows: a.rows, bRows: b.rows, ...res };
  }

  /**
   * Splits a version into `<name>-train` and `<name>-eval`. Rows are grouped by normalised user prompt (exact or
   * near-duplicate) and whole groups go to one side, so the two sides never share a prompt. Deterministic for a seed.
   */
  async split(ref: string, opts: { evalShare: number; seed: number; user?: string }) {
    const src = this.get(ref);
    const rows = await this.allRows(src);
    const tokens = this.tokenCounts(src);
    if (rows.length < 2) {
      throw new TuneError(
        ErrorCode.DatasetSplitTooSmall,
        `${formatRef(src.name, src.version)} has ${fmt.count(rows.length, "row")}; a split needs at least 2.`,
      );
    }
    // Rows whose prompts match exactly or nearly (a paraphrase, a typo) form one group and stay on one side.
    // Near-duplicate links chain, and a templated dataset ("What colour is item 12?", "... item 13?") would
    // collapse into one giant group that cannot be split: a near group larger than `cap` is split again by exact
    // prompt, and reported, since near-duplicates of it may then sit on both sides.
    const near = groupNearPrompts(
      rows.map((row, index) => ({ index, row })),
      this.settings.nearDupThreshold,
    );
    const nearSize = new Map<number, number>();
    for (const g of near) nearSize.set(g, (nearSize.get(g) ?? 0) + 1);
    const cap = Math.max(10, Math.ceil(rows.length * 0.01));
    const templated = { families: 0, rows: 0 };
    for (const n of nearSize.values()) {
      if (n > cap) {
        templated.families++;
        templated.rows += n;
      }
    }
    const groupKey = rows.map((r, i) => ((nearSize.get(near[i]) ?? 0) > cap ? `p:${promptKey(r)}` : `n:${near[i]}`));
    const members = new Map<string, number[]>();
    groupKey.forEach((g, i) => {
      const m = members.get(g);
      if (m) m.push(i);
      else members.set(g, [i]);
    });
    // Order groups by a seeded hash of their first row, so the order does not depend on group ids.
    const order = [...members.entries()].sort(
      (x, y) =>
        seededKey(opts.seed, hashRow(rows[x[1][0]])) - seededKey(opts.seed, hashRow(rows[y[1][0]])) ||
        x[1][0] - y[1][0],
    );
    const target = Math.max(1, Math.round(rows.length * opts.evalShare));
    const evalSet = new Set<number>();
    for (const [, idx] of order) {
      if (evalSet.size >= target) break;
      // Skip a group that would overshoot by more than half of itself, unless eval is still empty.
      if (evalSet.size > 0 && evalSet.size + idx.length - target > idx.length / 2) continue;
      for (const i of idx) evalSet.add(i);
    }
    if (evalSet.size === 0 || evalSet.size === rows.length) {
      throw new TuneError(
        ErrorCode.DatasetSplitTooSmall,
        `Could not split ${formatRef(src.name, src.version)}: its rows share too few distinct prompts (${fmt.count(members.size, "prompt group")}). Upload more varied rows.`,
      );
    }
    const sides = { train: [] as number[], eval: [] as number[] };
    for (let i = 0; i < rows.length; i++) (evalSet.has(i) ? sides.eval : sides.train).push(i);
    const made: Record<"train" | "eval", DatasetVersionRecord> = {} as never;
    for (const side of ["train", "eval"] as const) {
      const picked = sides[side].map((i) => rows[i]);
      const pickedTokens = sides[side].map((i) => tokens[i]);
      made[side] = await this.storeDerived({
        name: deriveName(src.name, side),
        rows: picked,
        tokens: pickedTokens,
        format: src.format,
        origin: {
          kind: "split",
          side,
          from: formatRef(src.name, src.version),
          seed: opts.seed,
          evalShare: opts.evalShare,
        },
        contextModel: src.stats.contextModel,
        user: opts.user,
      });
    }
    const overlap = await this.checkOverlap(
      formatRef(made.train.name, made.train.version),
      formatRef(made.eval.name, made.eval.version),
    );
    return { source: src, train: made.train, eval: made.eval, groups: members.size, templated, overlap };
  }

  /**
   * The next version of a dataset: every row of `baseId` followed by `rows` (already validated: an upload's rows or
   * an approved proposal's). Returns the new version (or the same content's existing one).
   */
  async appendRows(
    baseId: number,
    rows: NormalizedRow[],
    opts: { user?: string; from: string },
  ): Promise<DatasetVersionRecord> {
    const base = this.byId(baseId);
    // checked per step, not only per upload: appends cannot grow a dataset past the limit a bit at a time
    const max = this.settings.limits.maxRows;
    if (base.rows + rows.length > max)
      throw new TuneError(
        ErrorCode.DatasetTooManyRows,
        `${formatRef(base.name, base.version)} has ${fmt.count(base.rows, "row")}; adding ${rows.length} would make ${base.rows + rows.length}, over the ${max} a dataset may hold (TUNELOOP_MAX_ROWS). Split the dataset, or raise the limit.`,
        { limit: max },
      );
    const old = await this.allRows(base);
    const { countRowTokens } = await import("./tokens.ts");
    const added: LocatedRow[] = rows.map((r, i) => ({
      ...r,
      kind: r.kind ?? "chat",
      line: old.length + i + 1,
      index: old.length + i,
    }));
    return this.storeDerived({
      name: base.name,
      rows: [...old, ...added],
      tokens: [...this.tokenCounts(base), ...added.map((r) => countRowTokens(r))],
      format: base.format,
      origin: { kind: "append", from: formatRef(base.name, base.version), added: rows.length, source: opts.from },
      contextModel: base.stats.contextModel,
      user: opts.user,
    });
  }

  /** Stores rows made from another version (a split side) as a new version; rows are renumbered 1..n. */
  private async storeDerived(d: {
    name: string;
    rows: LocatedRow[];
    tokens: number[];
    format: string;
    origin: DatasetVersionRecord["origin"];
    contextModel: string;
    user?: string;
  }): Promise<DatasetVersionRecord> {
    assertDatasetName(d.name);
    // The tokenizer is big (~66 MB); the bot's main thread loads it only when it splits a dataset.
    const { countAssistantTokens } = await import("./tokens.ts");
    const dups = new DuplicateFinder({ threshold: this.settings.nearDupThreshold });
    const piiKinds: Record<string, number> = {};
    let assistantTokens = 0;
    const lines: string[] = [];
    d.rows.forEach((r, i) => {
      const row: LocatedRow = { ...r, line: i + 1, index: i };
      dups.add(row.line, row);
      for (const f of scanRowPii(row, row.line)) piiKinds[f.kind] = (piiKinds[f.kind] ?? 0) + 1;
      assistantTokens += countAssistantTokens(row);
      lines.push(JSON.stringify(row));
    });
    const body = Buffer.from(lines.length ? `${lines.join("\n")}\n` : "", "utf8");
    const tokenBytes = Buffer.from(Uint32Array.from(d.tokens).buffer);
    const normSha = await this.putBlob(body, "derived.jsonl");
    const tokensSha = await this.putBlob(tokenBytes, "derived.tokens");
    const existing = this.repo.findBySha(d.name, normSha);
    if (existing) return existing;
    const dd = dups.result();
    return this.repo.addVersion({
      name: d.name,
      sha256: normSha,
      normSha256: normSha,
      tokensSha256: tokensSha,
      format: d.format,
      rows: d.rows.length,
      bytes: body.length,
      filename: null,
      origin: d.origin,
      stats: {
        tokens: summarize(d.tokens),
        messages: summarize(d.rows.map((r) => r.messages?.length ?? 1)),
        assistantTokens,
        overContext: 0,
        contextModel: d.contextModel,
        duplicates: { exact: dd.exact.length, near: dd.near.length },
        pii: Object.values(piiKinds).reduce((a, b) => a + b, 0),
        piiKinds,
        errorsDropped: 0,
      },
      createdBy: d.user ?? null,
      createdAt: this.clock.now(),
    });
  }

  private async putBlob(content: Buffer, label: string): Promise<string> {
    const { createHash } = await import("node:crypto");
    const sha = createHash("sha256").update(content).digest("hex");
    if (this.blobs.has(sha)) return sha;
    const tmp = this.blobs.tmpPath(label);
    await fs.promises.writeFile(tmp, content);
    await this.blobs.adopt(tmp, sha);
    return sha;
  }

  /** The export formats that can write every row of a version. */
  private async exportable(v: DatasetVersionRecord, formats: ExportFormat[]): Promise<ExportFormat[]> {
    const ok = new Set(formats);
    for await (const r of this.rows(v)) for (const f of ok) if (typeof exportRow(r, f) !== "string") ok.delete(f);
    return formats.filter((f) => ok.has(f));
  }

  /** Renders a version in a provider's upload format. Returns the file's text and the row count. */
  async export(
    ref: string,
    format: ExportFormat,
  ): Promise<{ dataset: DatasetVersionRecord; filename: string; content: string; rows: number }> {
    const v = this.get(ref);
    const out: string[] = [];
    const problems: string[] = [];
    const rows: LocatedRow[] = [];
    for await (const r of this.rows(v)) {
      const line = exportRow(r, format);
      if (typeof line === "string") out.push(line);
      else {
        problems.push(`line ${r.line}: ${line.problem}`);
        rows.push(r);
      }
    }
    if (problems.length) {
      // Suggest only the formats that take every row (the rows that failed here are the ones to try).
      const others = EXPORT_FORMATS.filter(
        (f) => f !== format && rows.every((r) => typeof exportRow(r, f) === "string"),
      );
      const all = others.length ? await this.exportable(v, others) : [];
      const hint = all.length
        ? `Export as ${all.join(" or ")} instead.`
        : "No export format takes every row: upload a version without them.";
      throw new TuneError(
        ErrorCode.DatasetExportUnsupported,
        `${fmt.count(problems.length, "row")} of ${formatRef(v.name, v.version)} cannot be written as ${format}: ${problems.slice(0, 3).join("; ")}${problems.length > 3 ? "; ..." : ""}. ${hint}`,
      );
    }
    return {
      dataset: v,
      filename: `${v.name}-v${v.version}.${format}.jsonl`,
      content: out.length ? `${out.join("\n")}\n` : "",
      rows: out.length,
    };
  }
}

const EXPORT_FORMATS: ExportFormat[] = ["openai", "together", "alpaca"];

function exportRow(r: LocatedRow, format: ExportFormat): string | { problem: string } {
  if (r.kind === "text") {
    if (format === "together") return JSON.stringify({ text: r.text });
    return { problem: `a plain text row has no chat turns for ${format}` };
  }
  const messages = r.messages ?? [];
  if (format === "openai" || format === "together") {
    const obj: Record<string, unknown> = { messages };
    if (r.tools !== undefined) obj.tools = r.tools;
    return JSON.stringify(obj);
  }
  // alpaca: system, history pairs, then the last user/assistant pair.
  if (messages.some((m) => m.role === "tool" || m.role === "function" || m.tool_calls || m.function_call)) {
    return { problem: "tool calls have no place in Alpaca" };
  }
  const system = messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => m.content ?? "");
  const turns = messages.filter((m) => m.role === "user" || m.role === "assistant");
  // Pair each assistant turn with the user turn before it (an assistant turn with none gets an empty instruction).
  const pairs: Array<[string, string]> = [];
  let pendingUser: string | null = null;
  for (const m of turns) {
    if (m.role === "user") {
      if (pendingUser !== null) return { problem: "two user turns in a row" };
      pendingUser = m.content ?? "";
    } else {
      pairs.push([pendingUser ?? "", m.content ?? ""]);
      pendingUser = null;
    }
  }
  if (pendingUser !== null) return { problem: "ends with a user turn" };
  const last = pairs.pop();
  if (!last) return { problem: "no user/assistant pair" };
  const obj: Record<string, unknown> = { instruction: last[0], input: "", output: last[1] };
  if (system.length) obj.system = system.join("\n");
  if (pairs.length) obj.history = pairs;
  return JSON.stringify(obj);
}

export function statsFromReport(r: IngestResult, contextModel: string): DatasetStats {
  return {
    tokens: r.tokens,
    messages: r.messages,
    assistantTokens: r.assistantTokens,
    overContext: r.overContext,
    contextModel,
    duplicates: r.duplicateCounts,
    pii: Object.values(r.piiCounts).reduce((a, b) => a + b, 0),
    piiKinds: r.piiCounts,
    errorsDropped: r.badRows,
  };
}

function readTokenFile(file: string): number[] {
  const buf = fs.readFileSync(file);
  return Array.from(new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
}

function safeFilename(name: string): string {
  return name.replace(/\\/g, "/").split("/").pop()?.slice(0, 200) ?? "upload";
}

function deriveName(name: string, side: "train" | "eval"): string {
  const base = name.replace(/-(train|eval)$/, "");
  return `${base.slice(0, 56)}-${side}`;
}

/** A deterministic 32-bit key of (seed, hex string): FNV-1a over the string, mixed with the seed. */
function seededKey(seed: number, hex: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < 16; i++) {
    h ^= hex.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  return h ^ (h >>> 12);
}

export type { ChatMessage };

/**
 * A version's stored file missing from this process's blobs: it was stored by a process with another data folder
 * (several processes on Postgres without a shared blob store). Other errors pass through.
 */
function notHere(v: DatasetVersionRecord, err: unknown): unknown {
  if ((err as { code?: string } | null)?.code !== "ENOENT") return err;
  return new TuneError(
    ErrorCode.BlobMissing,
    `The stored file of ${formatRef(v.name, v.version)} is not in this process's data folder: another process, with its own data folder, stored it. Processes that share a Postgres database must share their files too: set TUNELOOP_BLOB_URL=postgres (or s3://bucket/prefix) on every replica and worker and upload it again, or give them one TUNELOOP_DATA (docs/scale.md).`,
  );
}
