/**
 * The embedded local trainer as a provider: LoRA fine-tuning of a llama2.c checkpoint (stories260K) on worker
 * threads, $0, and inference of the base model or a tuned adapter for evals.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChatMessage, LocatedRow } from "../../core/datasets/types.ts";
import type { InferenceModel } from "../../core/inference.ts";
import type { Hyper } from "../../core/ports.ts";
import { CancelledError, type TrainerProvider, type TrainingWork } from "../../core/trainer.ts";
import { TuneError, ErrorCode } from "../../errors.ts";
import { maxTokensOf } from "../answer-limits.ts";
// tfjs and the model code load on first use (a bot that never trains never pays for them).
import { paddedWork } from "./batches.ts";
import type { LocalTrainerClient } from "./client.ts";
const lib = () => Promise.all([import("./client.ts"), import("./model-files.ts"), import("./template.ts")]);

export const LOCAL_MODEL = "stories260K";

export interface LocalProviderOptions {
  modelDir?: string;
  cacheDir: string;
}

export class LocalProvider implements TrainerProvider {
  readonly name = "local";
  readonly defaultModel = LOCAL_MODEL;
  /** Validation loss on a run's validation set, before training and at the end of each epoch (free, local). */
  readonly validationLoss = true;
  private client: LocalTrainerClient | null = null;
  private clientReady: Promise<LocalTrainerClient> | null = null;

  constructor(private readonly opts: LocalProviderOptions) {}

  models(): string[] {
    return [LOCAL_MODEL];
  }

  /** Padded model tokens: the local trainer's time follows them, not the billed (o200k) tokens. */
  trainingWork(input: { trainRows: LocatedRow[]; hyper: Hyper }): TrainingWork {
    return { ...paddedWork(input.trainRows, input.hyper), unit: `${LOCAL_MODEL} tokens with padding` };
  }

  private async getClient(): Promise<LocalTrainerClient> {
    if (this.client) return this.client;
    this.clientReady ??= (async () => {
      const [{ LocalTrainerClient }, { resolveModelDir }] = await lib();
      const modelDir = await resolveModelDir({ modelDir: this.opts.modelDir, cacheDir: this.opts.cacheDir });
      this.client = new LocalTrainerClient({ modelDir });
      return this.client;
    })();
    try {
      return await this.clientReady;
    } catch (err) {
      this.clientReady = null;
      throw new TuneError(ErrorCode.LocalModelUnavailable, (err as Error).message);
    }
  }

  async train(job: Parameters<TrainerProvider["train"]>[0]) {
    const client = await this.getClient();
    const [, , { chatToExample }] = await lib();
    const toExamples = (rows: readonly LocatedRow[], what: string) =>
      rows.map((r) => {
        const ex = chatToExample(r.messages ?? [], r.text);
        if (!ex) {
          throw new TuneError(
            ErrorCode.LocalBadRow,
            `${what} line ${r.line} has no assistant answer to learn; the local trainer needs chat rows ending in an assistant message.`,
          );
        }
        return ex;
      });
    const examples = toExamples(job.trainRows, "training set");
    const validation = job.validRows?.length ? toExamples(job.validRows, "validation set") : undefined;
    const adapterDir = path.join(job.workDir, "adapter");
    fs.mkdirSync(job.workDir, { recursive: true });
    try {
      const out = await client.train(
        { examples, validation, hyper: job.hyper, adapterDir },
        (p) => {
          if (p.validLoss !== undefined && Number.isFinite(p.validLoss))
            job.onValidLoss?.({ step: p.step, loss: p.validLoss });
          if (p.step > 0) job.onProgress(p);
        },
        job.signal,
      );
      return {
        tunedModelId: out.adapterDir,
        steps: out.steps,
        trainingTokens: out.tokens,
        finalLoss: out.finalLoss,
        losses: out.losses,
        wallMs: out.wallMs,
        usd: 0,
      };
    } catch (err) {
      if ((err as { code?: string }).code === ErrorCode.Cancelled) throw new CancelledError();
      throw err;
    }
  }

  /** The base model (`stories260K`) or a tuned adapter (its folder, from a run's result). */
  inference(modelId: string, ref: string): InferenceModel | null {
    const adapterDir = modelId === LOCAL_MODEL ? undefined : modelId;
    // a run's adapter folder comes whole (absolute) from its result; never a folder relative to the bot's cwd
    if (adapterDir !== undefined && (!path.isAbsolute(adapterDir) || !fs.existsSync(adapterDir))) return null;
    return {
      ref,
      provider: "local",
      pricing: { inputPer1M: 0, outputPer1M: 0 },
      completeAll: async (requests, opts) => {
        const client = await this.getClient();
        const [, , { promptFromMessages }] = await lib();
        // the longest asked for (a request that did not say gets the shared default); never unbounded
        const maxTokens = Math.max(...requests.map((r) => maxTokensOf(r)), 1);
        const results = await client.generate(
          requests.map((r) => promptFromMessages(r.messages as ChatMessage[])),
          { adapterDir, maxTokens, temperature: 0 },
        );
        const out = results.map((r) => ({
          text: r.text,
          inputTokens: r.promptTokens,
          outputTokens: r.completionTokens,
          latencyMs: r.latencyMs,
        }));
        for (let i = 0; i < out.length; i++) opts.onResult?.(i, out[i]);
        if (opts.signal?.aborted) throw new CancelledError();
        return out;
      },
    };
  }

  async close(): Promise<void> {
    this.client?.close();
    this.client = null;
    this.clientReady = null;
  }
}
