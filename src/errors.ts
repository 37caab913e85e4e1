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
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode] | (string & {});

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

/** Turns any error with a string `code` (e.g. from a core module that predates TuneError) into a TuneError. */
export function asTuneError(err: unknown): TuneError | null {
  if (err instanceof TuneError) return err;
  if (err instanceof Error && typeof (err as { code?: unknown }).code === "string") {
    const code = (err as unknown as { code: string }).code;
    // Node's own system errors (ENOENT, EACCES...) are not user-facing codes.
    if (/^E[A-Z]+$/.test(code) || code.startsWith("ERR_")) return null;
    return new TuneError(code, err.message);
  }
  return null;
}
