/**
 * Settings of a deployment beyond one machine (docs/scale.md): where the database and the blobs live, and what a
 * worker process may run. Parsed with the rest of the settings (src/config.ts); a bad value stops the process with a
 * message that names the setting.
 */
import { ErrorCode, TuneError } from "../errors.ts";

export interface ScaleConfig {
  /** postgres://... (Postgres for storage and the queue) or null (SQLite in the data folder, today's queue). */
  databaseUrl: string | null;
  /**
   * Where blobs live: the data folder; an S3-compatible store (TUNELOOP_BLOB_URL=s3://bucket/prefix); or the Postgres
   * database's `blobs` table (TUNELOOP_BLOB_URL=postgres), each blob at most `maxBytes`.
   */
  blob:
    | { kind: "fs" }
    | { kind: "s3"; bucket: string; prefix: string; endpoint?: string; region: string }
    | { kind: "postgres"; maxBytes: number };
  /** How long a Socket Mode / gateway leader's lease lasts without renewal: another replica takes over after it. */
  leaderLeaseMs: number;
  /** How long a run's lease lasts without renewal: a run whose worker died is resumed elsewhere after it. */
  runLeaseMs: number;
  /**
   * How long an eval's lease lasts without renewal (renewed every third of it): an eval whose process died is taken
   * over after it (a queued eval by another worker; docs/scale.md). Also the lease of a command waiting for its
   * queued eval: past it, another chat replica posts the eval's card.
   */
  evalLeaseMs: number;
}

/** The default largest blob kept in Postgres, in MB (TUNELOOP_PG_BLOB_MAX_MB). */
export const PG_BLOB_MAX_MB = 128;

const bad = (name: string, value: string, what: string) =>
  new TuneError(
    ErrorCode.ConfigInvalid,
    `Bad setting:\n  ${name}=${JSON.stringify(value)}: ${what}\nFix it in .env or the environment (see .env.example).`,
  );

export function scaleFromSettings(env: NodeJS.ProcessEnv): ScaleConfig {
  const dbUrl = env.TUNELOOP_DATABASE_URL?.trim() || null;
  if (dbUrl && !/^postgres(ql)?:\/\/[^/]/i.test(dbUrl))
    throw bad(
      "TUNELOOP_DATABASE_URL",
      "(hidden)",
      "write a postgres://user:password@host:5432/database URL, or leave it empty for SQLite in TUNELOOP_DATA",
    );
  const blobUrl = env.TUNELOOP_BLOB_URL?.trim() || "";
  let blob: ScaleConfig["blob"] = { kind: "fs" };
  if (/^postgres(ql)?$/i.test(blobUrl)) {
    if (!dbUrl)
      throw new TuneError(
        ErrorCode.BlobStoreNeedsPostgres,
        "TUNELOOP_BLOB_URL=postgres keeps blobs in the Postgres database, but TUNELOOP_DATABASE_URL is not set. Set TUNELOOP_DATABASE_URL=postgres://user:password@host:5432/database, or leave TUNELOOP_BLOB_URL empty to keep blobs in the data folder (see .env.example).",
      );
    const maxMb = Number(env.TUNELOOP_PG_BLOB_MAX_MB ?? PG_BLOB_MAX_MB);
    if (!Number.isInteger(maxMb) || maxMb < 1 || maxMb > 1000)
      throw bad(
        "TUNELOOP_PG_BLOB_MAX_MB",
        String(env.TUNELOOP_PG_BLOB_MAX_MB),
        "write whole megabytes between 1 and 1000 (a bytea value holds at most 1 GB)",
      );
    blob = { kind: "postgres", maxBytes: maxMb * 1024 * 1024 };
  } else if (blobUrl) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(blobUrl);
    if (!m)
      throw bad(
        "TUNELOOP_BLOB_URL",
        blobUrl,
        "write s3://bucket or s3://bucket/prefix (a lower-case bucket name), or postgres (the database of TUNELOOP_DATABASE_URL)",
      );
    blob = {
      kind: "s3",
      bucket: m[1],
      prefix: (m[2] ?? "").replace(/^\/+|\/+$/g, ""),
      endpoint: env.TUNELOOP_S3_ENDPOINT?.trim() || undefined,
      region: env.TUNELOOP_S3_REGION?.trim() || env.AWS_REGION?.trim() || "us-east-1",
    };
  }
  const leaseS = Number(env.TUNELOOP_LEADER_LEASE_S ?? 20);
  if (!Number.isFinite(leaseS) || leaseS < 2 || leaseS > 300)
    throw bad("TUNELOOP_LEADER_LEASE_S", String(env.TUNELOOP_LEADER_LEASE_S), "write seconds between 2 and 300");
  const runLeaseS = Number(env.TUNELOOP_RUN_LEASE_S ?? 60);
  if (!Number.isFinite(runLeaseS) || runLeaseS < 1 || runLeaseS > 3600)
    throw bad("TUNELOOP_RUN_LEASE_S", String(env.TUNELOOP_RUN_LEASE_S), "write seconds between 1 and 3600");
  const evalLeaseS = Number(env.TUNELOOP_EVAL_LEASE_S ?? 30);
  if (!Number.isFinite(evalLeaseS) || evalLeaseS < 1 || evalLeaseS > 3600)
    throw bad("TUNELOOP_EVAL_LEASE_S", String(env.TUNELOOP_EVAL_LEASE_S), "write seconds between 1 and 3600");
  return {
    databaseUrl: dbUrl,
    blob,
    leaderLeaseMs: Math.round(leaseS * 1000),
    runLeaseMs: Math.round(runLeaseS * 1000),
    evalLeaseMs: Math.round(evalLeaseS * 1000),
  };
}

/** The password inside a database URL (the logger and renderers scrub it). */
export function scaleSecrets(env: NodeJS.ProcessEnv): string[] {
  try {
    const p = env.TUNELOOP_DATABASE_URL ? decodeURIComponent(new URL(env.TUNELOOP_DATABASE_URL).password) : "";
    return p.length >= 4 ? [p] : [];
  } catch {
    return [];
  }
}
