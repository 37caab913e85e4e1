/**
 * Blobs in Postgres's own `blobs` table (TUNELOOP_BLOB_URL=postgres; src/scale/pg-blobs.ts): one row per blob, keyed
 * by the sha256 of its bytes. A blob is written by one INSERT ... ON CONFLICT DO NOTHING, so it appears whole or not
 * at all, and a blob already there is kept as it is.
 */
import type pg from "pg";
import type { PgDb } from "./client.ts";

/**
 * Stores `data` under `sha256`: "existed" when the table already had it (kept as it was). Plain node-postgres, not
 * drizzle: a failed statement's message then names the blob, not its bytes.
 */
export async function putBlob(db: PgDb, sha256: string, data: Buffer): Promise<"stored" | "existed"> {
  try {
    const r = await db.$client.query(
      "INSERT INTO blobs (sha256, data, size) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
      [sha256, data, data.length],
    );
    return r.rowCount ? "stored" : "existed";
  } catch (err) {
    throw new Error(`could not store blob ${sha256} in Postgres: ${(err as Error).message}`);
  }
}

/** A blob's bytes (read in binary: no hex text twice their size on the way), or null when there is no such row. */
export async function getBlob(db: PgDb, sha256: string): Promise<Buffer | null> {
  // `binary` is node-postgres's per-query result format (its typings name it only for a whole client).
  const query = { text: "SELECT data FROM blobs WHERE sha256 = $1", values: [sha256], binary: true };
  const r = await db.$client.query<{ data: Buffer }>(query as pg.QueryConfig);
  return r.rows[0]?.data ?? null;
}
