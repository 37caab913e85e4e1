/**
 * Process-level commands of the CLI that are not chat commands (never reachable from chat: they run for as long as
 * the process lives, or read files on the host): `tuneloop worker` and `tuneloop db copy --from sqlite:<file>`.
 */
import type { App } from "../app.ts";
import { providerFlags, startWorkerRole } from "./worker.ts";

export async function runScaleCommand(app: App, words: string[], out: (line: string) => void): Promise<number> {
  if (words[0] === "worker") {
    const role = await startWorkerRole(app, { providers: providerFlags(words.slice(1)) });
    out(
      `tuneloop worker: running queued ${role.providers.join(", ")} runs${role.evalProviders.length ? ` and evals of ${role.evalProviders.join(", ")} models` : ""} from ${role.source}. Ctrl-C stops it (a run in progress resumes on the next worker).`,
    );
    // the worker's own timers do not hold the process: this does, until a signal
    const keep = setInterval(() => {}, 60_000);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    clearInterval(keep);
    out("tuneloop worker: stopping");
    const id = await role.stop();
    out(id === null ? "stopped." : `stopped; run ${id} resumes when a worker starts again.`);
    return 0;
  }
  const { dbCopy } = await import("./db-copy.ts");
  return dbCopy(app, words.slice(1), out);
}
