/**
 * Autocomplete for every platform that offers it: the values an option declares (CommandDef.complete), ranked for
 * what was typed so far, at most 25 (Discord's limit). The data is local, so answers come at once.
 */
import type { CommandDef, CompleteKind } from "../../commands/types.ts";
import type { App } from "../app.ts";
import { STATE_LABEL } from "../core/runs/states.ts";

export interface Choice {
  name: string;
  value: string | number;
}

/** The kind of value an option of a command names, as the registry declares it (null: nothing to suggest). */
export const completeKindOf = (def: CommandDef, field: string): CompleteKind | null =>
  (def.complete as Record<string, CompleteKind> | undefined)?.[field] ?? null;

export function suggestions(app: App, kind: CompleteKind, typed: string): Choice[] {
  const q = typed.trim().toLowerCase();
  const rank = (xs: string[]) =>
    [...new Set(xs)]
      .filter((x) => x.toLowerCase().includes(q))
      .sort(
        (a, b) => Number(!a.toLowerCase().startsWith(q)) - Number(!b.toLowerCase().startsWith(q)) || a.localeCompare(b),
      );
  const asChoices = (xs: string[]) => xs.slice(0, 25).map((x) => ({ name: x.slice(0, 100), value: x.slice(0, 100) }));
  switch (kind) {
    case "dataset": {
      const names = app.datasets.names();
      if (q.includes("@")) {
        const name = q.slice(0, q.indexOf("@"));
        const versions = names.includes(name) ? app.datasets.versions(name).map((v) => `${v.name}@v${v.version}`) : [];
        return asChoices(rank(versions));
      }
      return asChoices(rank(names));
    }
    case "experiment":
      return asChoices(rank(app.experiments.list().map((e) => e.name)));
    case "run":
      return app.runs
        .list({ limit: 100 })
        .map((r) => ({
          r,
          label: `#${r.id} ${STATE_LABEL[r.state]} · ${app.experiments.byId(r.experimentId)?.name ?? "?"} · ${app.datasets.refOf(r.datasetVersionId)}`,
        }))
        .filter(({ r, label }) => !q || String(r.id).startsWith(q.replace(/^#/, "")) || label.toLowerCase().includes(q))
        .slice(0, 25)
        .map(({ r, label }) => ({ name: label.slice(0, 100), value: r.id }));
    case "model": {
      const recent = app.runs.list({ limit: 50 });
      const runs = recent.filter((r) => r.state === "succeeded").map((r) => `run:${r.id}`);
      const bases = [...new Set(recent.map((r) => `${r.provider}:${r.baseModel}`))];
      const baselines = app.experiments.list().flatMap((e) => e.baselines);
      return asChoices(rank(["best", ...runs, ...bases, ...baselines]));
    }
    case "target": {
      const runs = app.runs.list({ limit: 50 }).map((r) => `run:${r.id}`);
      return asChoices(rank([...app.experiments.list().map((e) => e.name), ...runs]));
    }
  }
}
