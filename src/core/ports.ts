/**
 * The ports the core talks through. Nothing in src/core imports a chat SDK, a provider SDK or SQL:
 * adapters implement these interfaces and are handed in.
 */
import type { Readable } from "node:stream";

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Content-addressed blobs (sha256) in the data folder. */
export interface BlobStore {
  /** Moves a finished temporary file into the store under its sha256; a blob already there is kept, the file dropped. */
  adopt(tmpPath: string, sha256: string): Promise<void>;
  has(sha256: string): boolean;
  path(sha256: string): string;
  read(sha256: string): Readable;
  /** A fresh path for a temporary file on the same filesystem as the store (so adopt is an atomic rename). */
  tmpPath(label: string): string;
}

export interface DatasetVersionRecord {
  id: number;
  datasetId: number;
  name: string;
  version: number;
  sha256: string;
  normSha256: string;
  tokensSha256: string;
  format: string;
  rows: number;
  bytes: number;
  filename: string | null;
  origin: DatasetOrigin;
  stats: DatasetStats;
  createdBy: string | null;
  createdAt: Date;
}

export type DatasetOrigin =
  | { kind: "upload"; droppedRows?: number }
  | { kind: "split"; side: "train" | "eval"; from: string; seed: number; evalShare: number };

/** What is kept of an ingest report for `dataset show` (the rows themselves live in the blobs). */
export interface DatasetStats {
  tokens: { total: number; min: number; median: number; p95: number; max: number; mean: number };
  messages: { total: number; min: number; median: number; p95: number; max: number; mean: number };
  assistantTokens: number;
  overContext: number;
  contextModel: string;
  duplicates: { exact: number; near: number };
  pii: number;
  piiKinds: Record<string, number>;
  errorsDropped: number;
}

export interface NewDatasetVersion {
  name: string;
  sha256: string;
  normSha256: string;
  tokensSha256: string;
  format: string;
  rows: number;
  bytes: number;
  filename: string | null;
  origin: DatasetOrigin;
  stats: DatasetStats;
  createdBy: string | null;
  createdAt: Date;
}

export interface DatasetRepo {
  /** Adds the next version of `name` (creating the dataset on first use) in one transaction. */
  addVersion(v: NewDatasetVersion): DatasetVersionRecord;
  findVersion(name: string, version?: number): DatasetVersionRecord | null;
  findBySha(name: string, sha256: string): DatasetVersionRecord | null;
  listLatest(): DatasetVersionRecord[];
  listVersions(name: string): DatasetVersionRecord[];
  names(): string[];
}
