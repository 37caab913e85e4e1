/** Experiments with a priced baseline on the OpenAI-compatible fake, for the budget and ledger tests. */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { App } from "../../src/app.ts";
import type { Card } from "../../src/core/cards.ts";
import type { LedgerEntry } from "../../src/core/ports.ts";
import { startFakeOpenAI, type FakeEndpoint, type FakeOptions } from "../fakes/openai-compatible.ts";
import { repoRoot, testEnv } from "../helpers.ts";
import { engineDatabaseEnv } from "../pg/cluster.ts";
import { localModelDir } from "../local/helpers.ts";
import { engineApp, fakeEndpoint, seedExperiment } from "./engine-helpers.ts";

export interface PricedExperiment {
  app: App;
  dataDir: string;
  fake: FakeEndpoint;
  train: string;
  evalRef: string;
  /** USD per 1M tokens, input and output alike, of the baseline `big:m`. */
  price: number;
  /** TUNELOOP_ENDPOINTS for a child process (the CLI) on the same data folder. */
  endpointsJson: string;
  close(): Promise<void>;
}

/**
 * Experiment `exp` (20 eval rows, baseline `big:m` answering "red") whose run estimate is exactly `runUsd`: the
 * baseline's price is set from the eval set's token counts so that its eval costs that much (training and the base
 * model are local, free).
 */
export async function pricedExperiment(
  opts: { runUsd?: number; budget?: number; fake?: FakeOptions; concurrency?: number } = {},
): Promise<PricedExperiment> {
  const fake = await startFakeOpenAI({ answer: () => "red", ...opts.fake });
  const first = await engineApp({ endpoints: [fakeEndpoint("big", fake.baseUrl, { inputPer1M: 1, outputPer1M: 1 })] });
  const { train, eval: evalRef } = await seedExperiment(first.app, { baselines: ["big:m"], budget: opts.budget });
  const ev = first.app.datasets.get(evalRef);
  const perRow = ev.stats.tokens.mean + ev.stats.assistantTokens / ev.rows;
  const price = ((opts.runUsd ?? 0.02) * 1e6) / (ev.rows * perRow);
  await first.app.close();
  const ep = fakeEndpoint(
    "big",
    fake.baseUrl,
    { inputPer1M: price, outputPer1M: price },
    { concurrency: opts.concurrency ?? 4 },
  );
  const { app } = await engineApp({ dataDir: first.dataDir, endpoints: [ep] });
  const { name, ...settings } = ep;
  return {
    app,
    dataDir: first.dataDir,
    fake,
    train,
    evalRef,
    price,
    endpointsJson: JSON.stringify({ [name]: settings }),
    async close() {
      await app.close();
      await fake.close();
    },
  };
}

/** What the fake billed (every answer the client received), at the baseline's price: the hand computation. */
export function billedUsd(fake: FakeEndpoint, price: number): number {
  return fake.answered.reduce((a, r) => a + ((r.promptTokens + r.completionTokens) * price) / 1e6, 0);
}

export const actualUsd = (entries: LedgerEntry[]) => entries.filter((l) => !l.estimated).reduce((a, l) => a + l.usd, 0);

/** A chat port that records what was posted and where (thread replies carry their parent's id). */
export function recordingChat() {
  const posted: Array<{ channel: string; card: Card; threadId?: string }> = [];
  return {
    posted,
    chat: {
      async post(channel: string, card: Card, o?: { threadId?: string }) {
        posted.push({ channel, card, threadId: o?.threadId });
        return { messageId: `m${posted.length}` };
      },
      async update() {},
    },
  };
}

/** The CLI (bin/tuneloop.mjs) as a child process on a data folder, with the fake's endpoint. */
export function spawnCli(args: string[], dataDir: string, endpointsJson: string): ChildProcess {
  return spawn(process.execPath, [path.join(repoRoot, "bin", "tuneloop.mjs"), ...args], {
    cwd: repoRoot,
    env: testEnv(dataDir, {
      TUNELOOP_ENDPOINTS: endpointsJson,
      TUNELOOP_LOCAL_MODEL_DIR: localModelDir,
      LOG_LEVEL: "silent",
      ...engineDatabaseEnv(dataDir),
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export function finished(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => (stdout += d));
  child.stderr?.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls until `ok()` holds (generous deadline: the machine is shared). */
export async function until(what: string, ok: () => boolean, deadlineMs = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
