/** Shared bits of the hosted-provider contract tests: rows, a TrainJob with recorded callbacks, fast settings. */
import type { LocatedRow } from "../../src/core/datasets/types.ts";
import type { Hyper, RunRecord } from "../../src/core/ports.ts";
import type { TrainProgressEvent } from "../../src/core/trainer.ts";
import type { HostedTrainJob } from "../../src/providers/hosted.ts";
import type { HttpSettings, TogetherDefaults } from "../../src/providers/settings.ts";

export const COLOURS = ["red", "green", "blue", "yellow"];

export function rows(n: number, start = 0): LocatedRow[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: "chat" as const,
    line: i + 1,
    index: i,
    messages: [
      { role: "user" as const, content: `What colour is item ${start + i}?` },
      { role: "assistant" as const, content: COLOURS[(start + i) % 4] },
    ],
  }));
}

export const fast = (baseUrl: string, apiKey: string, over: Partial<HttpSettings> = {}): HttpSettings => ({
  baseUrl,
  apiKey,
  timeoutMs: 2000,
  maxRetries: 2,
  retryBaseMs: 1,
  pollIntervalMs: 1,
  pollMaxMs: 4,
  ...over,
});

/** Together's settings as .env.example leaves them. */
export const TOGETHER_DEFAULTS: TogetherDefaults = {
  trainingType: "lora",
  loraDropout: 0,
  warmupRatio: 0,
  nCheckpoints: 1,
  nEvals: 0,
  trainOnInputs: "auto",
};

export const HYPER: Hyper = { epochs: 2, learningRate: 1e-4, batchSize: 8, loraRank: 8, loraAlpha: 16, seed: 7 };

export function runRecord(over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 1,
    idempotencyKey: "key-1",
    experimentId: 1,
    datasetVersionId: 1,
    validVersionId: null,
    provider: "together",
    baseModel: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    tunedModel: null,
    hyper: HYPER,
    state: "running",
    stateReason: null,
    jobId: null,
    estimate: null,
    progress: null,
    result: null,
    leaseOwner: null,
    leaseUntil: null,
    attempts: 1,
    cancelRequestedAt: null,
    channelId: null,
    messageId: null,
    createdBy: "tester",
    createdById: null,
    createdAt: new Date(),
    startedAt: new Date(),
    finishedAt: null,
    ...over,
  };
}

export interface Recorded {
  job: HostedTrainJob;
  ac: AbortController;
  progress: TrainProgressEvent[];
  events: string[];
  created: string[];
  stalls: string[];
  recoveries: number;
}

export function trainJob(
  over: {
    run?: Partial<RunRecord>;
    hyper?: Partial<Hyper> & Record<string, unknown>;
    jobId?: string | null;
    rows?: LocatedRow[];
  } = {},
  hooks: { onProgress?: (p: TrainProgressEvent, r: Recorded) => void } = {},
): Recorded {
  const ac = new AbortController();
  const hyper = { ...HYPER, ...over.hyper } as Hyper;
  const rec: Recorded = {
    ac,
    progress: [],
    events: [],
    created: [],
    stalls: [],
    recoveries: 0,
    job: undefined as unknown as HostedTrainJob,
  };
  rec.job = {
    run: runRecord({ hyper, jobId: over.jobId ?? null, ...over.run }),
    trainRows: over.rows ?? rows(12),
    hyper,
    workDir: "/nonexistent",
    signal: ac.signal,
    jobId: over.jobId ?? null,
    onProgress: (p) => {
      rec.progress.push(p);
      hooks.onProgress?.(p, rec);
    },
    onJobCreated: (id) => rec.created.push(id),
    onStalled: (m) => rec.stalls.push(m),
    onRecovered: () => rec.recoveries++,
    onEvent: (m) => rec.events.push(m),
  };
  return rec;
}
