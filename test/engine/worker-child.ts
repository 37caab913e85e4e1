/**
 * A worker process for the restart test: a slow fake trainer and a 30 s lease (still current when the next process
 * looks, however slowly it starts: it must take the run over because the owner is gone, not because the lease ran
 * out); prints each step.
 */
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/app.ts";
import { createLogger } from "../../src/log.ts";
import { RunWorker } from "../../src/core/runs/worker.ts";
import { FakeTrainer, fakeProviders } from "../fakes/providers.ts";
import { answerFor } from "./engine-helpers.ts";
import { engineDatabaseUrl } from "../pg/cluster.ts";

const databaseUrl = await engineDatabaseUrl(process.argv[2]);
const config = loadConfig({
  TUNELOOP_DATA: process.argv[2],
  LOG_LEVEL: "silent",
  ...(databaseUrl ? { TUNELOOP_DATABASE_URL: databaseUrl } : {}),
});
const trainer = new FakeTrainer({ steps: 1000, stepMs: 50 });
const providers = fakeProviders({ trainer, answers: answerFor });
const app = createApp(config, createLogger(config), { providers });
const worker = new RunWorker(app.engine, app.runs, app.datasets, app.evals, providers, app.clock, app.log, {
  dataDir: config.dataDir,
  leaseMs: 30_000,
});
worker.listen({
  onRun: (r) => {
    if (r.progress?.step) process.stdout.write(`step ${r.progress.step}\n`);
  },
});
await worker.runNext();
