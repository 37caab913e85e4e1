import type { PgDb } from "../client.ts";

/** A port whose methods answer through promises: what the Postgres repos implement (db/pg/sync.ts bridges them). */
export type Async<T> = {
  [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never;
};

/** The database or a transaction on it: what a statement runs on. */
export type Exec = PgDb | Parameters<Parameters<PgDb["transaction"]>[0]>[0];

/** Rows of a raw statement. */
export async function rows<T>(x: Exec, q: Parameters<PgDb["execute"]>[0]): Promise<T[]> {
  return (await x.execute(q)).rows as T[];
}
