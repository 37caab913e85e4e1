/**
 * What the main thread needs to know about a Postgres URL and the migrations, without loading `pg` or drizzle's
 * Postgres driver (a CLI command that never touches Postgres must not pay for them at start).
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

export const pgMigrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), "migrations");

/** Whether a TUNELOOP_DATABASE_URL names Postgres (postgres:// or postgresql://). */
export const isPostgresUrl = (url: string | undefined): url is string => !!url && /^postgres(ql)?:\/\//i.test(url);

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://…";
  }
}
