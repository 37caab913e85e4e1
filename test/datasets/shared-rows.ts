/** The real shared datasets read as an upload reads them, for tests. */
import assert from "node:assert/strict";
import fs from "node:fs";
import { detectFormat, normalizeRecord } from "../../src/core/datasets/formats.ts";
import { readRecords } from "../../src/core/datasets/reader.ts";
import { SNIFF_BYTES, sniffFile } from "../../src/core/datasets/sniff.ts";
import type { NormalizedRow, RowIssue } from "../../src/core/datasets/types.ts";
import { sharedDataset } from "../helpers.ts";

/** The whole front of the pipeline on a real file: sniff, read, detect, normalise. */
export async function readShared(file: string) {
  const path = sharedDataset(file);
  const head = Buffer.alloc(SNIFF_BYTES);
  const fd = fs.openSync(path, "r");
  const headBytes = fs.readSync(fd, head, 0, SNIFF_BYTES, 0);
  fs.closeSync(fd);
  const sniffed = sniffFile(head.subarray(0, headBytes), fs.statSync(path).size);
  assert.ok(sniffed.ok, file);
  const records: Array<{ line: number; value: unknown }> = [];
  const issues: RowIssue[] = [];
  for await (const item of readRecords(fs.createReadStream(path), {
    container: sniffed.container,
    maxLineBytes: 1 << 20,
  })) {
    if (item.type === "record") records.push(item);
    else issues.push(item.issue);
  }
  const format = detectFormat(records.slice(0, 50).map((r) => r.value));
  assert.ok(format, file);
  const rows: Array<NormalizedRow & { line: number }> = [];
  for (const r of records) {
    const { row, issues: rowIssues } = normalizeRecord(r.value, format, r.line);
    issues.push(...rowIssues);
    if (row) rows.push({ line: r.line, ...row });
  }
  return { format, records: records.length, values: records.map((r) => r.value), rows, issues };
}
