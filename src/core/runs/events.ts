import type { EvalRecord, HypothesisVerdict, RunRecord } from "../ports.ts";
import type { Comparison } from "../evals/service.ts";
import type { PackVerdict } from "../packs/types.ts";
import type { ClusterMeasure } from "../iterate/types.ts";

export interface RunVerdict {
  evals: EvalRecord[];
  comparisons: Comparison[];
  hypotheses: Array<{ id: number; text: string; verdict: HypothesisVerdict }>;
  /** The experiment's eval packs, base vs tuned (docs/packs.md); absent when it has none. */
  packs?: PackVerdict;
  /** Clusters this run's added rows were for, before and after (docs/packs.md); absent when none. */
  clusters?: ClusterMeasure[];
}

export interface RunListener {
  /** Every state change (from any command or the worker) and the worker's throttled progress. */
  onRun?(run: RunRecord, event: "state" | "progress"): void | Promise<void>;
  /** The verdict, when the run's evals and comparisons are done. */
  onVerdict?(run: RunRecord, verdict: RunVerdict): void | Promise<void>;
}

/**
 * Set by the scale layer where several processes hear each run's changes (Postgres, docs/scale.md): every chat
 * replica keeps a run's card current, but each message of the run's thread is posted by the one process that claims
 * it first. Unset (SQLite: one process), every change is posted where it is heard.
 */
export interface RunPostClaims {
  /** True when `run` is a change heard from another process (read back), not one made here. */
  relayed(run: RunRecord): boolean;
  /** Claims the thread post `what` of `run` (e.g. `verdict`): true once, across all processes. */
  claim(run: RunRecord, what: string): Promise<boolean>;
}

/** The in-process bus of run changes: chat adapters keep cards current from it, `--wait` reports progress. */
export class RunEvents {
  private readonly listeners: RunListener[] = [];
  /** Thread posts claimed across processes (set by the scale layer); null: posted where heard. */
  claims: RunPostClaims | null = null;
  constructor(private readonly onError: (err: unknown) => void) {}

  listen(l: RunListener): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  run(run: RunRecord, event: "state" | "progress"): void {
    for (const l of this.listeners) void Promise.resolve(l.onRun?.(run, event)).catch(this.onError);
  }

  async verdict(run: RunRecord, verdict: RunVerdict): Promise<void> {
    for (const l of this.listeners) await Promise.resolve(l.onVerdict?.(run, verdict)).catch(this.onError);
  }
}
