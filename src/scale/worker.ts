/**
 * `tuneloop worker` (`npm run worker`): a process that runs jobs only, on any machine that reaches the database.
 * `--provider selfhosted` (repeatable, or a comma list) says what it can run: it takes only those providers' runs.
 */
import { TuneError } from "../errors.ts";
import type { App } from "../app.ts";
import { startScale, type Scale } from "./index.ts";

export interface WorkerRole {
  scale: Scale | null;
  providers: string[];
  stop(): Promise<void>;
}

/** `--provider a --provider b,c` → ["a", "b", "c"]; undefined when none was given. */
export function providerFlags(args: string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v: string | undefined = a === "--provider" ? args[++i] : a.startsWith("--provider=") ? a.slice(11) : "";
    if (v === undefined || v.startsWith("--"))
      throw new TuneError("invalid_options", "--provider needs a provider name, e.g. --provider selfhosted");
    out.push(
      ...v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    );
  }
  return out.length ? out : undefined;
}

export async function startWorkerRole(
  app: App,
  opts: { providers?: string[]; label?: string } = {},
): Promise<WorkerRole> {
  const have = app.providers.trainerNames();
  const unknown = (opts.providers ?? []).filter((p) => !have.includes(p));
  if (unknown.length)
    throw new TuneError(
      "worker_unknown_provider",
      `This worker has no trainer ${unknown.map((p) => `"${p}"`).join(", ")}: it has ${have.join(", ")}. Set the provider's settings on this machine (see .env.example), or leave --provider out to take every provider it has.`,
    );
  if (!app.config.scale.databaseUrl) {
    if (opts.providers)
      throw new TuneError(
        "worker_needs_postgres",
        "--provider needs the shared queue: set TUNELOOP_DATABASE_URL=postgres://... on the bot and on every worker (docs/scale.md). On SQLite a worker shares the data folder and runs every provider's runs.",
      );
    // SQLite: today's queue (the runs table polled on this machine's data folder).
    app.worker.start({ label: opts.label ?? "a tuneloop worker" });
    return { scale: null, providers: have, stop: async () => void (await app.worker.stop()) };
  }
  const scale = await startScale(app, { role: "worker", providers: opts.providers ?? have, label: opts.label });
  return {
    scale,
    providers: scale.providers,
    async stop() {
      await app.worker.stop();
      await scale.stop();
    },
  };
}
