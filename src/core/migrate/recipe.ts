/**
 * The same recipe on the target: what OpenAI's job reports (n_epochs, batch_size, learning_rate_multiplier) mapped
 * to the target trainer's hyperparameters.
 *
 * - Epochs: OpenAI's number as is; "auto" (or unreported) -> the cookbook rule on the rows the target trains on
 *   (defaultEpochs, which is the rule OpenAI documents for "auto").
 * - Learning rate: OpenAI's multiplier scales OpenAI's own base rate, which it does not publish. tuneloop takes the
 *   target trainer's default learning rate as the equivalent of multiplier 1, so
 *       target learning rate = target default x multiplier
 *   (e.g. a multiplier of 1.8 on Together: 1e-4 x 1.8 = 1.8e-4; on the local trainer: 3e-3 x 1.8 = 5.4e-3), capped at
 *   MAX_LEARNING_RATE. "auto" -> the target's default.
 * - Batch size: OpenAI's number as is (capped at 512); "auto" -> the target's default.
 */
import { defaultEpochs } from "../costs/estimate.ts";
import { MAX_LEARNING_RATE } from "../runs/hyper.ts";
import { DEFAULT_HYPER } from "../runs/service.ts";
import type { FineTuneJob } from "./source.ts";

export interface MappedRecipe {
  epochs: number;
  learningRate: number;
  batchSize: number;
  /** One line per hyperparameter: what OpenAI reported and what the target gets, and why. */
  notes: string[];
}

const num = (x: number) => Number(x.toPrecision(4));

export function mapRecipe(job: FineTuneJob, targetProvider: string, trainRows: number): MappedRecipe {
  const d = DEFAULT_HYPER[targetProvider] ?? DEFAULT_HYPER.default;
  const { epochs: e, learningRateMultiplier: m, batchSize: b } = job.hyper;
  const notes: string[] = [];
  let epochs: number;
  if (typeof e === "number" && e >= 1) {
    epochs = Math.min(100, Math.round(e));
    notes.push(`epochs: ${e} (as OpenAI trained)`);
  } else {
    epochs = defaultEpochs(trainRows);
    notes.push(`epochs: OpenAI reported ${e ?? "none"}; ${epochs} by the cookbook rule for ${trainRows} rows`);
  }
  let learningRate: number;
  if (typeof m === "number" && m > 0) {
    learningRate = Math.min(MAX_LEARNING_RATE, num(d.learningRate * m));
    notes.push(
      `learning rate: multiplier ${m} x ${targetProvider}'s default ${d.learningRate} = ${learningRate}${learningRate === MAX_LEARNING_RATE ? " (capped)" : ""}`,
    );
  } else {
    learningRate = d.learningRate;
    notes.push(`learning rate: multiplier ${m ?? "not reported"}; ${targetProvider}'s default ${learningRate}`);
  }
  let batchSize: number;
  if (typeof b === "number" && b >= 1) {
    batchSize = Math.min(512, Math.round(b));
    notes.push(`batch size: ${batchSize} (as OpenAI trained)`);
  } else {
    batchSize = d.batchSize;
    notes.push(`batch size: OpenAI reported ${b ?? "none"}; ${targetProvider}'s default ${batchSize}`);
  }
  return { epochs, learningRate, batchSize, notes };
}
