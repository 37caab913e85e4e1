/**
 * `npx tuneloop worker [--providers selfhosted,...]`: a process that only runs queued runs, taking them from the
 * shared database. On a GPU box it takes the self-hosted runs (the default) while the bot runs elsewhere with
 * TUNELOOP_SELFHOSTED_WORKER=external; on one machine both share the SQLite file in TUNELOOP_DATA (another machine
 * needs a shared database). Ctrl-C / SIGTERM stops it: the run in progress keeps its trainer running and the next
 * worker follows it.
 */
import { RunWorker } from "./core/runs/worker.ts";
import type { App } from "./app.ts";
import type { CliIo } from "./cli.ts";

export function parseWorkerArgs(args: string[]): { providers: string[] } | { error: string } {
  let providers = ["selfhosted"];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--providers" && args[i + 1]) {
      providers = args[++i]
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    } else if (a.startsWith("--providers=")) {
      providers = a
        .slice("--providers=".length)
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    } else return { error: `Unknown option ${a}. Usage: npx tuneloop worker [--providers selfhosted,local]` };
  }
  return providers.length ? { providers } : { error: "--providers needs at least one provider name" };
}

/** Runs the worker until SIGINT/SIGTERM; resolves with the exit code. */
export async function runWorkerProcess(
  app: App,
  args: string[],
  io: Pick<CliIo, "stdout" | "stderr">,
): Promise<number> {
  const parsed = parseWorkerArgs(args);
  if ("error" in parsed) {
    io.stderr(`${parsed.error}\n`);
    return 1;
  }
  const unknown = parsed.providers.filter((p) => !app.providers.trainer(p));
  if (unknown.length) {
    io.stderr(
      `No trainer ${unknown.join(", ")} here (trainers: ${app.providers.trainerNames().join(", ")}). For selfhosted, name a "kind": "vllm" endpoint in TUNELOOP_ENDPOINTS (docs/selfhosted.md).\n`,
    );
    return 1;
  }
  const worker = new RunWorker(app.engine, app.runs, app.datasets, app.evals, app.providers, app.clock, app.log, {
    dataDir: app.config.dataDir,
    providers: { only: parsed.providers },
  });
  worker.start({ label: `a tuneloop worker for ${parsed.providers.join(", ")}` });
  io.stdout(
    `tuneloop worker: running queued ${parsed.providers.join(", ")} runs from ${app.config.dataDir}. Ctrl-C stops it.\n`,
  );
  // the worker's own timer does not hold the process: this does, until a signal
  const keep = setInterval(() => {}, 60_000);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  clearInterval(keep);
  const id = await worker.stop();
  io.stdout(id === null ? "stopped.\n" : `stopped; run ${id} resumes when a worker starts again.\n`);
  return 0;
}
