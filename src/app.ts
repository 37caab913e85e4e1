import path from "node:path";
import { datasetRepo } from "../db/repos/datasets.ts";
import { engineRepo } from "../db/repos/engine.ts";
import { openDb, type Db } from "../db/client.ts";
import { openPgSync, type PgSync } from "../db/pg/sync.ts";
import type { Config } from "./config.ts";
import { chatButtonStore, chatRequestLog } from "../db/repos/chat.ts";
import type { ButtonStore } from "./chat/buttons.ts";
import type { RequestLog } from "./chat/dedupe.ts";
import { CostService } from "./core/costs/service.ts";
import { overviewCard } from "./core/overview.ts";
import type { Card } from "./core/cards.ts";
import { IngestPool } from "./core/datasets/run-ingest.ts";
import { DatasetService } from "./core/datasets/service.ts";
import { EvalService } from "./core/evals/service.ts";
import { ExperimentService } from "./core/experiments/service.ts";
import {
  systemClock,
  type BlobStore,
  type ChatPort,
  type Clock,
  type EngineRepo,
  type IterationRepo,
} from "./core/ports.ts";
import { RunService } from "./core/runs/service.ts";
import { RunWorker } from "./core/runs/worker.ts";
import type { Scheduler } from "./core/schedules/scheduler.ts";
import { SweepService } from "./core/sweeps.ts";
import { iterationRepo } from "../db/repos/iterations.ts";
import { packRepo } from "../db/repos/packs.ts";
import { proposalRepo } from "../db/repos/proposals.ts";
import { DigestService } from "./core/digest.ts";
import { IterateService } from "./core/iterate/service.ts";
import { PackService } from "./core/packs/service.ts";
import { fsBlobStore, sweepTmp } from "./lib/blobs.ts";
import { pgBlobStore } from "./scale/pg-blobs.ts";
import { s3BlobStore } from "./scale/s3-blobs.ts";
import type { Logger } from "./log.ts";
import { createProviders, type Providers } from "./providers/index.ts";
import { installCostTables } from "./providers/tables.ts";

export type { ChatPort };

/** Everything a command handler can reach: settings, log, storage and the core services. */
export interface App {
  config: Config;
  log: Logger;
  /** The SQLite database; null when storage is Postgres (TUNELOOP_DATABASE_URL, see `pg`). */
  db: Db | null;
  /** The Postgres storage (TUNELOOP_DATABASE_URL), or null on SQLite. */
  pg: PgSync | null;
  clock: Clock;
  blobs: BlobStore;
  engine: EngineRepo;
  providers: Providers;
  datasets: DatasetService;
  /** The dataset ingest threads (warm them at bot start so the first upload does not wait for them). */
  ingest: IngestPool;
  experiments: ExperimentService;
  evals: EvalService;
  runs: RunService;
  worker: RunWorker;
  iterations: IterationRepo;
  sweeps: SweepService;
  /** Subscriptions, digests and the stored schedules. */
  digests: DigestService;
  /** Eval packs (docs/packs.md). */
  packs: PackService;
  /** Failure clusters, teacher proposals and their approval (docs/packs.md). */
  iterate: IterateService;
  /** What money and compute went where (per run, experiment, period). */
  costs: CostService;
  /** Chat requests already taken (src/chat/dedupe.ts), kept in the database. */
  requests: RequestLog;
  /** Commands of buttons too long for a platform's button id (src/chat/buttons.ts). */
  buttons: ButtonStore;
  /** The overview a person opens (Slack App Home, `/tune home`): their runs, experiments, this month's spend. */
  overview(userId: string): Card;
  /** Set by startScheduler (src/iterations.ts) when the bot runs; commands that manage schedules need it. */
  scheduler?: Scheduler;
  /** Set by the chat adapter that runs the bot (console, Slack, Discord). */
  chat?: ChatPort;
  close(): Promise<void>;
}

export function createApp(config: Config, log: Logger, opts: { clock?: Clock; providers?: Providers } = {}): App {
  const pg = config.scale.databaseUrl ? openPgSync(config.scale.databaseUrl) : null;
  const db = pg ? null : openDb(path.join(config.dataDir, "tuneloop.db"));
  const b = config.scale.blob;
  const shared =
    b.kind === "s3"
      ? s3BlobStore(config.dataDir, b)
      : b.kind === "postgres"
        ? pgBlobStore(config.dataDir, config.scale.databaseUrl!, { maxBytes: b.maxBytes })
        : null;
  const blobs = shared ?? fsBlobStore(config.dataDir);
  sweepTmp(config.dataDir);
  const clock = opts.clock ?? systemClock;
  installCostTables();
  const engine = pg ? pg.engine : engineRepo(db!);
  const providers = opts.providers ?? createProviders(config);
  const ingest = new IngestPool();
  const datasets = new DatasetService(
    pg ? pg.datasets : datasetRepo(db!),
    blobs,
    clock,
    {
      limits: config.limits,
      defaultModel: config.defaultModel,
      estimateModels: config.estimateModels,
      nearDupThreshold: config.nearDupThreshold,
    },
    ingest,
  );
  const evals = new EvalService(engine, datasets, providers, clock, {
    graderTimeoutMs: config.graderTimeoutMs,
    leaseMs: config.scale.evalLeaseMs,
  });
  const experiments = new ExperimentService(engine, datasets, evals, providers, clock);
  const runs = new RunService(
    engine,
    datasets,
    providers,
    clock,
    {
      confirmAboveUsd: config.confirmAboveUsd,
      nearOverlapMaxShare: config.nearOverlapMaxShare,
      nearDupThreshold: config.nearDupThreshold,
    },
    (err) => log.warn({ err }, "run listener failed"),
  );
  const worker = new RunWorker(engine, runs, datasets, evals, providers, clock, log, {
    dataDir: config.dataDir,
    leaseMs: config.scale.runLeaseMs,
    // a GPU box's `tuneloop worker` takes the self-hosted runs: the bot leaves them
    providers: config.selfhostedWorker === "external" ? { except: ["selfhosted"] } : undefined,
  });
  const iterations = pg ? pg.iterations : iterationRepo(db!);
  const packs = new PackService(pg ? pg.packs : packRepo(db!), engine, providers, clock, {
    judge: config.packJudge,
    grader: (spec, judge) => evals.grader(spec, judge),
  });
  worker.packs = packs;
  const iterate = new IterateService(
    pg ? pg.proposals : proposalRepo(db!),
    engine,
    datasets,
    experiments,
    providers,
    clock,
  );
  worker.iterate = iterate;
  const sweeps = new SweepService(iterations, engine, runs, datasets, evals, clock);
  const costs = new CostService(engine, clock);
  const requests = pg ? pg.requestLog(clock) : chatRequestLog(db!, clock);
  const buttons = pg ? pg.buttonStore(clock) : chatButtonStore(db!, clock);
  return {
    config,
    log,
    db,
    pg,
    clock,
    blobs,
    engine,
    providers,
    datasets,
    experiments,
    evals,
    runs,
    worker,
    iterations,
    sweeps,
    digests: new DigestService(engine, iterations, datasets),
    packs,
    iterate,
    ingest,
    costs,
    requests,
    buttons,
    overview: (userId) => overviewCard({ repo: engine, clock, runs, experiments, evals, datasets, costs }, userId),
    async close() {
      await this.scheduler?.stop();
      await worker.stop();
      await ingest.close();
      await evals.close();
      await providers.close();
      db?.$client.close();
      await pg?.close();
      await shared?.close();
    },
  };
}
