/** What money and compute went where: the ledger summed per run, experiment, eval chain or period. */
import type { EngineRepo } from "../ports.ts";
import { summarizeLedger, type CostSummary } from "./ledger.ts";

export class CostService {
  constructor(private readonly repo: EngineRepo) {}

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
