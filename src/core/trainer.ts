/** The trainer port: every fine-tuning backend (the embedded local trainer, Together, OpenAI...) implements it. */
import type { LocatedRow } from "./datasets/types.ts";
import type { Hyper, RunRecord } from "./ports.ts";

export interface TrainProgressEvent {
  step: number;
  totalSteps: number;
  /** The epoch of this step (the local trainer: 1-based index; hosted trainers: epochs done, fractional). */
  epoch: number;
  loss: number;
  tokensPerSec: number;
  tokens: number;
  elapsedMs: number;
}

export interface TrainJob {
  run: RunRecord;
  trainRows: LocatedRow[];
  /** Rows for the provider's own validation loss during training, when there are any. */
  validRows?: LocatedRow[];
  hyper: Hyper;
  /** A folder of the data directory that belongs to this run (adapters, checkpoints). */
  workDir: string;
  signal: AbortSignal;
  onProgress: (p: TrainProgressEvent) => void;
  /**
   * The validation loss (mean per answer token over `validRows`) after `step` training steps (0 = before training),
   * from trainers that report one. The local trainer does, before training and at the end of every epoch.
   */
  onValidLoss?: (p: { step: number; loss: number }) => void;
  /**
   * A hosted provider's job id, when this run already created one (after a restart): resume tracking it instead of
   * creating another job.
   */
  jobId: string | null;
  /** Called as soon as the provider has created its job (the worker stores it, so a restart resumes it). */
  onJobCreated: (jobId: string) => void;
  /** The provider cannot be reached (an outage): the run shows as stalled with this message, not failed. */
  onStalled: (message: string) => void;
  /** The provider answers again after onStalled. */
  onRecovered: () => void;
  /** Free-form progress lines (provider events: checkpoints, warnings) for the run's thread. */
  onEvent?: (message: string) => void;
}

export interface TrainOutcome {
  /** How the tuned model is reached for inference (e.g. the adapter folder, or the provider's model id). */
  tunedModelId: string;
  steps: number;
  trainingTokens: number;
  finalLoss: number;
  losses: number[];
  wallMs: number;
  usd: number;
  jobId?: string;
}

/** A hosted provider's own price estimate, shown beside tuneloop's. */
export interface ProviderQuote {
  provider: string;
  model: string;
  /** False when the provider cannot estimate (then `reason` says why). */
  available: boolean;
  usd: number | null;
  trainTokens: number | null;
  evalTokens: number | null;
  /** The account's credit limit, when the provider says. */
  userLimitUsd: number | null;
  /** The provider's own verdict on whether the job can start (credit). */
  allowedToProceed: boolean | null;
  reason?: string;
  /** The provider's id of the uploaded training file (a later train() in the same process reuses it). */
  fileId?: string;
}

/** How much a training processes, in the units its speed is measured in (see TrainerProvider.trainingWork). */
export interface TrainingWork {
  tokens: number;
  /** The typical sequence length of its steps (what its speed per token depends on). */
  tokensPerRow: number;
  /** What the tokens are, for people: "stories260K tokens with padding". */
  unit: string;
}

export interface TrainerProvider {
  name: string;
  defaultModel: string;
  /** Base models it can tune. */
  models(): string[];
  /**
   * It computes validation loss on a run's validation set (`validRows`, reported through `onValidLoss`) at no cost
   * beyond what the estimate already counts. Runs with a validation set are refused by trainers without it.
   */
  validationLoss?: boolean;
  train(job: TrainJob): Promise<TrainOutcome>;
  /**
   * What a training processes, when billed tokens are a poor guide to its time (the local trainer pads each batch
   * to its longest row and counts its own small vocabulary). Without it, time estimates use the billed tokens.
   */
  trainingWork?(input: { trainRows: LocatedRow[]; hyper: Hyper }): TrainingWork;
  /**
   * Trainers whose base models are not in the price table (a self-hosted GPU): checks a run before anything is
   * reserved (the base model is served, the LoRA rank loads, the rows' format trains) and returns the base model's
   * name. A refusal is a coded error that says which setting to change.
   */
  prepare?(input: {
    model: string;
    hyper: Hyper;
    format: string;
    signal?: AbortSignal;
  }): Promise<{ baseModel: string }>;
  /**
   * The training's cost when it is not tokens x a price (a self-hosted GPU bills its hours): from the estimated wall
   * time. Null seconds (no estimate of the time) must still give a cost (a cautious one).
   */
  priceTraining?(input: { baseModel: string; tokens: number; wallSeconds: number | null }): {
    usd: number;
    /** How the cost was made, for people ("0.42 GPU hours at $2.00/h"). */
    basis: string;
  };
  /** The provider's own estimate of a job (Together's estimate-price), when it offers one. */
  quote?(input: {
    trainRows: LocatedRow[];
    baseModel: string;
    hyper: Hyper;
    signal?: AbortSignal;
  }): Promise<ProviderQuote>;
}

export class CancelledError extends Error {
  readonly code = "cancelled";
  constructor(message = "cancelled") {
    super(message);
  }
}
