/**
 * Leaving OpenAI fine-tuning: `migrate openai list` and `migrate openai start <ft:model | job id> --to
 * <provider>:<base>`. A migration is an experiment named after the job, whose frozen eval set is the job's validation
 * file, a held-out split of its training file, or --eval, and whose baseline is the OpenAI tuned model; its run trains
 * the same recipe on the target. The run does every step that costs money, resumable like any run (leases, the eval
 * ledger, budget holds): it trains, then evaluates the tuned target, the target's base and the OpenAI tuned model (its
 * answers and their cost recorded on each row). The verdict (non-inferiority within a margin, the rows that regressed,
 * the cost per 1,000 requests of each) is computed from the stored evals whenever it is asked for, and posted in the
 * run's thread when the run ends.
 */
import fs from "node:fs";
import { TuneError } from "../../errors.ts";
import { priced } from "../costs/budget.ts";
import { costPer1k } from "../costs/ledger.ts";
import { formatRef } from "../datasets/names.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { EvalService } from "../evals/service.ts";
import { latestEvalOf } from "../experiments/evals.ts";
import type { ExperimentService } from "../experiments/service.ts";
import { fmt } from "../format.ts";
import { providerUnavailable, resolveModel, type ProviderSet } from "../models.ts";
import type {
  BlobStore,
  Clock,
  DatasetVersionRecord,
  EngineRepo,
  EvalRecord,
  ExperimentRecord,
  RunRecord,
} from "../ports.ts";
import type { RunService, StartOutcome } from "../runs/service.ts";
import { findUnusableData } from "./files.ts";
import { mapRecipe, type MappedRecipe } from "./recipe.ts";
import { migrationSourceOf, type FineTuneJob, type JobPage, type MigrationSource } from "./source.ts";
import { nonInferiority, type NonInferiority } from "./verdict.ts";

/** Codes of the refusals a migration can give (src/errors.ts lists the project's codes). */
export const MigrateErrorCode = {
  SourceUnavailable: "migrate_source_unavailable",
  JobNotFound: "migrate_job_not_found",
  JobNotReady: "migrate_job_not_ready",
  Unsupported: "migrate_unsupported_data",
  FileRefused: "migrate_file_refused",
  BadTarget: "migrate_bad_target",
  ExperimentMismatch: "migrate_experiment_mismatch",
} as const;

/** Share of the training file held out as the eval set when the job had no validation file and no --eval. */
export const HELD_OUT_SHARE = 0.2;
export const SPLIT_SEED = 1;
/** Pages of jobs looked through to find the job of an ft: model. */
const MAX_PAGES = 50;

export interface MigrationDeps {
  repo: EngineRepo;
  datasets: DatasetService;
  experiments: ExperimentService;
  evals: EvalService;
  runs: RunService;
  providers: ProviderSet;
  blobs: BlobStore;
  clock: Clock;
  maxUploadBytes: number;
}

export interface MigrateStartInput {
  /** "ft:<base>:<org>:<suffix>:<id>" or the job id "ftjob-...". */
  ref: string;
  /** "<provider>:<base model>". */
  to: string;
  eval?: string;
  marginPts: number;
  metric: string;
  budgetUsd?: number;
  dropBadRows?: boolean;
  yes?: boolean;
  user: string;
  userId?: string;
  channelId: string | null;
  progress?: (line: string) => void;
}

/** What a migration's run carries (its "migration" run event): enough to rebuild the verdict at any time. */
export interface MigrationRecord {
  job: string;
  source: string;
  baseModel: string;
  marginPts: number;
  evalFrom: "validation" | "held-out" | "eval";
  training: string;
  evalSet: string;
  validation: string | null;
  recipe: string[];
  hyper: FineTuneJob["hyper"];
}

export interface MigrateOutcome {
  job: FineTuneJob;
  experiment: ExperimentRecord;
  migration: MigrationRecord;
  start: StartOutcome;
  recipe: MappedRecipe;
  notes: string[];
}

export interface MigrationCost {
  /** Mean tokens of one request of this eval (the source's answers), in and out. */
  shape: { inputTokens: number; outputTokens: number };
  source: { model: string; per1kUsd: number | null };
  /** The target priced on the source's traffic shape, and as measured on its own answers. */
  target: { model: string; per1kUsd: number | null; measuredPer1kUsd: number | null; per1kComputeMs: number | null };
}

export interface MigrationVerdict {
  migration: MigrationRecord;
  run: RunRecord;
  source: EvalRecord;
  target: EvalRecord;
  test: NonInferiority;
  cost: MigrationCost;
}

/** The name of the job's experiment and datasets: its id, lowercased to what names allow. */
export function jobName(jobId: string): string {
  const s = jobId
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 50)
    .replace(/[-_.]+$/, "");
  return s || "openai-job";
}

export class MigrationService {
  constructor(private readonly d: MigrationDeps) {}

  source(provider = "openai"): MigrationSource {
    const src = migrationSourceOf(this.d.providers.trainer(provider));
    if (src) return src;
    if (provider === "openai") {
      throw new TuneError(
        MigrateErrorCode.SourceUnavailable,
        "tuneloop cannot reach OpenAI here: set OPENAI_API_KEY (the key of the organisation whose tuned models you migrate) in .env or the environment, and restart the bot.",
      );
    }
    throw new TuneError(
      MigrateErrorCode.SourceUnavailable,
      `Migrations read fine-tuning jobs from OpenAI only; "${provider}" is not a source. Write /tune migrate openai list.`,
    );
  }

  list(o: { after?: string; limit?: number } = {}): Promise<JobPage> {
    return this.source().listJobs(o);
  }

  /** The job of a job id or of a tuned model id (looked up through the paginated job list). */
  async findJob(ref: string): Promise<FineTuneJob> {
    const src = this.source();
    const r = ref.trim();
    if (!r.startsWith("ft:")) {
      try {
        return await src.job(r);
      } catch (err) {
        if ((err as TuneError).details?.status === 404)
          throw new TuneError(
            MigrateErrorCode.JobNotFound,
            `OpenAI has no fine-tuning job "${r.slice(0, 80)}" for this key. See /tune migrate openai list for the jobs and their tuned models.`,
          );
        throw err;
      }
    }
    let after: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const p = await src.listJobs({ after, limit: 100 });
      const hit = p.jobs.find((j) => j.tunedModel === r);
      if (hit) return hit;
      if (!p.hasMore || !p.lastId) break;
      after = p.lastId;
    }
    throw new TuneError(
      MigrateErrorCode.JobNotFound,
      `No fine-tuning job of this OpenAI organisation made ${r.slice(0, 120)}. See /tune migrate openai list (tuned model ids are case-sensitive).`,
    );
  }

  /** Checks the job can be migrated: succeeded, with a tuned model, trained on supervised data. */
  private checkJob(job: FineTuneJob): string {
    const who = `OpenAI job ${job.id}${job.tunedModel ? ` (${job.tunedModel})` : ""}`;
    if (job.method === "dpo" || job.method === "reinforcement") {
      const what =
        job.method === "dpo"
          ? 'was tuned with DPO (method.type "dpo"): its training file holds preference pairs (a preferred and a non-preferred answer per prompt), and tuneloop\'s trainers learn from one ideal answer per row'
          : 'was tuned with reinforcement fine-tuning (method.type "reinforcement"): it learned from a grader, not from answers tuneloop could train on';
      throw new TuneError(
        MigrateErrorCode.Unsupported,
        `${who} ${what}. It cannot be migrated by retraining; evaluate a supervised replacement against it instead: /tune eval openai:${job.tunedModel ?? "<model>"} <eval dataset>.`,
        { job: job.id, method: job.method },
      );
    }
    if (job.status !== "succeeded" || !job.tunedModel) {
      throw new TuneError(
        MigrateErrorCode.JobNotReady,
        `${who} is ${job.status.replace(/_/g, " ")}: only a job that succeeded has a tuned model to migrate. See /tune migrate openai list.`,
        { job: job.id, status: job.status },
      );
    }
    return job.tunedModel;
  }

  private parseTarget(to: string): { provider: string; model: string } {
    const i = to.indexOf(":");
    if (i <= 0 || i === to.length - 1) {
      throw new TuneError(
        MigrateErrorCode.BadTarget,
        `--to "${to.slice(0, 80)}" is not <provider>:<base model>. E.g. --to together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference, or --to local:stories260K. Trainers here: ${this.d.providers.trainerNames().join(", ")}.`,
      );
    }
    const provider = to.slice(0, i).toLowerCase();
    if (provider === "openai") {
      throw new TuneError(
        MigrateErrorCode.BadTarget,
        `--to ${to}: the point is to leave OpenAI fine-tuning (closed to new jobs from 2027-01-06). Pick another trainer: ${this.d.providers
          .trainerNames()
          .filter((n) => n !== "openai")
          .join(", ")}.`,
      );
    }
    if (!this.d.providers.trainer(provider)) throw providerUnavailable(this.d.providers, provider);
    return { provider, model: to.slice(i + 1) };
  }

  /** Downloads one of the job's files and stores it as a dataset version, validated like an upload. */
  private async storeFile(
    job: FineTuneJob,
    fileId: string,
    name: string,
    role: "training" | "validation",
    input: MigrateStartInput,
  ): Promise<DatasetVersionRecord> {
    const src = this.source();
    const filename = (await src.fileName(fileId).catch(() => null)) ?? `${fileId}.jsonl`;
    const label = `${role} file ${fileId} (${filename})`;
    input.progress?.(`downloading the ${label}`);
    const tmp = this.d.blobs.tmpPath(`openai-${role}`);
    try {
      await src.downloadFile(fileId, tmp, { maxBytes: this.d.maxUploadBytes });
      const bad = await findUnusableData(tmp);
      if (bad) {
        throw new TuneError(
          MigrateErrorCode.FileRefused,
          `The ${label} of OpenAI job ${job.id} cannot be used: ${bad.reason} (first seen at line ${bad.line}). Nothing was stored.`,
          { job: job.id, file: fileId, filename, kind: bad.kind, line: bad.line },
        );
      }
      const out = await this.d.datasets.upload({
        filePath: tmp,
        filename,
        name,
        dropBadRows: input.dropBadRows,
        user: input.user,
      });
      if (out.dataset) return out.dataset;
      const problems = (out.reportText ?? "").split("\n").filter(Boolean);
      throw new TuneError(
        MigrateErrorCode.FileRefused,
        `The ${label} of OpenAI job ${job.id} did not pass the upload checks (${fmt.count(out.report.badRows, "bad row")} of ${out.report.validRows + out.report.badRows}): ${problems.slice(0, 5).join("; ") || "no valid rows"}${problems.length > 5 ? `; and ${problems.length - 5} more` : ""}. Nothing was stored. Add --drop-bad-rows to store the good rows only.`,
        { job: job.id, file: fileId, filename, problems: problems.slice(0, 50) },
      );
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async start(input: MigrateStartInput): Promise<MigrateOutcome> {
    const target = this.parseTarget(input.to);
    if (input.eval) this.d.datasets.get(input.eval); // an unknown --eval is refused before anything is downloaded
    const job = await this.findJob(input.ref);
    const tuned = this.checkJob(job);
    const name = jobName(job.id);
    const notes: string[] = [];

    const training = await this.storeFile(job, job.trainingFile, name, "training", input);
    let trainSet = training;
    let evalSet: DatasetVersionRecord;
    let validation: DatasetVersionRecord | null = null;
    let evalFrom: MigrationRecord["evalFrom"];
    if (input.eval) {
      evalSet = this.d.datasets.get(input.eval);
      evalFrom = "eval";
      if (job.validationFile)
        notes.push(`The job's validation file is not used: --eval ${input.eval} is the eval set.`);
    } else if (job.validationFile) {
      validation = await this.storeFile(job, job.validationFile, `${name}-valid`, "validation", input);
      evalSet = validation;
      evalFrom = "validation";
    } else {
      input.progress?.(`holding out ${fmt.pct(HELD_OUT_SHARE, 0)} of the training file as the eval set`);
      const split = await this.d.datasets.split(formatRef(training.name, training.version), {
        evalShare: HELD_OUT_SHARE,
        seed: SPLIT_SEED,
        user: input.user,
      });
      trainSet = split.train;
      evalSet = split.eval;
      evalFrom = "held-out";
      notes.push(
        `The job had no validation file: ${fmt.count(split.eval.rows, "row")} of its training file are held out as the eval set (no prompt on both sides); the target trains on the other ${split.train.rows}. OpenAI's model trained on the held-out rows, so its score there is optimistic: the verdict is conservative (harder for the target to pass).`,
      );
    }
    const trainRef = formatRef(trainSet.name, trainSet.version);
    const evalRef = formatRef(evalSet.name, evalSet.version);
    const sourceRef = `openai:${tuned}`;

    // Refused before the experiment is made (its eval set is frozen): another --eval can then still be given.
    const overlap = await this.d.datasets.checkOverlap(trainRef, evalRef);
    const shared = [...overlap.exact, ...overlap.samePrompt];
    if (shared.length) {
      const lines = shared
        .slice(0, 5)
        .map((p) => `eval line ${p.bLine} ~ line ${p.aLine}`)
        .join(", ");
      throw new TuneError(
        "run_overlap",
        `${trainRef} overlaps the eval set ${evalRef}: ${fmt.count(overlap.overlappingB.exact + overlap.overlappingB.samePrompt, "eval row")} share a prompt with a training row (${lines}${shared.length > 5 ? ", ..." : ""}). A verdict on rows the target trained on means nothing: nothing was started. Give --eval a dataset with other prompts${evalFrom === "validation" ? " (the job's validation file repeats its training rows)" : ""}.`,
        { exact: overlap.exact.slice(0, 100), samePrompt: overlap.samePrompt.slice(0, 100) },
      );
    }

    let exp = this.d.repo.experimentByName(name);
    if (exp) {
      if (exp.evalVersionId !== evalSet.id || !exp.baselines.includes(sourceRef)) {
        throw new TuneError(
          MigrateErrorCode.ExperimentMismatch,
          `Experiment ${name} exists already with the eval set ${this.d.datasets.refOf(exp.evalVersionId)} and baselines ${exp.baselines.join(", ") || "none"}; this migration would use ${evalRef} against ${sourceRef}. Start it with the same --eval as before, or see /tune experiment show ${name}.`,
        );
      }
      if (input.budgetUsd !== undefined) exp = this.d.experiments.setBudget(name, input.budgetUsd);
    } else {
      try {
        exp = this.d.experiments.create({
          name,
          evalDataset: evalRef,
          metric: input.metric,
          baselines: [sourceRef],
          budgetUsd: input.budgetUsd,
          user: input.user,
          channelId: input.channelId,
        });
      } catch (err) {
        // The same migration asked twice at once: the other request created it (with the same eval set).
        const other = this.d.repo.experimentByName(name);
        if ((err as TuneError).code !== "experiment_exists" || other?.evalVersionId !== evalSet.id) throw err;
        exp = other;
      }
    }

    const recipe = mapRecipe(job, target.provider, trainSet.rows);
    // The same request again (a retry, a resume after a crash) finds the run it started; after a failed or cancelled
    // run, asking again starts a new one.
    const keyBase = `migrate:${job.id}:${input.to}:${trainSet.id}:${evalSet.id}`;
    const ended = this.d.repo
      .listRuns({ experimentId: exp.id, states: ["failed", "cancelled"], limit: 1000 })
      .filter((r) => r.idempotencyKey.startsWith(keyBase)).length;
    input.progress?.(`starting the run on ${input.to}`);
    const start = await this.d.runs.start({
      dataset: trainRef,
      experiment: name,
      provider: target.provider,
      model: target.model,
      epochs: recipe.epochs,
      learningRate: recipe.learningRate,
      batchSize: recipe.batchSize,
      yes: input.yes,
      user: input.user,
      userId: input.userId,
      channelId: input.channelId,
      idempotencyKey: ended ? `${keyBase}:${ended}` : keyBase,
    });
    const migration: MigrationRecord = {
      job: job.id,
      source: sourceRef,
      baseModel: job.baseModel,
      marginPts: input.marginPts,
      evalFrom,
      training: trainRef,
      evalSet: evalRef,
      validation: validation ? formatRef(validation.name, validation.version) : null,
      recipe: recipe.notes,
      hyper: job.hyper,
    };
    if (start.created) this.d.repo.addRunEvent(start.run.id, this.d.clock.now(), "migration", migration);
    return {
      job,
      experiment: exp,
      migration: this.record(start.run) ?? migration,
      start,
      recipe,
      notes: [...notes, ...start.warnings],
    };
  }

  /** The migration a run belongs to, or null for an ordinary run. */
  record(run: RunRecord): MigrationRecord | null {
    const ev = this.d.repo.runEvents(run.id, "migration")[0];
    return ev ? (ev.data as MigrationRecord) : null;
  }

  /** The runs of a job's migration, newest first. */
  runsOf(ref: string): { experiment: ExperimentRecord; runs: RunRecord[] } | null {
    const exp = this.d.repo.experimentByName(jobName(ref));
    if (!exp) return null;
    return {
      experiment: exp,
      runs: this.d.repo.listRuns({ experimentId: exp.id, limit: 100 }).filter((r) => this.record(r)),
    };
  }

  /** The verdict of a finished migration run (null while its evals are missing). */
  verdict(run: RunRecord, marginPts?: number): MigrationVerdict | null {
    const m = this.record(run);
    const exp = this.d.repo.experimentById(run.experimentId);
    if (!m || !exp || run.state !== "succeeded") return null;
    const target = this.d.repo.evals({ runId: run.id, state: "succeeded" }).find((e) => e.role === "tuned");
    const source = latestEvalOf(this.d.repo, exp, m.source);
    if (!target || !source) return null;
    const cmp = this.d.evals.compareEvals(source, target, 0.05);
    return {
      migration: m,
      run,
      source,
      target,
      test: nonInferiority(cmp, marginPts ?? m.marginPts),
      cost: this.cost(source, target),
    };
  }

  /** Cost per 1,000 requests shaped like this eval's (the source's mean tokens in and out per request). */
  private cost(source: EvalRecord, target: EvalRecord): MigrationCost {
    const n = Math.max(1, source.n);
    const shape = {
      inputTokens: (source.summary?.inputTokens ?? 0) / n,
      outputTokens: (source.summary?.outputTokens ?? 0) / n,
    };
    let targetPricing = null;
    try {
      targetPricing = resolveModel(target.model, this.d.providers, this.d.repo).model.pricing;
    } catch {
      // the target's provider is gone from this process: priced as unknown
    }
    return {
      shape: { inputTokens: Math.round(shape.inputTokens), outputTokens: Math.round(shape.outputTokens) },
      source: { model: source.model, per1kUsd: costPer1k(source.summary?.usd ?? null, source.n) },
      target: {
        model: target.model,
        per1kUsd: targetPricing ? Math.round(priced(targetPricing, shape) * 1000 * 1e4) / 1e4 : null,
        measuredPer1kUsd: costPer1k(target.summary?.usd ?? null, target.n),
        per1kComputeMs: target.summary && target.n ? (target.summary.wallMs / target.n) * 1000 : null,
      },
    };
  }
}
