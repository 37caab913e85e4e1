/**
 * Coded errors. Anything a user can cause is a TuneError: it carries a stable code, a message that says what is
 * wrong and what to do, and is shown to the user ephemerally. Anything else that escapes a handler is a bug: the
 * user gets a short apology with a reference, and the details go to the log only.
 */

export const ErrorCode = {
  // settings
  ConfigInvalid: "config_invalid",
  // commands
  UnknownCommand: "unknown_command",
  InvalidOptions: "invalid_options",
  PermissionDenied: "permission_denied",
  AttachmentRequired: "attachment_required",
  /** A chat message named a path on the bot's host (--file, --out...): paths are for the CLI and the console. */
  HostPathRefused: "host_path_refused",
  // datasets
  DatasetInvalidName: "dataset_invalid_name",
  DatasetNotFound: "dataset_not_found",
  DatasetFileNotFound: "dataset_file_not_found",
  DatasetTooLarge: "dataset_too_large",
  DatasetTooManyRows: "dataset_too_many_rows",
  DatasetEmptyFile: "dataset_empty_file",
  DatasetArchive: "dataset_archive",
  DatasetBinary: "dataset_binary",
  DatasetWrongEncoding: "dataset_wrong_encoding",
  DatasetNotJson: "dataset_not_json",
  DatasetUnknownFormat: "dataset_unknown_format",
  DatasetNoValidRows: "dataset_no_valid_rows",
  DatasetSplitTooSmall: "dataset_split_too_small",
  DatasetExportUnsupported: "dataset_export_unsupported",
  DatasetRowTooDeep: "dataset_row_too_deep",
  // costs
  UnknownModel: "unknown_model",
  // commands
  ChartEmpty: "chart_empty",
  // datasets
  DatasetFormatUnsupported: "dataset_format_unsupported",
  // costs and budgets
  AmbiguousModel: "ambiguous_model",
  InvalidPriceTable: "invalid_price_table",
  NotTrainable: "not_trainable",
  BudgetExceeded: "budget_exceeded",
  BudgetStopped: "budget_stopped",
  // experiments
  ExperimentEvalText: "experiment_eval_text",
  ExperimentExists: "experiment_exists",
  ExperimentInvalidName: "experiment_invalid_name",
  ExperimentNotFound: "experiment_not_found",
  // runs
  RunNotFound: "run_not_found",
  RunNotReady: "run_not_ready",
  RunOverlap: "run_overlap",
  RunState: "run_state",
  ValidationIsTraining: "validation_is_training",
  ValidationUnsupported: "validation_unsupported",
  TrainingDiverged: "training_diverged",
  Cancelled: "cancelled",
  // evals
  EvalNotFound: "eval_not_found",
  EvalNotPaired: "eval_not_paired",
  EvalTakenOver: "eval_taken_over",
  /** An eval queued as a job (Postgres) failed on the process that answered it. */
  EvalFailed: "eval_failed",
  InvalidGrader: "invalid_grader",
  // schedules and sweeps
  ScheduleInvalidCron: "schedule_invalid_cron",
  ScheduleInvalidRecipe: "schedule_invalid_recipe",
  ScheduleInvalidTz: "schedule_invalid_tz",
  ScheduleNotFound: "schedule_not_found",
  ScheduleTooOften: "schedule_too_often",
  SchedulerUnavailable: "scheduler_unavailable",
  SweepNotFound: "sweep_not_found",
  SweepState: "sweep_state",
  // providers
  EndpointError: "endpoint_error",
  EndpointUnavailable: "endpoint_unavailable",
  LocalBadRow: "local_bad_row",
  LocalModelUnavailable: "local_model_unavailable",
  ProviderFileInvalid: "provider_file_invalid",
  ProviderJobFailed: "provider_job_failed",
  ProviderRefused: "provider_refused",
  ProviderUnavailable: "provider_unavailable",
  LocalAdapterMismatch: "local_adapter_mismatch",
  LocalWorkerFailed: "local_worker_failed",
  // packs, failure clusters and proposals (/tune pack, /tune iterate)
  PackNotFound: "pack_not_found",
  PackFileNotFound: "pack_file_not_found",
  PackInvalid: "pack_invalid",
  PackInvalidName: "pack_invalid_name",
  PackTooLarge: "pack_too_large",
  PackNeedsJudge: "pack_needs_judge",
  PackNeedsBase: "pack_needs_base",
  NoFailures: "no_failures",
  ClusterNotFound: "cluster_not_found",
  ProposalNotFound: "proposal_not_found",
  ProposalDecided: "proposal_decided",
  ProposalEmpty: "proposal_empty",
  // migration from OpenAI fine-tuning (/tune migrate openai)
  MigrateNotStarted: "migrate_not_started",
  MigrateSourceUnavailable: "migrate_source_unavailable",
  MigrateJobNotFound: "migrate_job_not_found",
  MigrateJobNotReady: "migrate_job_not_ready",
  MigrateUnsupportedData: "migrate_unsupported_data",
  MigrateFileRefused: "migrate_file_refused",
  MigrateBadTarget: "migrate_bad_target",
  MigrateExperimentMismatch: "migrate_experiment_mismatch",
  // self-hosted training and serving (vLLM / SGLang, /tune serve)
  SelfhostedModelRequired: "selfhosted_model_required",
  SelfhostedTrainerNotStarted: "selfhosted_trainer_not_started",
  SelfhostedTrainerFailed: "selfhosted_trainer_failed",
  SelfhostedTrainerLost: "selfhosted_trainer_lost",
  SelfhostedBaseNotServed: "selfhosted_base_not_served",
  SelfhostedRankUnsupported: "selfhosted_rank_unsupported",
  SelfhostedRankTooLarge: "selfhosted_rank_too_large",
  SelfhostedRuntimeLoadingOff: "selfhosted_runtime_loading_off",
  SelfhostedLoadFailed: "selfhosted_load_failed",
  SelfhostedUnloadFailed: "selfhosted_unload_failed",
  ServeEndpointUnknown: "serve_endpoint_unknown",
  ServeBenchTooMany: "serve_bench_too_many",
  ServeBenchNoAdapters: "serve_bench_no_adapters",
  // beyond one machine: workers and `db copy` (docs/scale.md)
  WorkerUnknownProvider: "worker_unknown_provider",
  DbCopyNeedsPostgres: "db_copy_needs_postgres",
  DbCopyNoFile: "db_copy_no_file",
  DbCopyRefused: "db_copy_refused",
  BlobStoreNeedsPostgres: "blob_store_needs_postgres",
  BlobTooLarge: "blob_too_large",
  BlobMissing: "blob_missing",
  // chat platforms
  DiscordCommandInvalid: "discord_command_invalid",
  DiscordDeployRefused: "discord_deploy_refused",
  DiscordDownloadFailed: "discord_download_failed",
  DiscordLoginFailed: "discord_login_failed",
  SlackDownloadFailed: "slack_download_failed",
  SlackDownloadLoginPage: "slack_download_login_page",
  SlackFileUnavailable: "slack_file_unavailable",
} as const;

/** The closed set of codes: a TuneError takes only these, and each has a line in docs/errors.md. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

export function isErrorCode(code: unknown): code is ErrorCodeValue {
  return typeof code === "string" && CODES.has(code);
}

export class TuneError extends Error {
  readonly code: ErrorCodeValue;
  /** Extra structured facts for --json output and logs (never secrets). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCodeValue, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "TuneError";
    this.code = code;
    this.details = details;
  }
}

export function isTuneError(err: unknown): err is TuneError {
  return err instanceof TuneError;
}

/** Turns an error carrying one of the codes (e.g. from a worker thread, which cannot send a class) into a TuneError. */
export function asTuneError(err: unknown): TuneError | null {
  if (err instanceof TuneError) return err;
  if (err instanceof Error && typeof (err as { code?: unknown }).code === "string") {
    const code = (err as unknown as { code: string }).code;
    // Only the closed set is user-facing: Node's own system errors (ENOENT, EACCES...) and anything else are bugs.
    return isErrorCode(code) ? new TuneError(code, err.message) : null;
  }
  return null;
}
