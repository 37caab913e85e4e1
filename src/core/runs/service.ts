/**
 * Runs: one fine-tune of one dataset version on one provider/base model, estimated and priced before anything
 * is spent, refused when its training data overlaps the experiment's eval set, queued in the database.
 */
import crypto from "node:crypto";
import { ErrorCode, TuneError } from "../../errors.ts";
import { defaultEpochs, estimateTraining, findModel, trainableModels } from "../costs/estimate.ts";
import { budgetRefusal, leftUsd } from "../costs/budget.ts";
import { round } from "../costs/ledger.ts";
import { estimateWall, SAMPLE_WINDOW, seqBucket } from "../costs/throughput.ts";
import { evalRequestUsd } from "../evals/service.ts";
import { parseGraderSpec } from "../evals/graders.ts";
import { findOverlap } from "../datasets/dedupe.ts";
import { experimentNamed } from "../experiments/service.ts";
import { formatRef } from "../datasets/names.ts";
import { fmt } from "../format.ts";
import type { DatasetService } from "../datasets/service.ts";
import type {
  Clock,
  DatasetVersionRecord,
  EngineRepo,
  ExperimentRecord,
  Hyper,
  RunRecord,
  WorkerBeat,
} from "../ports.ts";
import { providerUnavailable, resolveModel, type ProviderSet } from "../models.ts";
import { RunEvents } from "./events.ts";
import { checkHyperLimits } from "./hyper.ts";
import { ACTIVE_STATES, STATE_LABEL } from "./states.ts";
import type { ProviderQuote, TrainerProvider, TrainingWork } from "../trainer.ts";

export interface RunSettings {
  /** Runs estimated above this need a confirmation (USD). */
  confirmAboveUsd: number;
  /** Near-duplicate overlap with the eval set refuses a run above this share of eval rows. */
  nearOverlapMaxShare: number;
  nearDupThreshold: number;
}

export interface StartRunInput {
  dataset: string;
  experiment: string;
  /** A held-out dataset (name[@vN]) the trainer reports validation loss on during training. */
  valid?: string;
  provider?: string;
  model?: string;
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
  loraRank?: number;
  loraAlpha?: number;
  seed?: number;
  /** Confirm within the budget without asking. */
  yes?: boolean;
  user: string;
  /** The platform id of the user (for who may confirm or cancel). */
  userId?: string;
  channelId: string | null;
  /** The same key twice (a retried request) returns the first run instead of starting another. */
  idempotencyKey?: string;
}

export interface RunEstimate {
  provider: string;
  baseModel: string;
  epochs: number;
  trainRows: number;
  trainingTokens: number;
  trainingUsd: number;
  evalRequests: number;
  evalUsd: number;
  totalUsd: number;
  /** Training wall time (null when neither this machine's runs nor the default table know the provider). */
  wallSeconds: number | null;
  /** Where wallSeconds comes from: "from 3 earlier runs of stories260K at ~128 tokens/row: 4,900 tokens/s". */
  wallSource?: string | null;
  wallBasis?: "measured" | "table" | null;
  /** What the time estimate was made of (the trainer's own tokens, or the billed ones); the run's measured time is kept in the same units. */
  wallWork?: TrainingWork | null;
  budgetUsd: number | null;
  /** Booked spend of the experiment before this run. */
  spentUsd: number;
  /** Reserved by the experiment's other unfinished work (queued, awaiting confirmation, running) before this run. */
  heldUsd?: number;
  /** What is left for this run: budget - spent - held. */
  remainingUsd: number | null;
  /** How trainingUsd was made when it is not tokens x a price ("0.42 GPU hours at $2.00/h"). */
  trainingBasis?: string;
  /** The provider's own estimate (Together's estimate-price), shown beside tuneloop's. */
  providerQuote?: ProviderQuote | null;
}

export interface StartOutcome {
  run: RunRecord;
  created: boolean;
  estimate: RunEstimate;
  warnings: string[];
  needsConfirmation: boolean;
}

/** A polling worker refreshes its heartbeat row this often; a row older than WORKER_STALE_MS is a dead process. */
export const WORKER_HEARTBEAT_MS = 10_000;
export const WORKER_STALE_MS = 3 * WORKER_HEARTBEAT_MS;

/** Each trainer's defaults (migrations map OpenAI's learning-rate multiplier onto these: src/core/migrate/recipe.ts). */
export const DEFAULT_HYPER: Record<string, Omit<Hyper, "epochs">> = {
  local: { learningRate: 3e-3, batchSize: 16, loraRank: 8, loraAlpha: 16, seed: 1 },
  default: { learningRate: 1e-4, batchSize: 8, loraRank: 8, loraAlpha: 16, seed: 1 },
};

/**
 * The trainer's name for a base model: the name given, or the price-table model it is an alias of (OpenAI's dated
 * snapshot "gpt-4.1-mini-2025-04-14" is gpt-4.1-mini; the provider sends the snapshot its API expects). Refused with
 * every name it accepts.
 */
export function tunableModel(models: string[], provider: string, name: string): string {
  const same = models.find((m) => m.toLowerCase() === name.trim().toLowerCase());
  if (same) return same;
  try {
    const e = findModel(`${provider}:${name}`);
    if (e.provider === provider && models.includes(e.model)) return e.model;
  } catch {
    // not in the price table: refused below
  }
  const names = models.map((m) => {
    let aliases: string[] = [];
    try {
      aliases = findModel(`${provider}:${m}`).aliases ?? [];
    } catch {
      // a model without a price entry has no aliases
    }
    return aliases.length ? `${m} (${aliases.join(", ")})` : m;
  });
  throw new TuneError(ErrorCode.UnknownModel, `${provider} cannot tune "${name}". It tunes: ${names.join(", ")}.`);
}

export class RunService {
  /** Every state change of every run, wherever it happened. */
  readonly events: RunEvents;

  constructor(
    private readonly repo: EngineRepo,
    private readonly datasets: DatasetService,
    private readonly providers: ProviderSet,
    private readonly clock: Clock,
    private readonly settings: RunSettings,
    onListenerError: (err: unknown) => void = () => {},
  ) {
    this.events = new RunEvents(onListenerError);
  }

  experiment(name: string): ExperimentRecord {
    return experimentNamed(this.repo, name);
  }

  trainer(name: string) {
    const t = this.providers.trainer(name);
    if (!t) throw providerUnavailable(this.providers, name);
    return t;
  }

  /** The processes that run queued runs now (a fresh heartbeat row), most recently seen first. */
  runners(): WorkerBeat[] {
    return this.repo.liveWorkers(new Date(this.clock.now().getTime() - WORKER_STALE_MS));
  }

  get(id: number): RunRecord {
    const r = this.repo.runById(id);
    if (!r) throw new TuneError(ErrorCode.RunNotFound, `No run ${id}. See /tune run list.`);
    return r;
  }

  /** The run, or null when there is none with this id. */
  find(id: number): RunRecord | null {
    return this.repo.runById(id);
  }

  /** The run whose card is the message `messageId` in `channelId` (its thread is the run's thread), or null. */
  byMessage(channelId: string, messageId: string): RunRecord | null {
    return (
      this.repo.listRuns({ limit: 1000 }).find((r) => r.messageId === messageId && r.channelId === channelId) ?? null
    );
  }

  /** Records where a run's card lives in chat (the notifier then keeps it and its thread current). */
  setMessage(id: number, ref: { channelId: string; messageId: string }): RunRecord {
    return this.repo.updateRun(id, { channelId: ref.channelId, messageId: ref.messageId });
  }

  /**
   * Keeps a person's reply in the run's thread as the run's discussion (a run event "discussion"). A reply already
   * kept (the same message id) is not kept twice; returns whether it was new.
   */
  addDiscussion(
    runId: number,
    reply: { user: string; userId: string; text: string; messageId: string; at: Date; files: string[] },
  ): boolean {
    if (this.discussion(runId).some((d) => d.ts === reply.messageId)) return false;
    this.repo.addRunEvent(runId, reply.at, "discussion", {
      user: reply.user,
      userId: reply.userId,
      text: reply.text,
      ts: reply.messageId,
      files: reply.files,
    });
    return true;
  }

  /** What people said in the run's thread, oldest first. */
  discussion(
    runId: number,
  ): Array<{ at: Date; user: string; userId: string; text: string; ts: string; files: string[] }> {
    return this.repo.runEvents(runId, "discussion").map((e) => ({
      at: e.at,
      ...(e.data as { user: string; userId: string; text: string; ts: string; files: string[] }),
    }));
  }

  /** The run's state changes, oldest first. */
  history(runId: number): Array<{ at: Date; from: string; to: string; by: string; reason: string | null }> {
    return this.repo.runEvents(runId, "state").map((e) => ({
      at: e.at,
      ...(e.data as { from: string; to: string; by: string; reason: string | null }),
    }));
  }

  list(opts: { experimentId?: number; active?: boolean; limit?: number } = {}): RunRecord[] {
    return this.repo.listRuns({
      experimentId: opts.experimentId,
      states: opts.active ? ACTIVE_STATES : undefined,
      limit: opts.limit ?? 20,
    });
  }

  async start(input: StartRunInput): Promise<StartOutcome> {
    checkHyperLimits(input);
    const exp = this.experiment(input.experiment);
    const train = this.datasets.get(input.dataset);
    const evalSet = this.datasets.byId(exp.evalVersionId);
    const providerName = input.provider ?? "local";
    const trainer = this.trainer(providerName);
    const epochs = input.epochs ?? defaultEpochs(train.rows);
    const d = DEFAULT_HYPER[providerName] ?? DEFAULT_HYPER.default;
    const hyper: Hyper = {
      epochs,
      learningRate: input.learningRate ?? d.learningRate,
      batchSize: input.batchSize ?? d.batchSize,
      loraRank: input.loraRank ?? d.loraRank,
      loraAlpha: input.loraAlpha ?? (input.loraRank ? input.loraRank * 2 : d.loraAlpha),
      seed: input.seed ?? d.seed,
    };
    // A trainer outside the price table checks the run itself (served base model, loadable rank) before anything.
    const prepared = trainer.prepare
      ? await trainer.prepare({ model: input.model ?? trainer.defaultModel, hyper, format: train.format })
      : null;
    const baseModel =
      prepared?.baseModel ?? tunableModel(trainer.models(), providerName, input.model ?? trainer.defaultModel);
    const fits = prepared
      ? { leftOut: [], why: null }
      : trainableModels([`${providerName}:${baseModel}`], train.format);
    if (fits.leftOut.length) {
      throw new TuneError(
        ErrorCode.DatasetFormatUnsupported,
        `${providerName}:${baseModel} cannot train on ${formatRef(train.name, train.version)}: ${fits.why}. Train it on together or local, or upload the rows as chat messages.`,
      );
    }
    const warnings = await this.checkOverlap(train, evalSet);
    const valid = input.valid ? this.validationSet(input.valid, train, trainer, providerName) : null;
    if (valid && valid.id === evalSet.id)
      warnings.push(
        `${input.valid} is also the experiment's eval set: its loss is fine to watch, but pick the next run by the eval, not by this curve.`,
      );

    const tokens = this.datasets.tokenCounts(train);
    const work = trainer.trainingWork?.({ trainRows: await this.datasets.allRows(train), hyper }) ?? null;
    const estimate = this.estimate(exp, train, evalSet, tokens, providerName, baseModel, epochs, work);
    if (trainer.quote) {
      try {
        estimate.providerQuote = await trainer.quote({
          trainRows: await this.datasets.allRows(train),
          baseModel,
          hyper,
        });
        if (estimate.providerQuote.allowedToProceed === false) {
          warnings.push(
            `${providerName} says this job cannot start on the account as it is (credit limit ${estimate.providerQuote.userLimitUsd === null ? "unknown" : fmt.usd(estimate.providerQuote.userLimitUsd)}).`,
          );
        }
      } catch (err) {
        warnings.push(`${providerName}'s own estimate is unavailable: ${(err as Error).message}`);
      }
    }
    const needsConfirmation = !input.yes && estimate.totalUsd > this.settings.confirmAboveUsd;
    // The reservation is taken with the run in one immediate transaction (after the idempotency check, so a retried
    // request finds its run): concurrent starts, in this process or another, cannot both fit.
    const made = this.repo.createRun(
      {
        idempotencyKey: input.idempotencyKey ?? crypto.randomUUID(),
        experimentId: exp.id,
        datasetVersionId: train.id,
        validVersionId: valid?.id ?? null,
        provider: providerName,
        baseModel,
        hyper,
        state: "estimating",
        estimate,
        channelId: input.channelId,
        createdBy: input.user,
        createdById: input.userId ?? null,
        createdAt: this.clock.now(),
      },
      { usd: estimate.totalUsd },
    );
    if (made.refused) throw budgetRefusal(this.repo, exp, made.refused, "This run", estimate.totalUsd);
    const { run, created } = made;
    if (!created)
      return {
        run,
        created,
        estimate: run.estimate as RunEstimate,
        warnings,
        needsConfirmation: run.state === "awaiting_confirmation",
      };
    this.repo.addRunEvent(run.id, this.clock.now(), "created", { by: input.user, estimate });
    this.repo.addLedger({
      at: this.clock.now(),
      kind: "training",
      estimated: true,
      experimentId: exp.id,
      runId: run.id,
      evalId: null,
      provider: providerName,
      model: baseModel,
      trainingTokens: estimate.trainingTokens,
      inputTokens: 0,
      outputTokens: 0,
      usd: estimate.trainingUsd,
      wallMs: 0,
    });
    const next = this.setState(run, ["estimating"], needsConfirmation ? "awaiting_confirmation" : "queued", input.user);
    return { run: next, created, estimate, warnings, needsConfirmation };
  }

  /** Refuses training data that shares rows or prompts with the eval set; near-duplicates warn (or refuse above a share). */
  private async checkOverlap(train: DatasetVersionRecord, evalSet: DatasetVersionRecord): Promise<string[]> {
    const [t, e] = await Promise.all([this.datasets.allRows(train), this.datasets.allRows(evalSet)]);
    const o = findOverlap(
      t.map((r) => ({ line: r.line, row: r })),
      e.map((r) => ({ line: r.line, row: r })),
      { threshold: this.settings.nearDupThreshold },
    );
    const tRef = formatRef(train.name, train.version);
    const eRef = formatRef(evalSet.name, evalSet.version);
    // Named and counted by eval row (what a leak costs the eval), each with a training line it matches.
    const rows = (xs: Array<{ aLine: number; bLine: number }>, sign: string) => {
      const first = new Map<number, number>();
      for (const p of xs) if (!first.has(p.bLine)) first.set(p.bLine, p.aLine);
      const list = [...first].sort((x, y) => x[0] - y[0]);
      return (
        list
          .slice(0, 5)
          .map(([b, a]) => `eval line ${b} ${sign} line ${a}`)
          .join(", ") + (list.length > 5 ? `, and ${list.length - 5} more` : "")
      );
    };
    const hit = o.overlappingB;
    if (o.exact.length || o.samePrompt.length) {
      const parts = [];
      if (o.exact.length)
        parts.push(`${fmt.count(hit.exact, "eval row")} identical to a training row (${rows(o.exact, "=")})`);
      if (o.samePrompt.length)
        parts.push(
          `${fmt.count(hit.samePrompt, "eval row")} sharing a prompt with a training row (${rows(o.samePrompt, "~")})`,
        );
      throw new TuneError(
        ErrorCode.RunOverlap,
        `${tRef} overlaps the eval set ${eRef}: ${parts.join("; ")}. Training on eval rows makes the verdict meaningless: remove them (e.g. /tune dataset split, then train on the -train side).`,
        { exact: o.exact, samePrompt: o.samePrompt },
      );
    }
    if (!o.near.length) return [];
    const share = hit.near / Math.max(1, evalSet.rows);
    const msg = `${fmt.count(hit.near, "eval row")} of the eval set ${eRef} (${fmt.pct(share)}) ${hit.near === 1 ? "has" : "have"} a near-duplicate in ${tRef}: ${rows(o.near, "~")}`;
    if (share > this.settings.nearOverlapMaxShare) {
      throw new TuneError(
        ErrorCode.RunOverlap,
        `${msg}. That is over the ${fmt.pct(this.settings.nearOverlapMaxShare, 0)} allowed (TUNELOOP_NEAR_OVERLAP_MAX_SHARE). Remove them from the training set, or raise the setting if your rows are templated by design.`,
        { near: o.near.slice(0, 100) },
      );
    }
    return [`${msg}. Allowed (under ${fmt.pct(this.settings.nearOverlapMaxShare, 0)}), but check them.`];
  }

  /** The validation set of a new run: a dataset the trainer can report validation loss on, not the training set. */
  private validationSet(
    ref: string,
    train: DatasetVersionRecord,
    trainer: TrainerProvider,
    providerName: string,
  ): DatasetVersionRecord {
    if (!trainer.validationLoss) {
      const able = this.providers
        .trainerNames()
        .filter((n) => this.providers.trainer(n)?.validationLoss)
        .join(", ");
      throw new TuneError(
        ErrorCode.ValidationUnsupported,
        `The ${providerName} trainer does not report validation loss here (hosted trainers bill validation tokens that tuneloop's estimate does not count yet). Leave out --valid, or train with ${able || "the local trainer"}.`,
      );
    }
    const valid = this.datasets.get(ref);
    if (valid.id === train.id) {
      throw new TuneError(
        ErrorCode.ValidationIsTraining,
        `--valid ${ref} is the training set itself: its loss would only repeat the training loss. Hold rows out instead (/tune dataset split ${ref}) and pass the other side.`,
      );
    }
    return valid;
  }

  estimate(
    exp: ExperimentRecord,
    train: DatasetVersionRecord,
    evalSet: DatasetVersionRecord,
    tokens: number[],
    provider: string,
    baseModel: string,
    epochs: number,
    /** The trainer's own measure of the training (TrainerProvider.trainingWork), when it has one. */
    work: TrainingWork | null = null,
  ): RunEstimate {
    const trainer = this.providers.trainer(provider);
    const [t] = trainer?.priceTraining
      ? [{ billedTokens: epochs * tokens.reduce((a, b) => a + b, 0), usd: 0 }]
      : estimateTraining(tokens, { epochs, models: [`${provider}:${baseModel}`] });
    // Time follows the trainer's own measure when it has one; a trainer that has one but was not asked gets none.
    const wallWork: TrainingWork | null =
      work ??
      (this.providers.trainer(provider)?.trainingWork
        ? null
        : {
            tokens: t.billedTokens,
            tokensPerRow: train.rows ? t.billedTokens / epochs / train.rows : 0,
            unit: "billed tokens",
          });
    const wall = wallWork
      ? estimateWall({
          provider,
          model: baseModel,
          work: wallWork,
          samples: this.repo.throughputSamples(
            { provider, baseModel, seqBucket: seqBucket(wallWork.tokensPerRow) },
            SAMPLE_WINDOW,
          ),
        })
      : null;
    // Eval: the base, the tuned model and every baseline answer each eval row once; a judge metric grades each
    // answer with one more call (the tuned model's answers included).
    const models = [`${provider}:${baseModel}`, ...exp.baselines];
    const spec = parseGraderSpec(exp.metric);
    let judge = null;
    try {
      judge = spec.kind === "judge" ? resolveModel(spec.model, this.providers, this.repo).model.pricing : null;
    } catch {
      // an unknown judge is reported when the eval runs
    }
    let evalUsd = evalSet.rows * evalRequestUsd(evalSet, null, judge).judge;
    for (const ref of models) {
      try {
        const per = evalRequestUsd(evalSet, resolveModel(ref, this.providers, this.repo).model.pricing, judge);
        evalUsd += evalSet.rows * (per.answer + per.judge);
      } catch {
        // an unknown baseline is reported when the eval runs
      }
    }
    // A GPU billed by the hour: the training costs its estimated wall time.
    const gpu = trainer?.priceTraining?.({
      baseModel,
      tokens: t.billedTokens,
      wallSeconds: wall ? wall.seconds : null,
    });
    if (gpu) t.usd = gpu.usd;
    const use = this.repo.budgetUse(exp.id, this.clock.now());
    const left = leftUsd(use);
    const totalUsd = round(t.usd + evalUsd);
    return {
      provider,
      baseModel,
      epochs,
      trainRows: train.rows,
      trainingTokens: t.billedTokens,
      trainingUsd: t.usd,
      evalRequests: evalSet.rows * (models.length + 1),
      evalUsd: round(evalUsd),
      totalUsd,
      ...(gpu ? { trainingBasis: gpu.basis } : {}),
      wallSeconds: wall ? Math.round(wall.seconds * 10) / 10 : null,
      wallSource: wall?.source ?? null,
      wallBasis: wall?.basis ?? null,
      // a GPU-hour trainer keeps its work even without a time estimate: its first run then measures one
      wallWork: wall || gpu ? wallWork : null,
      budgetUsd: use.budgetUsd,
      spentUsd: round(use.spentUsd),
      heldUsd: round(use.heldUsd),
      remainingUsd: left === null ? null : round(left),
    };
  }

  setState(
    run: RunRecord,
    from: RunRecord["state"][],
    to: RunRecord["state"],
    by: string,
    patch: Partial<RunRecord> = {},
  ): RunRecord {
    // The state and its event in one transaction: a process killed between them left a run ended with no event.
    const next = this.repo.transitionRun(run.id, from, to, patch, {
      at: this.clock.now(),
      type: "state",
      data: { from: run.state, to, by, reason: patch.stateReason ?? null },
    });
    if (!next) {
      const now = this.get(run.id);
      throw new TuneError(
        ErrorCode.RunState,
        `Run ${run.id} is ${STATE_LABEL[now.state]}; it cannot become ${STATE_LABEL[to]}.`,
      );
    }
    this.events.run(next, "state");
    return next;
  }

  /** Starts the same recipe again (same dataset version, model and hyperparameters; a new seed if given). */
  rerun(
    id: number,
    input: {
      user: string;
      userId?: string;
      channelId: string | null;
      seed?: number;
      yes?: boolean;
      idempotencyKey?: string;
    },
  ): Promise<StartOutcome> {
    const r = this.get(id);
    const exp = this.repo.experimentById(r.experimentId);
    if (!exp) throw new TuneError(ErrorCode.ExperimentNotFound, `Run ${id}'s experiment is gone.`);
    return this.start({
      dataset: this.datasets.refOf(r.datasetVersionId),
      experiment: exp.name,
      valid: r.validVersionId !== null ? this.datasets.refOf(r.validVersionId) : undefined,
      provider: r.provider,
      model: r.baseModel,
      epochs: r.hyper.epochs,
      learningRate: r.hyper.learningRate,
      batchSize: r.hyper.batchSize,
      loraRank: r.hyper.loraRank,
      loraAlpha: r.hyper.loraAlpha,
      seed: input.seed ?? r.hyper.seed,
      yes: input.yes,
      user: input.user,
      userId: input.userId,
      channelId: input.channelId,
      idempotencyKey: input.idempotencyKey,
    });
  }

  confirm(id: number, user: string): RunRecord {
    const run = this.get(id);
    if (run.state !== "awaiting_confirmation") {
      throw new TuneError(
        ErrorCode.RunState,
        `Run ${id} is ${STATE_LABEL[run.state]}; only a run awaiting confirmation can be confirmed.`,
      );
    }
    // Its reservation was taken at start; a budget lowered since then under what is committed stops it here.
    const exp = this.repo.experimentById(run.experimentId);
    const use = this.repo.budgetUse(run.experimentId, this.clock.now());
    const left = leftUsd(use);
    if (exp && left !== null && left < -1e-9)
      throw budgetRefusal(this.repo, exp, use, `Run ${id}`, 0, `cancel run ${id} or other work`);
    return this.setState(run, ["awaiting_confirmation"], "queued", user);
  }

  /** Cancels at once when the run has not started; a running run is asked to stop and stops within a step. */
  cancel(id: number, user: string): RunRecord {
    const run = this.get(id);
    if (run.state === "running" || run.state === "stalled") {
      const r = this.repo.updateRun(id, { cancelRequestedAt: this.clock.now() });
      this.repo.addRunEvent(id, this.clock.now(), "cancel_requested", { by: user });
      return r;
    }
    if (!["estimating", "awaiting_confirmation", "queued"].includes(run.state)) {
      throw new TuneError(ErrorCode.RunState, `Run ${id} is already ${STATE_LABEL[run.state]}.`);
    }
    return this.setState(run, ["estimating", "awaiting_confirmation", "queued"], "cancelled", user, {
      stateReason: `cancelled by ${user}`,
      finishedAt: this.clock.now(),
    });
  }
}
