/**
 * The card of a stand-alone eval (`/tune eval`), for every surface: the command shows it, and with Postgres a
 * surviving chat replica posts the same card when the replica that took the command is gone (src/core/evals/jobs.ts).
 * Nothing here writes.
 */
import type { App } from "../app.ts";
import { type Card, fields, fmt, list, table, text } from "../core/cards.ts";
import type { EvalRecord } from "../core/ports.ts";
import { EVAL_COLUMNS, evalFlagNotes, evalRow, pct } from "../core/runs/cards.ts";

/** An ended eval's card: its row, chance baseline, flags, the rows it reused and its whole cost. */
export function evalCard(app: App, e: EvalRecord): Card {
  const ref = app.datasets.refOf(e.datasetVersionId);
  const blocks = [table(EVAL_COLUMNS, [evalRow(e)])];
  if (e.summary?.chance)
    blocks.push(text(`Chance baseline (always "${e.summary.chance.label}"): ${pct(e.summary.chance.accuracy)}.`));
  const notes = evalFlagNotes(e);
  if (notes.length) blocks.push(list(notes, "Flagged"));
  // A resumed eval's cost is its own bookings and those of the attempts whose answers it took over.
  const chain = [e.id];
  for (let from = e.resumedFrom; from !== null && chain.length < 100; ) {
    chain.push(from);
    from = app.evals.byId(from)?.resumedFrom ?? null;
  }
  if (e.resumedFrom !== null) {
    const reused = app.evals.rowCount(e.resumedFrom);
    const why = (app.evals.byId(e.resumedFrom)?.error ?? "").replace(/;?\s*resumed as #\d+$/, "");
    blocks.push(
      text(
        `Resumed: ${reused} answered rows reused from eval #${e.resumedFrom}, which did not finish (${why || "its process stopped"}); ${e.n - reused} asked now.`,
      ),
    );
  }
  const cost = app.costs.ofEvals(chain);
  const earlier = app.costs.ofEvals(chain.slice(1)).totalUsd;
  blocks.push(
    fields([
      [
        "Cost",
        `${fmt.usdFine(cost.totalUsd)}${chain.length > 1 ? ` (of which ${fmt.usdFine(earlier)} booked by the earlier attempt${chain.length > 2 ? "s" : ""})` : ""} · ${fmt.duration(e.summary?.wallMs ?? 0)}`,
      ],
    ]),
  );
  return { title: `Eval of ${e.model} on ${ref} (${e.metric})`, blocks };
}

/**
 * The card a surviving replica posts for a queued eval whose command's replica is gone: the eval's card, or what
 * failed (as the command would have said).
 */
export function queuedEvalCard(app: App, e: EvalRecord): Card {
  if (e.state === "succeeded") return evalCard(app, e);
  return {
    title: `Eval of ${e.model} on ${app.datasets.refOf(e.datasetVersionId)} (${e.metric}) failed`,
    tone: "error",
    blocks: [text(app.evals.failure(e).message)],
  };
}
