import { HostAccess } from "../../commands/attachments.ts";
import fs from "node:fs";
import path from "node:path";
import type { CommandContext } from "../../commands/types.ts";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { tmpDir } from "../helpers.ts";
import { engineDatabaseUrl } from "../pg/cluster.ts";
import { fakeProviders, type FakeTrainer } from "../fakes/providers.ts";
import type { EndpointConfig } from "../../src/providers/openai-compatible.ts";

export const COLOURS = ["red", "green", "blue", "yellow"];
export const answerFor = (prompt: string) => {
  const m = /item (\d+)/.exec(prompt);
  return m ? COLOURS[Number(m[1]) % 4] : "?";
};

export function writeTask(dir: string, rows: number): string {
  const file = path.join(dir, "task.jsonl");
  const lines = Array.from({ length: rows }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `What colour is item ${i}?` },
        { role: "assistant", content: COLOURS[i % 4] },
      ],
    }),
  );
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/**
 * An endpoint on a local fake (no retries, a 2 s timeout, 4 requests at once unless told), priced per 1M
 * tokens for any model.
 */
export function fakeEndpoint(
  name: string,
  baseUrl: string,
  price: { inputPer1M: number; outputPer1M: number },
  over: Partial<EndpointConfig> = {},
): EndpointConfig {
  return { name, baseUrl, concurrency: 4, timeoutMs: 2000, maxRetries: 0, prices: { "*": price }, ...over };
}

export async function engineApp(
  opts: {
    dataDir?: string;
    trainer?: FakeTrainer;
    env?: Record<string, string>;
    endpoints?: EndpointConfig[];
    /** What the tuned local model answers (default: every colour right). */
    answers?: (prompt: string) => string;
  } = {},
) {
  const dataDir = opts.dataDir ?? tmpDir("engine");
  // On the Postgres pass (.ci/run), each data folder gets a database of its own.
  const databaseUrl = await engineDatabaseUrl(dataDir);
  const config = loadConfig({
    TUNELOOP_DATA: dataDir,
    LOG_LEVEL: "silent",
    ...(databaseUrl ? { TUNELOOP_DATABASE_URL: databaseUrl } : {}),
    ...opts.env,
  });
  const providers = fakeProviders({
    trainer: opts.trainer,
    answers: opts.answers ?? answerFor,
    endpoints: opts.endpoints,
  });
  const app = createApp(config, createLogger(config), { providers });
  return { app, dataDir, providers };
}

/** Uploads a generated task, splits it 75/25 and creates experiment `exp`. */
export async function seedExperiment(
  app: App,
  opts: { rows?: number; baselines?: string[]; budget?: number; name?: string } = {},
) {
  const file = writeTask(tmpDir("task"), opts.rows ?? 80);
  await app.datasets.upload({ filePath: file, filename: "task.jsonl", name: "task" });
  const split = await app.datasets.split("task", { evalShare: 0.25, seed: 1 });
  const exp = app.experiments.create({
    name: opts.name ?? "exp",
    evalDataset: `${split.eval.name}@v${split.eval.version}`,
    metric: "exact",
    baselines: opts.baselines ?? [],
    budgetUsd: opts.budget,
    user: "tester",
    channelId: "c1",
  });
  return {
    exp,
    train: `${split.train.name}@v${split.train.version}`,
    eval: `${split.eval.name}@v${split.eval.version}`,
  };
}

export function ctxFor(app: App, surface: CommandContext["surface"] = "cli"): CommandContext & { lines: string[] } {
  const lines: string[] = [];
  const base = {
    app,
    user: { id: "u1", name: "tester" },
    channelId: "c1",
    progress: (m: string) => lines.push(m),
    lines,
  };
  // The terminal surfaces hold host access (they may name files on this machine); chat surfaces never do.
  return surface === "cli" || surface === "console"
    ? { ...base, surface, host: HostAccess.forTerminal(surface) }
    : ({ ...base, surface } as CommandContext & { lines: string[] });
}
