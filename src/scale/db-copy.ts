/**
 * `tuneloop db copy --from sqlite:<file>`: moves an install to Postgres. Run it with TUNELOOP_DATABASE_URL set to
 * the new, empty database while the bot is stopped (docs/scale.md, "How to move").
 */
import fs from "node:fs";
import path from "node:path";
import { openDb } from "../../db/client.ts";
import { migratePg, openPg, redactUrl } from "../../db/pg/client.ts";
import { copySqliteToPg, CopyRefused, countBoth } from "../../db/pg/copy.ts";
import type { App } from "../app.ts";
import { ErrorCode, TuneError } from "../errors.ts";

export async function dbCopy(app: App, args: string[], out: (line: string) => void): Promise<number> {
  const usage = "Usage: tuneloop db copy --from sqlite:<file> (with TUNELOOP_DATABASE_URL=postgres://... set)";
  if (args[0] !== "copy") throw new TuneError(ErrorCode.InvalidOptions, usage);
  const i = args.indexOf("--from");
  const from = i >= 0 ? args[i + 1] : undefined;
  const m = from ? /^sqlite:(.+)$/.exec(from) : null;
  if (!m) throw new TuneError(ErrorCode.InvalidOptions, `Name the SQLite file to copy: --from sqlite:<file>. ${usage}`);
  const url = app.config.scale.databaseUrl;
  if (!url)
    throw new TuneError(
      ErrorCode.DbCopyNeedsPostgres,
      "Set TUNELOOP_DATABASE_URL=postgres://user:password@host:5432/database (an empty database) and run the copy again.",
    );
  const file = path.resolve(m[1]);
  if (!fs.existsSync(file))
    throw new TuneError(
      ErrorCode.DbCopyNoFile,
      `There is no SQLite file at ${file}: the install's is <TUNELOOP_DATA>/tuneloop.db.`,
    );
  const lite = openDb(file);
  const pg = openPg(url, { application: "tuneloop-db-copy" });
  try {
    await migratePg(pg);
    out(`Copying ${file} into ${redactUrl(url)}…`);
    const report = await copySqliteToPg(lite, pg, (t, n) => out(`  ${t}: ${n} row${n === 1 ? "" : "s"}`));
    const counts = await countBoth(lite, pg);
    const off = counts.filter((c) => c.sqlite !== c.postgres);
    if (off.length)
      throw new Error(
        `row counts differ after the copy: ${off.map((c) => `${c.table} ${c.sqlite} vs ${c.postgres}`).join(", ")}`,
      );
    const rows = report.tables.reduce((a, t) => a + t.rows, 0);
    out(
      `Copied ${rows} rows in ${report.tables.length} tables; the counts match. Blobs stay in ${path.join(path.dirname(file), "blobs")}: with TUNELOOP_BLOB_URL=s3://bucket/prefix copy that folder into it (e.g. \`aws s3 sync <folder> s3://bucket/prefix\`), or copy it to each machine.`,
    );
    return 0;
  } catch (err) {
    if (err instanceof CopyRefused) throw new TuneError(ErrorCode.DbCopyRefused, `Nothing was copied: ${err.message}.`);
    throw err;
  } finally {
    lite.$client.close();
    await pg.$client.end();
  }
}
