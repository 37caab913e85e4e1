/**
 * A fake trainer and fake inference behind the real provider ports, for engine tests that must not spend minutes
 * training: the trainer takes `steps` steps of `stepMs` each (honouring cancellation between steps), and the tuned
 * model answers every eval row correctly while the base model answers "I don't know".
 */
import fs from "node:fs";
import path from "node:path";
import type { InferenceModel } from "../../src/core/inference.ts";
import type { ProviderSet } from "../../src/core/models.ts";
import { CancelledError, type TrainerProvider, type TrainJob } from "../../src/core/trainer.ts";
import type { Providers } from "../../src/providers/index.ts";
import { endpointModel, OpenAICompatibleClient, type EndpointConfig } from "../../src/providers/openai-compatible.ts";

export interface FakeTrainerOptions {
  steps?: number;
  stepMs?: number;
  /** Fail at this step with this message. */
  failAt?: { step: number; message: string };
}

export class FakeTrainer implements TrainerProvider {
  readonly name = "local";
  readonly defaultModel = "stories260K";
  started = 0;
  constructor(private readonly opts: FakeTrainerOptions = {}) {}
  models() {
    return ["stories260K"];
  }
  async train(job: TrainJob) {
    this.started++;
    const steps = this.opts.steps ?? 10;
    const t0 = Date.now();
    for (let step = 1; step <= steps; step++) {
      if (job.signal.aborted) throw new CancelledError();
      await new Promise((r) => setTimeout(r, this.opts.stepMs ?? 5));
      if (this.opts.failAt?.step === step)
        throw Object.assign(new Error(this.opts.failAt.message), { code: "training_diverged" });
      job.onProgress({
        step,
        totalSteps: steps,
        epoch: 1,
        loss: 2 / step,
        tokensPerSec: 1000,
        tokens: step * 100,
        elapsedMs: Date.now() - t0,
      });
    }
    fs.mkdirSync(job.workDir, { recursive: true });
    const adapter = path.join(job.workDir, "adapter.json");
    fs.writeFileSync(adapter, JSON.stringify({ run: job.run.id }));
    return {
      tunedModelId: adapter,
      steps,
      trainingTokens: steps * 100,
      finalLoss: 2 / steps,
      losses: [],
      wallMs: Date.now() - t0,
      usd: 0,
    };
  }
}

/** The base model knows nothing; a tuned model (its id is a file the fake trainer wrote) knows every answer. */
export function fakeLocalModel(modelId: string, ref: string, answers: (prompt: string) => string): InferenceModel {
  const tuned = modelId !== "stories260K";
  return {
    ref,
    provider: "local",
    pricing: { inputPer1M: 0, outputPer1M: 0 },
    async completeAll(requests, opts) {
      return requests.map((r, i) => {
        const prompt = r.messages.map((m) => m.content).join("\n");
        const res = { text: tuned ? answers(prompt) : "I don't know", inputTokens: 10, outputTokens: 3, latencyMs: 1 };
        opts.onResult?.(i, res);
        return res;
      });
    },
  };
}

export function fakeProviders(opts: {
  trainer?: FakeTrainer;
  answers: (prompt: string) => string;
  endpoints?: EndpointConfig[];
}): Providers & ProviderSet & { trainerImpl: FakeTrainer } {
  const trainer = opts.trainer ?? new FakeTrainer();
  const endpoints = new Map((opts.endpoints ?? []).map((e) => [e.name, new OpenAICompatibleClient(e)]));
  return {
    trainerImpl: trainer,
    trainer: (name) => (name === "local" ? trainer : null),
    trainerNames: () => ["local"],
    inference(provider, modelId, ref) {
      if (provider === "local") return fakeLocalModel(modelId, ref, opts.answers);
      const ep = endpoints.get(provider);
      return ep ? endpointModel(ep, modelId) : null;
    },
    providerNames: () => ["local", ...endpoints.keys()],
    async close() {},
  };
}
