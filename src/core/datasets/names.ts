import path from "node:path";
import { ErrorCode, TuneError } from "../../errors.ts";

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function assertDatasetName(name: string): string {
  if (!NAME_RE.test(name) || name.includes("..")) {
    throw new TuneError(
      ErrorCode.DatasetInvalidName,
      `"${name.slice(0, 80)}" is not a valid dataset name: use 1-63 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit (e.g. support-tickets).`,
    );
  }
  return name;
}

/** A dataset name from an uploaded file's name: only its last path part counts, so `../../x.jsonl` is just `x`. */
export function nameFromFilename(filename: string): string {
  const base = path.basename(filename.replace(/\\/g, "/")).replace(/\.(jsonl|json|ndjson|txt)$/i, "");
  const slug = base
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/^[^a-z0-9]+/, "")
    .replace(/[-_.]+$/, "")
    .slice(0, 63);
  return slug || "dataset";
}

export interface DatasetRef {
  name: string;
  version?: number;
}

/** Parses `name`, `name@3` or `name@v3`. */
export function parseDatasetRef(ref: string): DatasetRef {
  const m = /^([^@\s]+)(?:@v?(\d+))?$/.exec(ref.trim());
  if (!m) {
    throw new TuneError(
      ErrorCode.DatasetInvalidName,
      `"${ref.slice(0, 80)}" is not a dataset reference: write name or name@vN (e.g. support@v2).`,
    );
  }
  return { name: assertDatasetName(m[1]), version: m[2] ? Number(m[2]) : undefined };
}

export const formatRef = (name: string, version: number) => `${name}@v${version}`;
