/**
 * Training-cost estimates from per-row token counts and the price table (src/providers/prices.json, loaded by the
 * providers and handed in with `usePriceTable`: the core reads no file of the providers).
 *
 * prices.json is an array of entries (validated with zod when first used):
 *   provider, model            `provider:model` is the reference ("openai:gpt-4.1"); `aliases` (optional) are
 *                              other names of the same model (e.g. the dated snapshot "gpt-4.1-2025-04-14").
 *   kind                       "chat"      hosted fine-tuning of a proprietary chat model (OpenAI);
 *                              "lora-band" Together AI, priced by model-size band (`band`); entries named
 *                                          "band:<band>" stand for any model of that size;
 *                              "local"     the bundled local trainer (free).
 *   trainingPer1M              USD per 1M training tokens (LoRA for Together; `fullTrainingPer1M` = full FT).
 *   inputPer1M / outputPer1M   USD per 1M tokens for inference of the TUNED model (null when it is not billed
 *                              per token, e.g. a dedicated endpoint billed per minute).
 *   baseInputPer1M / baseOutputPer1M  (optional) inference prices of the untuned base model — kept on the same
 *                              entry rather than as separate entries, so one `provider:model` means one entry.
 *   contextTokens              max tokens of one training example; longer rows are truncated (and billed
 *                              only up to it).
 *   source, date, notes        where the figures come from, when they were checked, caveats.
 *
 * Billing follows the OpenAI cookbook: billed tokens = epochs x sum(min(contextTokens, rowTokens)).
 * Default epochs follow the cookbook rule (`defaultEpochs`) for every provider.
 */
import { z } from "zod";
import type { ErrorCodeValue } from "../../errors.ts";

export type EstimateErrorCode = Extract<
  ErrorCodeValue,
  "unknown_model" | "ambiguous_model" | "invalid_price_table" | "not_trainable"
>;

export class EstimateError extends Error {
  readonly code: EstimateErrorCode;
  constructor(code: EstimateErrorCode, message: string) {
    super(message);
    this.name = "EstimateError";
    this.code = code;
  }
}

const money = z.number().nonnegative();

export const PriceEntrySchema = z
  .object({
    provider: z.string().min(1),
    model: z.string().min(1),
    aliases: z.array(z.string().min(1)).optional(),
    kind: z.enum(["chat", "lora-band", "local"]),
    band: z.string().min(1).optional(),
    trainingPer1M: money.nullable(),
    fullTrainingPer1M: money.nullable().optional(),
    inputPer1M: money.nullable(),
    outputPer1M: money.nullable(),
    baseInputPer1M: money.nullable().optional(),
    baseOutputPer1M: money.nullable().optional(),
    contextTokens: z.number().int().positive(),
    source: z.string().min(1),
    date: z.iso.date(),
    notes: z.string().optional(),
  })
  .strict();

export type PriceEntry = z.infer<typeof PriceEntrySchema>;

export const PriceTableSchema = z.array(PriceEntrySchema).superRefine((entries, ctx) => {
  const seen = new Set<string>();
  for (const e of entries) {
    for (const name of [e.model, ...(e.aliases ?? [])]) {
      const ref = `${e.provider}:${name}`.toLowerCase();
      if (seen.has(ref)) ctx.addIssue({ code: "custom", message: `duplicate model reference ${ref}` });
      seen.add(ref);
    }
  }
});

let table: readonly PriceEntry[] | undefined;

/** Parses and validates a price table (throws EstimateError `invalid_price_table`). */
export function parsePriceTable(data: unknown): PriceEntry[] {
  const r = PriceTableSchema.safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new EstimateError("invalid_price_table", `prices.json is invalid: ${issues}`);
  }
  return r.data;
}

/** Hands the core the price table (the providers load and validate it: src/providers/tables.ts). */
export function usePriceTable(entries: readonly PriceEntry[]): void {
  table = Object.freeze([...entries]);
}

/** The price table handed in by the providers. */
export function priceTable(): readonly PriceEntry[] {
  if (table === undefined) {
    throw new Error("no price table: the wiring hands it in (installCostTables in src/providers/tables.ts)");
  }
  return table;
}

export function modelRef(e: PriceEntry): string {
  return `${e.provider}:${e.model}`;
}

/**
 * Resolves "provider:model" (or a bare model name when exactly one provider has it; aliases count,
 * case-insensitive). Unknown → EstimateError `unknown_model` listing the known models; a bare name held by
 * several providers → `ambiguous_model`.
 */
export function findModel(ref: string): PriceEntry {
  return findModelIn(priceTable(), ref);
}

/** findModel in a given table. */
export function findModelIn(entries: readonly PriceEntry[], ref: string): PriceEntry {
  const wanted = ref.trim().toLowerCase();
  const names = (e: PriceEntry) => [e.model, ...(e.aliases ?? [])].map((n) => n.toLowerCase());
  const colon = wanted.indexOf(":");
  if (colon > 0) {
    const provider = wanted.slice(0, colon);
    const model = wanted.slice(colon + 1);
    const hit = entries.find((e) => e.provider.toLowerCase() === provider && names(e).includes(model));
    if (hit) return hit;
  }
  const bare = entries.filter((e) => names(e).includes(wanted));
  if (bare.length === 1) return bare[0];
  if (bare.length > 1) {
    throw new EstimateError(
      "ambiguous_model",
      `Model "${ref}" is offered by several providers: ${bare.map(modelRef).join(", ")}. Use provider:model.`,
    );
  }
  throw new EstimateError(
    "unknown_model",
    `Unknown model "${ref}". Known models: ${entries.map(modelRef).join(", ")}.`,
  );
}

/**
 * Whether a model can be fine-tuned on rows of a dataset format. OpenAI fine-tunes its chat models on chat rows
 * only, so plain text rows ({"text": ...}) leave it out; Together and the local trainer take text rows too.
 */
export function trainsOn(e: PriceEntry, format: string | null): boolean {
  return !(e.kind === "chat" && format === "text");
}

/** Splits model references into those that can train on a format and those left out, with why. */
export function trainableModels(
  models: readonly string[],
  format: string | null,
): { trainable: string[]; leftOut: string[]; why: string | null } {
  const trainable: string[] = [];
  const leftOut: string[] = [];
  for (const m of models) (trainsOn(findModel(m), format) ? trainable : leftOut).push(m);
  return {
    trainable,
    leftOut,
    why: leftOut.length ? "OpenAI fine-tunes chat rows only, and these are plain text rows" : null,
  };
}

// Cookbook constants (https://cookbook.openai.com/examples/chat_finetuning_data_prep).
export const TARGET_EPOCHS = 3;
export const MIN_TARGET_EXAMPLES = 100;
export const MAX_TARGET_EXAMPLES = 25000;
export const MIN_DEFAULT_EPOCHS = 1;
export const MAX_DEFAULT_EPOCHS = 25;

/**
 * The cookbook's default epochs for n training rows: 3, raised to min(25, floor(100 / n)) when n * 3 < 100,
 * lowered to max(1, floor(25000 / n)) when n * 3 > 25000. n < 1 gives TARGET_EPOCHS.
 */
export function defaultEpochs(nRows: number): number {
  const n = Math.floor(nRows);
  if (n < 1) return TARGET_EPOCHS;
  if (n * TARGET_EPOCHS < MIN_TARGET_EXAMPLES) {
    return Math.min(MAX_DEFAULT_EPOCHS, Math.floor(MIN_TARGET_EXAMPLES / n));
  }
  if (n * TARGET_EPOCHS > MAX_TARGET_EXAMPLES) {
    return Math.max(MIN_DEFAULT_EPOCHS, Math.floor(MAX_TARGET_EXAMPLES / n));
  }
  return TARGET_EPOCHS;
}

/** Tokens billed for one epoch: sum of min(limit, row tokens). */
export function billingTokens(rowTokens: readonly number[], maxTokensPerExample: number): number {
  let sum = 0;
  for (const t of rowTokens) sum += Math.min(maxTokensPerExample, t);
  return sum;
}

export interface TrainingEstimate {
  provider: string;
  model: string;
  epochs: number;
  billedTokens: number;
  /** USD, rounded to cents. */
  usd: number;
  contextTokens: number;
  rowsOverContext: number;
}

function roundCents(usd: number): number {
  return Math.round(usd * 100 + 1e-9) / 100;
}

/**
 * Training cost per model. `models` are references for findModel (default: every entry with a training
 * price); `epochs` defaults to defaultEpochs(rowTokens.length).
 */
export function estimateTraining(
  rowTokens: readonly number[],
  opts: { epochs?: number; models?: string[] } = {},
): TrainingEstimate[] {
  const epochs = opts.epochs ?? defaultEpochs(rowTokens.length);
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  const entries =
    opts.models !== undefined ? opts.models.map(findModel) : priceTable().filter((e) => e.trainingPer1M !== null);
  return entries.map((e) => {
    if (e.trainingPer1M === null) {
      throw new EstimateError("not_trainable", `${modelRef(e)} has no training price.`);
    }
    let over = 0;
    for (const t of rowTokens) if (t > e.contextTokens) over++;
    const billedTokens = epochs * billingTokens(rowTokens, e.contextTokens);
    return {
      provider: e.provider,
      model: e.model,
      epochs,
      billedTokens,
      usd: roundCents((billedTokens * e.trainingPer1M) / 1_000_000),
      contextTokens: e.contextTokens,
      rowsOverContext: over,
    };
  });
}
