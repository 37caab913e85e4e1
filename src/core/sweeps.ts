/**
 * Sweeps: a small grid of runs (dataset versions x epochs x learning rates x LoRA ranks) within a budget. The grid
 * and its estimated total are shown first and wait for a confirmation; cells run cheapest first, a few at a time per
 * provider; no new cell starts once the budget would be exceeded; a summary compares every cell on the
 * experiment's metric and the best cell with the experiment's current best. Sweeps over dataset versions are how a
 * team tests "does adding these rows help".
 */
import { TuneError, ErrorCode } from "../errors.ts";
import { assertFits } from "./costs/budget.ts";
import { round, summarizeLedger } from "./costs/ledger.ts";
import { formatRef } from "./datasets/names.ts";
import type { DatasetService } from "./datasets/service.ts";
import type { Comparison, EvalService } from "./evals/service.ts";
import { experimentEvals } from "./experiments/evals.ts";
import type { Clock, EngineRepo, EvalRecord, IterationRepo, RunRecord, SweepCell, SweepRecord } from "./ports.ts";
import type { RunService } from "./runs/service.ts";
import { isFinal } from "./runs/states.ts";

export interface SweepSpec {
  experiment: string;
  datasets: string[];
  epochs: number[];
  learningRates: number[];
  loraRanks: number[];
  maxRuns?: number;
  budgetUsd?: number;
  provider?: string;
  concurrency?: number;
  yes?: boolean;
  user: string;
  userId?: string;
  channelId: string | null;
}

export interface SweepSummary {
  cells: Array<SweepCell & { mean: number | null; ci: [number | null, number | null]; costUsd: number }>;
  best: (SweepCell & { mean: number | null }) | null;
  comparison: Comparison | null;
  spentUsd: number;
}

export class SweepService {
  private listeners: Array<(s: SweepRecord, summary: SweepSummary) => void | Promise<void>> = [];

  constructor(
    private readonly repo: IterationRepo,
    private readonly engine: EngineRepo,
    private readonly runs: RunService,
    private readonly datasets: DatasetService,
    private readonly evals: EvalService,
    private readonly clock: Clock,
  ) {
    // A cell's run ending frees a slot: start the next cell, or finish the sweep.
    runs.events.listen({
      onRun: (run, event) => {
        if (event === "state" && isFinal(run.state)) void this.onRunEnded(run);
      },
    });
  }

  onDone(l: (s: SweepRecord, summary: SweepSummary) => void | Promise<void>) {
    this.listeners.push(l);
  }

  /** Records the chat message that shows the sweep (its card is kept current there). */
  setMessage(id: number, messageId: string): void {
    this.repo.updateSweep(id, { messageId });
  }

  get(id: number): SweepRecord {
    const s = this.repo.sweep(id);
    if (!s) throw new TuneError(ErrorCode.SweepNotFound, `No sweep ${id}.`);
    return s;
  }

  async create(spec: SweepSpec): Promise<{ sweep: SweepRecord; totalUsd: number; dropped: number }> {
    const exp = this.runs.experiment(spec.experiment);
    const evalSet = this.datasets.byId(exp.evalVersionId);
    const provider = spec.provider ?? "local";
    const trainer = this.runs.trainer(provider);
    const all: SweepCell[] = [];
    for (const d of spec.datasets) {
      const v = this.datasets.get(d);
      const tokens = this.datasets.tokenCounts(v);
      for (const epochs of spec.epochs) {
        const est = this.runs.estimate(exp, v, evalSet, tokens, provider, trainer.defaultModel, epochs);
        for (const learningRate of spec.learningRates) {
          for (const loraRank of spec.loraRanks) {
            all.push({
              dataset: formatRef(v.name, v.version),
              epochs,
              learningRate,
              loraRank,
              estimateUsd: est.totalUsd,
              runId: null,
              status: "pending",
            });
          }
        }
      }
    }
    // Cheapest first; equal cost: fewer epochs, then the grid order.
    const order = all
      .map((c, i) => ({ c, i }))
      .sort((a, b) => a.c.estimateUsd - b.c.estimateUsd || a.c.epochs - b.c.epochs || a.i - b.i);
    const cells = order.map((x) => x.c).slice(0, spec.maxRuns ?? all.length);
    const totalUsd = round(cells.reduce((a, c) => a + c.estimateUsd, 0));
    if (spec.yes && cells.length) this.assertCheapestFits(exp.id, cells[0].estimateUsd);
    const sweep = this.repo.createSweep({
      experimentId: exp.id,
      cells,
      state: spec.yes ? "running" : "awaiting_confirmation",
      budgetUsd: spec.budgetUsd ?? null,
      concurrency: spec.concurrency ?? (provider === "local" ? 1 : 3),
      channelId: spec.channelId,
      messageId: null,
      createdBy: spec.user,
      createdById: spec.userId ?? null,
      createdAt: this.clock.now(),
      finishedAt: null,
      summary: null,
    });
    if (spec.yes) await this.pump(sweep.id);
    return { sweep: this.get(sweep.id), totalUsd, dropped: all.length - cells.length };
  }

  async confirm(id: number): Promise<SweepRecord> {
    const s = this.get(id);
    if (s.state !== "awaiting_confirmation")
      throw new TuneError(
        ErrorCode.SweepState,
        `Sweep ${id} is ${s.state.replace("_", " ")}; only a sweep awaiting confirmation can be confirmed.`,
      );
    const first = s.cells.find((c) => c.status === "pending");
    if (first) this.assertCheapestFits(s.experimentId, first.estimateUsd);
    this.repo.updateSweep(id, { state: "running" });
    await this.pump(id);
    return this.get(id);
  }

  cancel(id: number, user: string): SweepRecord {
    const s = this.get(id);
    if (s.state === "done" || s.state === "cancelled")
      throw new TuneError(ErrorCode.SweepState, `Sweep ${id} is already ${s.state}.`);
    const cells = s.cells.map((c) =>
      c.status === "pending" ? { ...c, status: "skipped" as const, note: `cancelled by ${user}` } : c,
    );
    for (const c of cells) if (c.status === "started" && c.runId) this.runs.cancel(c.runId, user);
    return this.repo.updateSweep(id, { cells, state: "cancelled", finishedAt: this.clock.now() });
  }

  /** Each cell reserves its run's estimate when it starts; a sweep whose first cell cannot is refused outright. */
  private assertCheapestFits(experimentId: number, usd: number) {
    const exp = this.engine.experimentById(experimentId);
    if (exp)
      assertFits(
        this.engine,
        this.clock,
        exp,
        usd,
        "Not even the cheapest cell of this sweep fits: it",
        "drop cells or datasets",
      );
  }

  /** Starts pending cells while slots and budget allow; finishes the sweep when every cell is final. */
  async pump(id: number): Promise<void> {
    let s = this.get(id);
    if (s.state !== "running") return;
    const cells = [...s.cells];
    const spent = () =>
      cells.reduce((a, c) => a + (c.runId ? summarizeLedger(this.engine.ledger({ runId: c.runId })).totalUsd : 0), 0);
    const committed = () => cells.filter((c) => c.status === "started").reduce((a, c) => a + c.estimateUsd, 0);
    for (let i = 0; i < cells.length; i++) {
      const c = cells[i];
      if (c.status !== "pending") continue;
      if (cells.filter((x) => x.status === "started").length >= s.concurrency) break;
      if (s.budgetUsd !== null && spent() + committed() + c.estimateUsd > s.budgetUsd + 1e-9) {
        for (let j = i; j < cells.length; j++) {
          if (cells[j].status === "pending")
            cells[j] = { ...cells[j], status: "skipped", note: "over the sweep's budget" };
        }
        break;
      }
      try {
        const exp = this.engine.experimentById(s.experimentId);
        const out = await this.runs.start({
          dataset: c.dataset,
          experiment: exp?.name ?? "",
          epochs: c.epochs,
          learningRate: c.learningRate,
          loraRank: c.loraRank,
          yes: true,
          user: s.createdBy ?? "sweep",
          userId: s.createdById ?? undefined,
          channelId: s.channelId,
          idempotencyKey: `sweep-${s.id}-cell-${i}`,
        });
        cells[i] = { ...c, runId: out.run.id, status: "started" };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if ((err as { code?: string }).code !== ErrorCode.BudgetExceeded) {
          cells[i] = { ...c, status: "failed", note: message };
          continue;
        }
        // Over the experiment's budget: this cell and every dearer one after it are skipped, with the reason.
        cells[i] = { ...c, status: "skipped", note: message };
        for (let j = i + 1; j < cells.length; j++) {
          if (cells[j].status === "pending")
            cells[j] = { ...cells[j], status: "skipped", note: "over the experiment's budget (see the cell before)" };
        }
        break;
      }
    }
    s = this.repo.updateSweep(id, { cells });
    if (cells.every((c) => c.status !== "pending" && c.status !== "started")) await this.finish(s);
  }

  private async onRunEnded(run: RunRecord) {
    for (const s of this.repo.sweeps({ states: ["running", "cancelled"] })) {
      const i = s.cells.findIndex((c) => c.runId === run.id);
      if (i < 0) continue;
      const cells = [...s.cells];
      cells[i] = {
        ...cells[i],
        status: run.state === "succeeded" ? "done" : "failed",
        note: run.state === "succeeded" ? undefined : (run.stateReason ?? run.state),
      };
      const updated = this.repo.updateSweep(s.id, { cells });
      if (updated.state === "running") await this.pump(s.id);
    }
  }

  summary(s: SweepRecord): SweepSummary {
    const exp = this.engine.experimentById(s.experimentId);
    const tunedEval = (runId: number | null): EvalRecord | undefined =>
      runId ? this.engine.evals({ runId, state: "succeeded" }).find((e) => e.role === "tuned") : undefined;
    const cells = s.cells.map((c) => {
      const e = tunedEval(c.runId);
      return {
        ...c,
        mean: e?.mean ?? null,
        ci: [e?.ciLow ?? null, e?.ciHigh ?? null] as [number | null, number | null],
        costUsd: c.runId ? summarizeLedger(this.engine.ledger({ runId: c.runId })).totalUsd : 0,
      };
    });
    const best =
      cells.filter((c) => c.mean !== null).sort((a, b) => (b.mean ?? 0) - (a.mean ?? 0) || a.costUsd - b.costUsd)[0] ??
      null;
    let comparison: Comparison | null = null;
    if (best && exp) {
      const bestEval = tunedEval(best.runId);
      const sweepRuns = new Set(s.cells.map((c) => c.runId));
      const other = experimentEvals(this.engine, exp)
        .filter((e) => !(e.runId !== null && sweepRuns.has(e.runId) && e.role === "tuned"))
        .sort((a, b) => (b.mean ?? -1) - (a.mean ?? -1))[0];
      if (bestEval && other) comparison = this.evals.compareEvals(other, bestEval, exp.alpha);
    }
    return { cells, best, comparison, spentUsd: round(cells.reduce((a, c) => a + c.costUsd, 0)) };
  }

  private async finish(s: SweepRecord) {
    const summary = this.summary(s);
    const done = this.repo.updateSweep(s.id, {
      state: s.state === "cancelled" ? "cancelled" : "done",
      finishedAt: this.clock.now(),
      summary: { best: summary.best, spentUsd: summary.spentUsd },
    });
    for (const l of this.listeners) await l(done, summary);
  }
}
