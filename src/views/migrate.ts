/** The migration's part of a run's views: a migrated run's verdict card leads with non-inferior / inferior / inconclusive. */
import type { App } from "../app.ts";
import type { Card } from "../core/cards.ts";
import { verdictCardOf } from "../core/migrate/cards.ts";
import { MigrationService } from "../core/migrate/service.ts";
import type { RunRecord } from "../core/ports.ts";

export function migrationService(app: App): MigrationService {
  return new MigrationService({
    repo: app.engine,
    datasets: app.datasets,
    experiments: app.experiments,
    evals: app.evals,
    runs: app.runs,
    providers: app.providers,
    blobs: app.blobs,
    clock: app.clock,
    maxUploadBytes: app.config.limits.maxUploadBytes,
  });
}

/**
 * A run's verdict card, led by the migration's verdict when the run is a migration's (so the run's thread, on every
 * platform, says non-inferior / inferior / inconclusive first); an ordinary run's card as it is.
 */
export async function withMigrationVerdict(app: App, run: RunRecord, card: Card): Promise<Card> {
  const svc = migrationService(app);
  if (!svc.record(run)) return card;
  const v = svc.verdict(run);
  if (!v) return card;
  const m = await verdictCardOf({ repo: app.engine, datasets: app.datasets }, v);
  return {
    ...card,
    title: m.title,
    tone: m.tone,
    blocks: [...m.blocks, { type: "divider" }, ...card.blocks],
    files: [...(m.files ?? []), ...(card.files ?? [])],
  };
}
