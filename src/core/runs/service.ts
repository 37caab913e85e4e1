/**
 * Runs: one fine-tune of one dataset version on one provider/base model, estimated and priced before anything
 * is spent, refused when its training data overlaps the experiment's eval set, queued in the database.
 */
import crypto from "node:crypto";
import { ErrorCode, TuneError } from "../../errors.ts";
import { defaultEpochs, estimateTraining, findModel, trainableModels } from "../costs/estimate.ts";
import { experimentSpend, round } from "../costs/ledger.ts";
import { findOverlap } from "../datasets/dedupe.ts";
import { experimentNamed } from "../experiments/service.ts";
import { formatRef } from "../datasets/names.ts";
import { fmt } from "../format.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { Clock, DatasetVersionRecord, EngineRepo, ExperimentRecord, Hyper, RunRecord } from "../ports.ts";
import { providerUnavailable, resolveModel, type ProviderSet } from "../models.ts";
import { RunEvents } from "./events.ts";
import { ACTIVE_STATES, STATE_LABEL } from "./states.ts";
import type { ProviderQuote } from "../trainer.ts";

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
  wallSeconds: number | null;
  budgetUsd: number | null;
  spentUsd: number;
  remainingUsd: number | null;
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

const DEFAULT_HYPER: Record<string, Omit<Hyper, "epochs">> = {
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

  get(id: number): RunRecord {
    const r = this.repo.runById(id);
    if (!r) throw new TuneError("run_not_found", `No run ${id}. See /tune run list.`);
    return r;
  }

  list(opts: { experimentId?: number; active?: boolean; limit?: number } = {}): RunRecord[] {
    return this.repo.listRuns({
      experimentId: opts.experimentId,
      states: opts.active ? ACTIVE_STATES : undefined,
      limit: opts.limit ?? 20,
    });
  }

  async start(input: StartRunInput): Promise<StartOutcome> {
    const exp = this.experiment(input.experiment);
    const train = this.datasets.get(input.dataset);
    const evalSet = this.datasets.byId(exp.evalVersionId);
    const providerName = input.provider ?? "local";
    const trainer = this.trainer(providerName);
    const baseModel = tunableModel(trainer.models(), providerName, input.model ?? trainer.defaultModel);
    const fits = trainableModels([`${providerName}:${baseModel}`], train.format);
    if (fits.leftOut.length) {
      throw new TuneError(
        "dataset_format_unsupported",
        `${providerName}:${baseModel} cannot train on ${formatRef(train.name, train.version)}: ${fits.why}. Train it on together or local, or upload the rows as chat messages.`,
      );
    }
    const warnings = await this.checkOverlap(train, evalSet);

    const tokens = this.datasets.tokenCounts(train);
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
    const estimate = this.estimate(exp, train, evalSet, tokens, providerName, baseModel, epochs);
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
    if (estimate.remainingUsd !== null && estimate.totalUsd > estimate.remainingUsd) {
      throw new TuneError(
        "budget_exceeded",
        `This run is estimated at ${fmt.usd(estimate.totalUsd)}, over what is left of ${exp.name}'s budget (${fmt.usd(estimate.remainingUsd)} of ${fmt.usd(estimate.budgetUsd ?? 0)}). Use a smaller dataset or a cheaper model, or raise the budget.`,
        { estimate },
      );
    }
    const needsConfirmation = !input.yes && estimate.totalUsd > this.settings.confirmAboveUsd;
    const { run, created } = this.repo.createRun({
      idempotencyKey: input.idempotencyKey ?? crypto.randomUUID(),
      experimentId: exp.id,
      datasetVersionId: train.id,
      provider: providerName,
      baseModel,
      hyper,
      state: "estimating",
      estimate,
      channelId: input.channelId,
      createdBy: input.user,
      createdById: input.userId ?? null,
      createdAt: this.clock.now(),
    });
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
        "run_overlap",
        `${tRef} overlaps the eval set ${eRef}: ${parts.join("; ")}. Training on eval rows makes the verdict meaningless: remove them (e.g. /tune dataset split, then train on the -train side).`,
        { exact: o.exact, samePrompt: o.samePrompt },
      );
    }
    if (!o.near.length) return [];
    const share = hit.near / Math.max(1, evalSet.rows);
    const msg = `${fmt.count(hit.near, "eval row")} of the eval set ${eRef} (${fmt.pct(share)}) ${hit.near === 1 ? "has" : "have"} a near-duplicate in ${tRef}: ${rows(o.near, "~")}`;
    if (share > this.settings.nearOverlapMaxShare) {
      throw new TuneError(
        "run_overlap",
        `${msg}. That is over the ${fmt.pct(this.settings.nearOverlapMaxShare, 0)} allowed (TUNELOOP_NEAR_OVERLAP_MAX_SHARE). Remove them from the training set, or raise the setting if your rows are templated by design.`,
        { near: o.near.slice(0, 100) },
      );
    }
    return [`${msg}. Allowed (under ${fmt.pct(this.settings.nearOverlapMaxShare, 0)}), but check them.`];
  }

  estimate(
    exp: ExperimentRecord,
    train: DatasetVersionRecord,
    evalSet: DatasetVersionRecord,
    tokens: number[],
    provider: string,
    baseModel: string,
    epochs: number,
  ): RunEstimate {
    const [t] = estimateTraining(tokens, { epochs, models: [`${provider}:${baseModel}`] });
    const trainer = this.providers.trainer(provider);
    // Eval: the base, the tuned model and every baseline answer each eval row once.
    const models = [`${provider}:${baseModel}`, ...exp.baselines];
    const perRowIn = evalSet.stats.tokens.mean;
    const perRowOut = evalSet.rows ? evalSet.stats.assistantTokens / evalSet.rows : 0;
    let evalUsd = 0;
    for (const ref of models) {
      try {
        const p = resolveModel(ref, this.providers, this.repo).model.pricing;
        if (p) evalUsd += (evalSet.rows * (perRowIn * p.inputPer1M + perRowOut * p.outputPer1M)) / 1e6;
      } catch {
        // an unknown baseline is reported when the eval runs
      }
    }
    const spent = experimentSpend(this.repo, exp.id);
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
      wallSeconds:
        trainer?.estimateWallMs(t.billedTokens) != null
          ? Math.round((trainer.estimateWallMs(t.billedTokens) ?? 0) / 1000)
          : null,
      budgetUsd: exp.budgetUsd,
      spentUsd: spent,
      remainingUsd: exp.budgetUsd === null ? null : round(exp.budgetUsd - spent),
    };
  }

  setState(
    run: RunRecord,
    from: RunRecord["state"][],
    to: RunRecord["state"],
    by: string,
    patch: Partial<RunRecord> = {},
  ): RunRecord {
    const next = this.repo.transitionRun(run.id, from, to, patch);
    if (!next) {
      const now = this.get(run.id);
      throw new TuneError(
        "run_state",
        `Run ${run.id} is ${STATE_LABEL[now.state]}; it cannot become ${STATE_LABEL[to]}.`,
      );
    }
    this.repo.addRunEvent(run.id, this.clock.now(), "state", {
      from: run.state,
      to,
      by,
      reason: patch.stateReason ?? null,
    });
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
    if (!exp) throw new TuneError("experiment_not_found", `Run ${id}'s experiment is gone.`);
    return this.start({
      dataset: this.datasets.refOf(r.datasetVersionId),
      experiment: exp.name,
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
        "run_state",
        `Run ${id} is ${STATE_LABEL[run.state]}; only a run awaiting confirmation can be confirmed.`,
      );
    }
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
      throw new TuneError("run_state", `Run ${id} is already ${STATE_LABEL[run.state]}.`);
    }
    return this.setState(run, ["estimating", "awaiting_confirmation", "queued"], "cancelled", user, {
      stateReason: `cancelled by ${user}`,
      finishedAt: this.clock.now(),
    });
  }
}
