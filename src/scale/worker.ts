/**
 * `tuneloop worker` (`npm run worker`): a process that runs queued runs only, on any machine that reaches the
 * database. `--providers selfhosted,local` (or `--provider NAME`, repeatable) says what it can run: it takes only
 * those providers' runs.
 * - SQLite: it shares the data folder's database with the bot on the same machine (default: the `selfhosted` runs,
 *   which the bot leaves to it with TUNELOOP_SELFHOSTED_WORKER=external; docs/selfhosted.md).
 * - Postgres (TUNELOOP_DATABASE_URL): it takes run jobs of its providers from the shared queue, on any machine
 *   (default: every provider it has a trainer for; docs/scale.md).
 */
import { ErrorCode, TuneError } from "../errors.ts";
import type { App } from "../app.ts";
import { RunWorker } from "../core/runs/worker.ts";
import { endpointNames, startScale, type Scale } from "./index.ts";

export interface WorkerRole {
  scale: Scale | null;
  providers: string[];
  /** Providers whose models' queued evals it answers (Postgres; none on SQLite). */
  evalProviders: string[];
  /** Where it takes runs from, for people: "the Postgres queue", "the data folder /srv/tuneloop". */
  source: string;
  /** Stops taking runs; resolves with the id of the run it interrupted, if any (it resumes on the next worker). */
  stop(): Promise<number | null>;
}

const USAGE = "npx tuneloop worker [--providers selfhosted,local]";

/** `--providers a,b`, `--provider a --provider b,c` → ["a", "b", "c"]; undefined when none was given. */
export function providerFlags(args: string[]): string[] | undefined {
  const out: string[] = [];
  let given = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const flag = /^--providers?(?==|$)/.exec(a)?.[0];
    if (!flag) throw new TuneError(ErrorCode.InvalidOptions, `Unknown option ${a}. Usage: ${USAGE}`);
    const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
    if (v === undefined || v.startsWith("--"))
      throw new TuneError(ErrorCode.InvalidOptions, `${flag} needs a provider name, e.g. ${flag} selfhosted`);
    given = true;
    out.push(
      ...v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    );
  }
  if (given && !out.length)
    throw new TuneError(ErrorCode.InvalidOptions, `--providers needs at least one provider name. Usage: ${USAGE}`);
  return given ? out : undefined;
}

export async function startWorkerRole(
  app: App,
  opts: { providers?: string[]; label?: string } = {},
): Promise<WorkerRole> {
  const have = app.providers.trainerNames();
  const scaled = Boolean(app.config.scale.databaseUrl);
  // SQLite: the bot beside it runs the other providers' runs; Postgres: a worker is a general job runner.
  const providers = opts.providers ?? (scaled ? have : ["selfhosted"]);
  const unknown = providers.filter((p) => !have.includes(p));
  if (unknown.length)
    throw new TuneError(
      ErrorCode.WorkerUnknownProvider,
      `This worker has no trainer ${unknown.map((p) => `"${p}"`).join(", ")}: it has ${have.join(", ")}. Set the provider's settings on this machine (see .env.example${unknown.includes("selfhosted") ? `; for selfhosted, name a "kind": "vllm" endpoint in TUNELOOP_ENDPOINTS, docs/selfhosted.md` : ""})${opts.providers ? ", or name only providers it has" : ", or name the providers it should run with --providers"}.`,
    );
  // Its own run worker, for exactly these providers (the app's worker may leave some to a worker like this one).
  const worker = new RunWorker(app.engine, app.runs, app.datasets, app.evals, app.providers, app.clock, app.log, {
    dataDir: app.config.dataDir,
    leaseMs: app.config.scale.runLeaseMs,
    providers: { only: providers },
  });
  worker.packs = app.packs;
  worker.iterate = app.iterate;
  const label = opts.label ?? `a tuneloop worker for ${providers.join(", ")}`;
  if (!scaled) {
    // SQLite: today's queue (the runs table, polled on this machine's data folder).
    worker.start({ label });
    return { scale: null, providers, evalProviders: [], source: app.config.dataDir, stop: () => worker.stop() };
  }
  // Evals: of models on the providers named, or (none named) on every provider and endpoint it has settings for.
  const evalProviders = opts.providers ? providers : [...providers, ...endpointNames(app)];
  const scale = await startScale(app, { role: "worker", providers, evalProviders, label, worker });
  return {
    scale,
    providers,
    evalProviders,
    source: "the Postgres queue",
    async stop() {
      const id = await worker.stop();
      await scale.stop();
      return id;
    },
  };
}
