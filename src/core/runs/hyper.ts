/** Limits on the hyperparameters a user may ask for: values past them only ever make training diverge. */
import { ErrorCode, TuneError } from "../../errors.ts";

export const MAX_LEARNING_RATE = 1;
export const MAX_LORA_ALPHA = 1024;

/** Refuses a learning rate above 1 or a LoRA alpha above 1024 (invalid_options, naming the option) before a run starts. */
export function checkHyperLimits(h: { learningRate?: number; loraAlpha?: number }): void {
  if (h.learningRate !== undefined && !(h.learningRate <= MAX_LEARNING_RATE)) {
    throw new TuneError(
      ErrorCode.InvalidOptions,
      `--lr ${h.learningRate} is too large: the learning rate must be at most ${MAX_LEARNING_RATE}, and anything near it makes training diverge. Typical LoRA values are 1e-4 to 1e-3 (the local trainer's default is 3e-3).`,
      { option: "lr", value: h.learningRate, max: MAX_LEARNING_RATE },
    );
  }
  if (h.loraAlpha !== undefined && !(h.loraAlpha <= MAX_LORA_ALPHA)) {
    throw new TuneError(
      ErrorCode.InvalidOptions,
      `--lora-alpha ${h.loraAlpha} is too large: LoRA alpha must be at most ${MAX_LORA_ALPHA} (it scales the adapter's update by alpha / rank; the default is 2 x the rank).`,
      { option: "loraAlpha", value: h.loraAlpha, max: MAX_LORA_ALPHA },
    );
  }
}
