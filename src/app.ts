import path from "node:path";
import type { CommandContext, Permission } from "../commands/types.ts";
import { datasetRepo } from "../db/repos/datasets.ts";
import { openDb, type Db } from "../db/client.ts";
import type { Config } from "./config.ts";
import { DatasetService } from "./core/datasets/service.ts";
import { systemClock, type BlobStore, type Clock } from "./core/ports.ts";
import { fsBlobStore, sweepTmp } from "./lib/blobs.ts";
import type { Logger } from "./log.ts";

/** Everything a command handler can reach: settings, log, storage and the core services. */
export interface App {
  config: Config;
  log: Logger;
  db: Db;
  clock: Clock;
  blobs: BlobStore;
  datasets: DatasetService;
  /** Platform permission rules (set by the Slack/Discord adapters); null/undefined allows everything. */
  permissions?: (permission: Permission, ctx: CommandContext) => string | null;
  close(): void;
}

export function createApp(config: Config, log: Logger, opts: { clock?: Clock } = {}): App {
  const db = openDb(path.join(config.dataDir, "tuneloop.db"));
  const blobs = fsBlobStore(config.dataDir);
  sweepTmp(config.dataDir);
  const clock = opts.clock ?? systemClock;
  const datasets = new DatasetService(datasetRepo(db), blobs, clock, {
    limits: config.limits,
    defaultModel: config.defaultModel,
    estimateModels: config.estimateModels,
    nearDupThreshold: config.nearDupThreshold,
  });
  return {
    config,
    log,
    db,
    clock,
    blobs,
    datasets,
    close() {
      db.$client.close();
    },
  };
}
