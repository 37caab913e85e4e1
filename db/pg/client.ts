import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import * as schema from "./schema.ts";

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

import { isPostgresUrl, pgMigrationsFolder, redactUrl } from "./url.ts";

export { isPostgresUrl, pgMigrationsFolder, redactUrl };

/** A pool on the database and drizzle over it; `migrateDb` applies db/pg/migrations. */
export function openPg(url: string, opts: { max?: number; application?: string } = {}): PgDb {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 4,
    application_name: opts.application ?? "tuneloop",
    connectionTimeoutMillis: 15_000,
  });
  // An idle client that loses its connection (a database restart) must not take the process down.
  pool.on("error", () => {});
  return drizzle(pool, { schema }) as PgDb;
}

/**
 * Applies pending migrations. drizzle's migrator takes a lock of its own only per statement, so replicas starting
 * together serialise on an advisory lock: one migrates, the others then find nothing to do.
 */
export async function migratePg(db: PgDb, migrationsFolder = pgMigrationsFolder): Promise<void> {
  const client = await db.$client.connect();
  try {
    await client.query("SELECT pg_advisory_lock(7415001)");
    try {
      await migrate(drizzle(client, { schema }), { migrationsFolder });
    } finally {
      await client.query("SELECT pg_advisory_unlock(7415001)");
    }
  } finally {
    client.release();
  }
}
