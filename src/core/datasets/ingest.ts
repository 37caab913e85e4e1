/**
 * The ingest pipeline: one streaming pass over an uploaded file that hashes and copies the original bytes, splits it
 * into records, detects the format, normalises and validates every row, counts tokens, finds exact and near
 * duplicates, scans for PII, and writes the good rows (normalised JSONL) and their token counts to temporary files.
 * It runs inside a worker thread (see ingest-worker.ts) so the bot keeps answering while a big file is read.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import type { ErrorCodeValue } from "../../errors.ts";
import { fmt } from "../format.ts";
import { batchFeatures } from "./batch-features.ts";
import { type DedupeFeatures, DuplicateFinder } from "./dedupe.ts";
import { detectFormat, normalizeRecord } from "./formats.ts";
import { scanRowPii } from "./pii.ts";
import { readRecords, type ReaderItem } from "./reader.ts";
import { sniffFile } from "./sniff.ts";
import { hashRow } from "./text.ts";
import { packRows, rowPieces } from "./token-plan.ts";
import { summarize } from "./summary.ts";
import { type BatchCounts, inlineTokenCounter, threadTokenCounter, type TokenCounter } from "./token-counter.ts";
import type { DatasetFormat, IssueKind, NormalizedRow, PiiFinding, RowIssue, Warning } from "./types.ts";

export interface IngestOptions {
  filePath: string;
  maxRows: number;
  maxLineBytes: number;
  maxUploadBytes: number;
  /** The model whose context limit rows are checked against. */
  contextModel: string;
  contextTokens: number;
  nearDupThreshold: number;
  /** Where the pass writes its outputs (temporary files next to the blob store). */
  out: { original: string; normalized: string; tokens: string; report: string };
  /** How many problems of each kind are kept in the result (all are counted and all go to the report file). */
  keepPerKind?: number;
  /** Count tokens on a second thread, overlapping with parsing and the other checks (default true). */
  tokenThread?: boolean;
}

export type Summary = ReturnType<typeof summarize>;

export interface IngestResult {
  format: DatasetFormat | null;
  /** Records seen in the file, valid or not. */
  records: number;
  /** Rows that passed every check (these are what gets stored). */
  validRows: number;
  /** Records with at least one error. */
  badRows: number;
  issues: RowIssue[];
  issueCounts: Partial<Record<IssueKind, number>>;
  warnings: Warning[];
  tokens: Summary;
  messages: Summary;
  assistantTokens: number;
  overContext: number;
  duplicates: {
    exact: Array<{ line: number; duplicateOf: number }>;
    near: Array<{ line: number; similarTo: number; similarity: number }>;
  };
  duplicateCounts: { exact: number; near: number };
  pii: PiiFinding[];
  piiCounts: Record<string, number>;
  sha256: string;
  normSha256: string;
  tokensSha256: string;
  bytes: number;
  elapsedMs: number;
}

export interface IngestProgress {
  bytes: number;
  totalBytes: number;
  records: number;
}

/** A file-level refusal: nothing in the file can be used (binary, archive, wrong encoding, over a limit...). */
export class IngestRefusal extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const SAMPLE_FOR_DETECTION = 50;
const COUNT_BATCH = 256;
/** Batches sent for counting and not yet taken, at most (the pass waits for the oldest above this). */
const MAX_WAITING_BATCHES = 8;
const WRITE_CHUNK = 1 << 16;

/** Buffered synchronous writer (the pass runs in a worker, so blocking writes cost the bot nothing). */
class FileSink {
  private fd: number | null;
  private parts: string[] = [];
  private size = 0;
  private hash = crypto.createHash("sha256");
  /** sha256 of everything written, set by close(). */
  digest = "";
  constructor(readonly path: string) {
    this.fd = fs.openSync(path, "w");
  }
  write(s: string) {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= WRITE_CHUNK) this.flush();
  }
  writeBytes(b: Uint8Array) {
    this.flush();
    this.hash.update(b);
    fs.writeSync(this.fd as number, b);
  }
  flush() {
    if (!this.parts.length) return;
    const buf = Buffer.from(this.parts.join(""), "utf8");
    this.parts = [];
    this.size = 0;
    this.hash.update(buf);
    fs.writeSync(this.fd as number, buf);
  }
  close() {
    if (this.fd === null) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = null;
    this.digest = this.hash.digest("hex");
  }
}

/**
 * One pass over a file. `sharedCounter` is a token counter that outlives the pass (the ingest worker's); without
 * it the pass makes its own and closes it at the end.
 */
export async function ingestFile(
  opts: IngestOptions,
  onProgress?: (p: IngestProgress) => void,
  sharedCounter?: TokenCounter,
): Promise<IngestResult> {
  const started = performance.now();
  const stat = fs.statSync(opts.filePath);
  if (stat.size > opts.maxUploadBytes) {
    throw new IngestRefusal(
      "dataset_too_large",
      `The file is ${fmt.mb(stat.size)}, over the ${fmt.mb(opts.maxUploadBytes, 0)} upload limit (TUNELOOP_MAX_UPLOAD_MB). Split it, or raise the limit.`,
      { bytes: stat.size, limit: opts.maxUploadBytes },
    );
  }
  const head = Buffer.alloc(Math.min(stat.size, 64 * 1024));
  const hfd = fs.openSync(opts.filePath, "r");
  fs.readSync(hfd, head, 0, head.length, 0);
  fs.closeSync(hfd);
  const sniff = sniffFile(head, stat.size);
  if (!sniff.ok) throw new IngestRefusal(sniff.code, sniff.message);

  const original = new FileSink(opts.out.original);
  const normalized = new FileSink(opts.out.normalized);
  const tokensOut = new FileSink(opts.out.tokens);
  const report = new FileSink(opts.out.report);
  const keep = opts.keepPerKind ?? 50;

  let bytesRead = 0;
  let lastProgress = 0;
  let records = 0;
  async function* tee(): AsyncGenerator<Uint8Array> {
    for await (const chunk of fs.createReadStream(opts.filePath, { highWaterMark: 1 << 20 })) {
      const b = chunk as Buffer;
      bytesRead += b.length;
      original.writeBytes(b);
      const now = performance.now();
      if (onProgress && now - lastProgress > 250) {
        lastProgress = now;
        onProgress({ bytes: bytesRead, totalBytes: stat.size, records });
      }
      yield b;
    }
  }

  const issues: RowIssue[] = [];
  const issueCounts: Partial<Record<IssueKind, number>> = {};
  const badIndexes = new Set<number>();
  const tokenCounts: number[] = [];
  const messageCounts: number[] = [];
  let assistantTokens = 0;
  let overContext = 0;
  const dups = new DuplicateFinder({ threshold: opts.nearDupThreshold });
  const pii: PiiFinding[] = [];
  const piiCounts: Record<string, number> = {};
  let format: DatasetFormat | null = null;
  let validRows = 0;
  const tokenBuf: number[] = [];

  const addIssue = (issue: RowIssue, index: number | null) => {
    const n = (issueCounts[issue.kind] ?? 0) + 1;
    issueCounts[issue.kind] = n;
    if (n <= keep) issues.push(issue);
    if (index !== null) badIndexes.add(index);
    report.write(`line ${issue.line}${issue.field ? ` ${issue.field}` : ""} [${issue.kind}] ${issue.message}\n`);
  };

  const flushTokens = () => {
    if (!tokenBuf.length) return;
    tokensOut.writeBytes(new Uint8Array(Uint32Array.from(tokenBuf).buffer));
    tokenBuf.length = 0;
  };

  // Every row that passed the shape checks goes, in batches, to the counting thread, which counts its tokens and
  // computes its near-duplicate features (batch-count.ts; this thread computes them instead for a batch when the
  // counting thread is two batches behind) while this thread goes on. A row that cannot be over the
  // context limit whatever its count (see tokenBound) is scanned for PII and written at once, so rows die young
  // (little garbage-collector work); its counts and features arrive later, in order, and go to the statistics
  // and the duplicate finder. A longer row is held until its exact count is back, and so is every row after it
  // while any is held, so rows are still taken in file order.
  type Held = { row: NormalizedRow; line: number; index: number };
  type Counted = {
    counts: BatchCounts | null;
    pending: Promise<BatchCounts> | null;
    lines: number[];
    /** hashRow of each row taken at once (null for held rows, hashed when taken). */
    exact: Array<string | null>;
    /** Near-duplicate features computed on this thread (null: the counting thread sends them). */
    features: DedupeFeatures | null;
    held: Array<Held | null> | null;
  };
  const counter = sharedCounter ?? (opts.tokenThread === false ? inlineTokenCounter() : threadTokenCounter());
  let batch: NormalizedRow[] = [];
  let batchLines: number[] = [];
  let batchExact: Array<string | null> = [];
  /** Per row of the batch, the held ones (null until the batch has one). */
  let batchHeld: Array<Held | null> | null = null;
  let heldOutstanding = 0;
  const queue: Counted[] = [];

  /** A row that passed every check: stats, PII, the normalised line; returns its exact-duplicate key. */
  const accept = (row: NormalizedRow, line: number, index: number): string => {
    validRows++;
    messageCounts.push(row.messages?.length ?? 1);
    for (const f of scanRowPii(row, line)) {
      piiCounts[f.kind] = (piiCounts[f.kind] ?? 0) + 1;
      if (pii.length < 500) pii.push(f);
    }
    // = JSON.stringify({ line, index, ...row }) without building that object
    normalized.write(`{"line":${line},"index":${index},${JSON.stringify(row).slice(1)}\n`);
    return hashRow(row);
  };

  const countsOf = (entry: Counted, counts: BatchCounts) => {
    for (let i = 0; i < counts.totals.length; i++) {
      const tokens = counts.totals[i];
      const h = entry.held?.[i];
      let exact = entry.exact[i];
      if (h) {
        heldOutstanding--;
        if (tokens > opts.contextTokens) {
          overContext++;
          addIssue(
            {
              line: h.line,
              kind: "over_context_limit",
              message: `${fmt.count(tokens, "token")}, over the ${fmt.int(opts.contextTokens)}-token limit of ${opts.contextModel}; shorten the row or choose a model with a longer context (--model).`,
            },
            h.index,
          );
          continue;
        }
        exact = accept(h.row, h.line, h.index);
      }
      dups.addFeatures(entry.lines[i], exact as string, (entry.features ?? counts.features) as DedupeFeatures, i);
      tokenCounts.push(tokens);
      tokenBuf.push(tokens);
      assistantTokens += counts.assistant[i];
    }
    if (tokenBuf.length >= 4096) flushTokens();
  };

  const sendBatch = () => {
    if (!batch.length) return;
    const packed = packRows(batch);
    // The counting thread two batches behind: this thread computes this batch's features (they balance the two).
    const here = counter.backlog() >= 2 ? batchFeatures(packed) : null;
    const entry: Counted = {
      counts: null,
      pending: null,
      lines: batchLines,
      exact: batchExact,
      features: here,
      held: batchHeld,
    };
    entry.pending = counter.count(packed, here === null).then((c) => {
      entry.counts = c;
      return c;
    });
    entry.pending.catch(() => {}); // awaited below; this only keeps a crash from being reported as unhandled
    queue.push(entry);
    batch = [];
    batchLines = [];
    batchExact = [];
    batchHeld = null;
  };
  const takeCounted = () => {
    while (queue.length && queue[0].counts) {
      const e = queue.shift() as Counted;
      countsOf(e, e.counts as BatchCounts);
    }
  };
  /** Takes what is counted, waiting until at most `upTo` batches are waiting. */
  const settle = async (upTo: number) => {
    takeCounted();
    while (queue.length > upTo) {
      await queue[0].pending;
      takeCounted();
    }
  };

  const handleRecord = (item: Extract<ReaderItem, { type: "record" }>) => {
    const { row, issues: rowIssues } = normalizeRecord(item.value, format as DatasetFormat, item.line);
    if (rowIssues.length || !row) {
      for (const i of rowIssues) addIssue(i, item.index);
      return;
    }
    if (heldOutstanding > 0 || tokenBound(row) > opts.contextTokens) {
      heldOutstanding++;
      batchHeld ??= new Array<Held | null>(batch.length).fill(null);
      batchHeld.push({ row, line: item.line, index: item.index });
      batchExact.push(null);
    } else {
      batchExact.push(accept(row, item.line, item.index));
      batchHeld?.push(null);
    }
    batch.push(row);
    batchLines.push(item.line);
  };

  const pending: Array<Extract<ReaderItem, { type: "record" }>> = [];
  const detect = () => {
    format = detectFormat(pending.map((p) => p.value));
    if (!format) {
      throw new IngestRefusal(
        "dataset_unknown_format",
        'Could not tell the dataset\'s format from its first rows. Use one of: OpenAI chat ({"messages": [...]}), prompt/completion, Alpaca (instruction/input/output), ShareGPT (conversations with from/value) or text rows ({"text": ...}).',
      );
    }
    for (const p of pending) handleRecord(p);
    pending.length = 0;
  };

  try {
    for await (const item of readRecords(tee(), { container: sniff.container, maxLineBytes: opts.maxLineBytes })) {
      if (item.type === "issue") {
        addIssue(item.issue, item.index);
        if (item.index !== null) records = Math.max(records, item.index + 1);
        continue;
      }
      records = item.index + 1;
      if (records > opts.maxRows) {
        throw new IngestRefusal(
          "dataset_too_many_rows",
          `The file has more than ${fmt.count(opts.maxRows, "row")} (TUNELOOP_MAX_ROWS). Split it into smaller files, or raise the limit.`,
          { limit: opts.maxRows },
        );
      }
      if (format) handleRecord(item);
      else {
        pending.push(item);
        if (pending.length >= SAMPLE_FOR_DETECTION) detect();
      }
      if (batch.length >= COUNT_BATCH) {
        sendBatch();
        await settle(MAX_WAITING_BATCHES);
      }
    }
    if (!format && pending.length) detect();
    sendBatch();
    await settle(0);
    flushTokens();
  } finally {
    if (!sharedCounter) await counter.close();
    for (const s of [original, normalized, tokensOut, report]) s.close();
  }
  return finish();

  function finish(): IngestResult {
    const d = dups.result();
    const warnings: Warning[] = [];
    if (d.exact.length) {
      warnings.push({
        kind: "exact_duplicates",
        message: `${fmt.count(d.exact.length, "exact duplicate row")}: ${d.exact
          .slice(0, 5)
          .map((x) => `line ${x.line} = line ${x.duplicateOf}`)
          .join(", ")}${d.exact.length > 5 ? ", ..." : ""}`,
      });
    }
    if (d.near.length) {
      warnings.push({
        kind: "near_duplicates",
        message: `${fmt.count(d.near.length, "near-duplicate row")}: ${d.near
          .slice(0, 5)
          .map((x) => `line ${x.line} ~ line ${x.similarTo} (${Math.round(x.similarity * 100)}%)`)
          .join(", ")}${d.near.length > 5 ? ", ..." : ""}`,
      });
    }
    for (const f of pii.slice(0, 20)) {
      warnings.push({
        line: f.line,
        kind: `pii_${f.kind}`,
        message: `line ${f.line}${f.field ? ` ${f.field}` : ""}: looks like ${PII_LABEL[f.kind] ?? f.kind}; remove or mask it before training`,
      });
    }
    return {
      format,
      records,
      validRows,
      badRows: badIndexes.size,
      issues: issues.sort((a, b) => a.line - b.line),
      issueCounts,
      warnings,
      tokens: summarize(tokenCounts),
      messages: summarize(messageCounts),
      assistantTokens,
      overContext,
      duplicates: { exact: d.exact.slice(0, 1000), near: d.near.slice(0, 1000) },
      duplicateCounts: { exact: d.exact.length, near: d.near.length },
      pii,
      piiCounts,
      sha256: original.digest,
      normSha256: normalized.digest,
      tokensSha256: tokensOut.digest,
      bytes: stat.size,
      elapsedMs: Math.round(performance.now() - started),
    };
  }
}

/**
 * An upper bound of a row's cookbook token count, without tokenising: every o200k token stands for at least
 * one UTF-8 byte of the text (special-token strings count as text here), and a UTF-16 code unit is at most
 * three UTF-8 bytes. A row whose bound is within the context limit cannot be over it.
 */
export function tokenBound(row: NormalizedRow): number {
  let units = 0;
  const base = rowPieces(row, (s) => {
    units += s.length;
  });
  return base + 3 * units;
}

const PII_LABEL: Record<string, string> = {
  email: "an e-mail address",
  phone: "a phone number",
  card_number: "a payment card number",
  national_id: "a national ID number",
  api_key: "an API key or token",
};
