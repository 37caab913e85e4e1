/**
 * A `tuneloop worker` process for the chaos and bench tests: the real worker role (src/scale/worker.ts) on Postgres,
 * with the fake trainer (`steps` x `stepMs`) in place of real training. Prints "ready" once it takes jobs.
 * argv: dataDir databaseUrl steps stepMs
 */
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { startWorkerRole } from "../../src/scale/worker.ts";
import { answerFor } from "../engine/engine-helpers.ts";
import { FakeTrainer, fakeProviders } from "../fakes/providers.ts";

const [dataDir, databaseUrl, steps, stepMs] = process.argv.slice(2);
const config = loadConfig({
  TUNELOOP_DATA: dataDir,
  LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
  TUNELOOP_DATABASE_URL: databaseUrl,
  TUNELOOP_RUN_LEASE_S: process.env.TUNELOOP_RUN_LEASE_S ?? "3",
  TUNELOOP_EVAL_LEASE_S: process.env.TUNELOOP_EVAL_LEASE_S ?? "30",
  TUNELOOP_ENDPOINTS: process.env.TUNELOOP_ENDPOINTS ?? "",
});
const trainer = new FakeTrainer({ steps: Number(steps ?? 10), stepMs: Number(stepMs ?? 20) });
const providers = fakeProviders({ trainer, answers: answerFor, endpoints: config.endpoints });
const app = createApp(config, createLogger(config), { providers });
const role = await startWorkerRole(app, { label: `chaos worker ${process.pid}` });
process.stdout.write("ready\n");
const stop = async () => {
  await role.stop();
  await app.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
