import path from "node:path";
import { z } from "zod";
import { TuneError, ErrorCode } from "./errors.ts";
import type { EndpointConfig } from "./providers/openai-compatible.ts";
import { principalProblems } from "./lib/principals.ts";
import { endpointsFromSettings } from "./providers/settings.ts";
import { scaleFromSettings, scaleSecrets, type ScaleConfig } from "./scale/settings.ts";

/**
 * Every setting, parsed once at start. `.env.example` documents each one; keep the two in step.
 * A bad value stops the process with a message that names the setting.
 */
const intFrom = (def: number, min = 1) => z.coerce.number().int().min(min).default(def);

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as 1h, 30m, 90s or 1d, in milliseconds. */
export function parseDuration(s: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*$/i.exec(s);
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2].toLowerCase()]) : null;
}

const duration = (def: string) =>
  z
    .string()
    .default(def)
    .transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === null || ms <= 0) {
        ctx.addIssue({ code: "custom", message: "write a duration with its unit, e.g. 1h, 30m, 90s or 1d" });
        return z.NEVER;
      }
      return ms;
    });

export const settingsSchema = z.object({
  TUNELOOP_DATA: z.string().min(1).default("./data"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  TUNELOOP_LOG_FILE: z.string().optional(),
  TUNELOOP_MAX_UPLOAD_MB: intFrom(100),
  TUNELOOP_MAX_ROWS: intFrom(100_000),
  TUNELOOP_MAX_LINE_BYTES: intFrom(4 * 1024 * 1024, 1024),
  TUNELOOP_DEFAULT_MODEL: z.string().min(1).default("together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"),
  TUNELOOP_ESTIMATE_MODELS: z
    .string()
    .default(
      "local:stories260K,together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference,together:meta-llama/Meta-Llama-3.1-70B-Instruct-Reference,openai:gpt-4.1-nano,openai:gpt-4.1-mini,openai:gpt-4.1,openai:gpt-4o-mini",
    ),
  TUNELOOP_NEAR_DUP_THRESHOLD: z.coerce.number().gt(0).lte(1).default(0.85),
  TUNELOOP_CONSOLE_USER: z.string().min(1).optional(),
  TUNELOOP_LOCAL_MODEL_DIR: z.string().min(1).optional(),
  TUNELOOP_ENDPOINTS: z.string().optional(),
  TUNELOOP_CONFIRM_ABOVE_USD: z.coerce.number().min(0).default(1),
  TUNELOOP_NEAR_OVERLAP_MAX_SHARE: z.coerce.number().min(0).max(1).default(0.1),
  TUNELOOP_WEBHOOK_PORT: z.coerce.number().int().min(0).max(65535).default(8788),
  TUNELOOP_SCHEDULE_MAX_FAILURES: z.coerce.number().int().min(1).default(3),
  TUNELOOP_SCHEDULE_MIN_INTERVAL: duration("1h"),
  TUNELOOP_TZ: z.string().default("UTC"),
  TUNELOOP_SPENDERS: z.string().default(""),
  TUNELOOP_ADMINS: z.string().default(""),
  TUNELOOP_RUN_CHANNELS: z.string().default(""),
  TUNELOOP_GRADER_TIMEOUT_MS: intFrom(1000, 10),
  TUNELOOP_MIGRATE_MARGIN_PTS: z.coerce.number().gt(0).max(100).default(2),
  TUNELOOP_PACK_JUDGE: z.string().trim().optional(),
  TUNELOOP_TEACHER: z.string().trim().optional(),
  TUNELOOP_SELFHOSTED_WORKER: z.enum(["bot", "external"]).default("bot"),
});

export type Settings = z.infer<typeof settingsSchema>;

export interface Config {
  dataDir: string;
  logLevel: Settings["LOG_LEVEL"];
  logFile?: string;
  limits: { maxUploadBytes: number; maxRows: number; maxLineBytes: number };
  defaultModel: string;
  estimateModels: string[];
  nearDupThreshold: number;
  consoleUser: string;
  /** Folder with stories260K.bin and tok512.bin; unset: downloaded into <data>/cache on first use. */
  localModelDir?: string;
  endpoints: EndpointConfig[];
  confirmAboveUsd: number;
  nearOverlapMaxShare: number;
  /** minIntervalMs: no schedule may fire more often than this (TUNELOOP_SCHEDULE_MIN_INTERVAL). */
  schedules: { maxFailures: number; defaultTz: string; minIntervalMs: number };
  /** Port of the provider webhook endpoint (POST /webhooks/openai), served when OPENAI_WEBHOOK_SECRET is set. */
  webhookPort: number;
  /** Who may do what on chat platforms (see commands/permissions.ts). */
  permissions: { spenders: string[]; admins: string[]; runChannels: string[] };
  /** Deadline of grading one answer with a user-typed pattern (regex, JSON-schema pattern). */
  graderTimeoutMs: number;
  /** Non-inferiority margin of `migrate openai start` in points (its --margin overrides it). */
  migrateMarginPts: number;
  /** The judge (endpoint:model) of judge packs (tone; agree without labels); unset: they refuse to run. */
  packJudge: string | null;
  /**
   * The teacher (endpoint:model) `iterate propose` asks when no --teacher is given, and so the clusters card's
   * "Propose rows" buttons; unset: they give a file to fill in.
   */
  teacher: string | null;
  /** Who trains self-hosted runs: the bot's own worker, or a `tuneloop worker` on the GPU box ("external"). */
  selfhostedWorker: "bot" | "external";
  /** Values that must never be printed (tokens, keys, secrets); the logger and renderers scrub them. */
  secrets: string[];
  /** Postgres, the object store, leader leases (src/scale/settings.ts, docs/scale.md). */
  scale: ScaleConfig;
}

const SECRET_NAME = /(TOKEN|SECRET|KEY|PASSWORD)$/;

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? "?");
      const shown = SECRET_NAME.test(name) ? "(hidden)" : JSON.stringify(env[name]);
      return `${name}=${shown}: ${issue.message}`;
    });
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `Bad setting${lines.length > 1 ? "s" : ""}:\n  ${lines.join("\n  ")}\nFix it in .env or the environment (see .env.example).`,
    );
  }
  const s = parsed.data;
  const principals = (["TUNELOOP_SPENDERS", "TUNELOOP_ADMINS"] as const).flatMap((name) =>
    principalProblems(list(s[name])).map((p) => `${name}: ${p}`),
  );
  if (principals.length) {
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      `Bad permission entr${principals.length > 1 ? "ies" : "y"}:\n  ${principals.join("\n  ")}\nEntries are ids, user:ID, or role:NAME (a Discord role or Slack user group by name); a bare name could be anyone's. Fix it in .env (see .env.example).`,
    );
  }
  return {
    dataDir: path.resolve(s.TUNELOOP_DATA),
    logLevel: s.LOG_LEVEL,
    logFile: s.TUNELOOP_LOG_FILE,
    limits: {
      maxUploadBytes: s.TUNELOOP_MAX_UPLOAD_MB * 1024 * 1024,
      maxRows: s.TUNELOOP_MAX_ROWS,
      maxLineBytes: s.TUNELOOP_MAX_LINE_BYTES,
    },
    defaultModel: s.TUNELOOP_DEFAULT_MODEL,
    estimateModels: list(s.TUNELOOP_ESTIMATE_MODELS),
    nearDupThreshold: s.TUNELOOP_NEAR_DUP_THRESHOLD,
    consoleUser: s.TUNELOOP_CONSOLE_USER ?? env.USER ?? "you",
    localModelDir: s.TUNELOOP_LOCAL_MODEL_DIR ? path.resolve(s.TUNELOOP_LOCAL_MODEL_DIR) : undefined,
    endpoints: endpointsFromSettings(env),
    confirmAboveUsd: s.TUNELOOP_CONFIRM_ABOVE_USD,
    nearOverlapMaxShare: s.TUNELOOP_NEAR_OVERLAP_MAX_SHARE,
    schedules: {
      maxFailures: s.TUNELOOP_SCHEDULE_MAX_FAILURES,
      defaultTz: s.TUNELOOP_TZ,
      minIntervalMs: s.TUNELOOP_SCHEDULE_MIN_INTERVAL,
    },
    webhookPort: s.TUNELOOP_WEBHOOK_PORT,
    permissions: {
      spenders: list(s.TUNELOOP_SPENDERS),
      admins: list(s.TUNELOOP_ADMINS),
      runChannels: list(s.TUNELOOP_RUN_CHANNELS),
    },
    graderTimeoutMs: s.TUNELOOP_GRADER_TIMEOUT_MS,
    migrateMarginPts: s.TUNELOOP_MIGRATE_MARGIN_PTS,
    packJudge: s.TUNELOOP_PACK_JUDGE || null,
    teacher: s.TUNELOOP_TEACHER || null,
    selfhostedWorker: s.TUNELOOP_SELFHOSTED_WORKER,
    secrets: Object.entries(env)
      .filter(([k, v]) => SECRET_NAME.test(k) && typeof v === "string" && v.length >= 8)
      .map(([, v]) => v as string)
      .concat(scaleSecrets(env)),
    scale: scaleFromSettings(env),
  };
}
