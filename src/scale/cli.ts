/**
 * Process-level commands of the CLI that are not chat commands (never reachable from chat: they run for as long as
 * the process lives, or read files on the host): `tuneloop worker` and `tuneloop db copy --from sqlite:<file>`.
 */
import type { App } from "../app.ts";
import { providerFlags, startWorkerRole } from "./worker.ts";

export const SCALE_COMMANDS = ["worker", "db"];

export async function runScaleCommand(app: App, words: string[], out: (line: string) => void): Promise<number> {
  if (words[0] === "worker") {
    const role = await startWorkerRole(app, { providers: providerFlags(words.slice(1)) });
    out(
      `tuneloop worker: taking ${role.providers.join(", ")} runs from ${role.scale ? "the Postgres queue" : `the data folder ${app.config.dataDir}`}. Ctrl-C stops it (a run in progress resumes on another worker).`,
    );
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    out("tuneloop worker: stopping");
    await role.stop();
    return 0;
  }
  const { dbCopy } = await import("./db-copy.ts");
  return dbCopy(app, words.slice(1), out);
}
