/**
 * The port a migration reads the old provider through: its fine-tuning jobs (paginated), one job, and the content
 * of the files it trained on. OpenAI implements it (src/providers/openai-jobs.ts); the core never sees its SDK.
 */

/** A hyperparameter as the provider reports it: a number, "auto" (the provider chose), or not reported. */
export type ReportedValue = number | "auto" | null;

export interface FineTuneJob {
  id: string;
  status: string;
  /** The model the job tuned (OpenAI's dated snapshot, e.g. gpt-4o-mini-2024-07-18). */
  baseModel: string;
  /** The tuned model ("ft:gpt-4o-mini-2024-07-18:org:suffix:id"), null until the job succeeded. */
  tunedModel: string | null;
  trainingFile: string;
  validationFile: string | null;
  /** "supervised", "dpo", "reinforcement" (OpenAI's method.type). */
  method: string;
  hyper: { epochs: ReportedValue; learningRateMultiplier: ReportedValue; batchSize: ReportedValue };
  createdAt: Date;
  trainedTokens: number | null;
}

export interface JobPage {
  jobs: FineTuneJob[];
  hasMore: boolean;
  /** Pass as `after` for the next page. */
  lastId: string | null;
}

export interface MigrationSource {
  /** The provider's name as a model reference starts with it ("openai"). */
  readonly name: string;
  listJobs(o: { after?: string; limit?: number; signal?: AbortSignal }): Promise<JobPage>;
  job(id: string, signal?: AbortSignal): Promise<FineTuneJob>;
  /** The file's name as it was uploaded (null when the provider does not say). */
  fileName(id: string, signal?: AbortSignal): Promise<string | null>;
  /**
   * Writes the file's content to `dest`, refusing (and removing what was written) past `maxBytes`. Returns the bytes
   * written.
   */
  downloadFile(id: string, dest: string, o: { maxBytes: number; signal?: AbortSignal }): Promise<number>;
}

/** A trainer that can also be migrated away from (duck-typed: the port stays free of provider classes). */
export function migrationSourceOf(trainer: unknown): MigrationSource | null {
  const m = (trainer as { migration?: MigrationSource } | null)?.migration;
  return m && typeof m.listJobs === "function" ? m : null;
}
