/** What money and compute went where: the ledger summed per run, experiment, eval chain or period. */
import type { BudgetUse, Clock, EngineRepo } from "../ports.ts";
import { summarizeLedger, type CostSummary } from "./ledger.ts";

export class CostService {
  constructor(
    private readonly repo: EngineRepo,
    private readonly clock: Clock,
  ) {}

  /** What an experiment's budget holds now: spent, reserved by work in flight, and the budget. */
  budgetUse(experimentId: number): BudgetUse {
    return this.repo.budgetUse(experimentId, this.clock.now());
  }

  ofRun(runId: number): CostSummary {
    return summarizeLedger(this.repo.ledger({ runId }));
  }

  ofExperiment(experimentId: number): CostSummary {
    return summarizeLedger(this.repo.ledger({ experimentId }));
  }

  ofEvals(evalIds: number[]): CostSummary {
    return summarizeLedger(this.repo.ledger({ evalIds }));
  }

  /** Everything booked since `since`; with `runIds`, only what those runs booked. */
  since(since: Date, runIds?: ReadonlySet<number>): CostSummary {
    const entries = this.repo.ledger({ since });
    return summarizeLedger(runIds ? entries.filter((l) => l.runId !== null && runIds.has(l.runId)) : entries);
  }
}
