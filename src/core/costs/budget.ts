/**
 * Budgets are a bound. What counts against an experiment's budget is its booked spend (actual ledger entries) plus
 * the reservations (holds) of its work not finished yet: every queued, awaiting-confirmation and running run (its
 * estimate: training and evals) and every running eval booked to it outside a run. A hold is taken in the same
 * immediate database transaction that checks the budget (two processes cannot both take the last dollars), and
 * released when the work ends; what was booked under it stays spent.
 *
 * Work already running is metered request by request (SpendMeter): each answer is booked as it arrives, and a
 * request is sent only if the hold covers it at the dearest price seen so far; past the hold, the hold is raised
 * within the budget or the work stops there.
 */
import { fmt } from "../format.ts";
import crypto from "node:crypto";
import os from "node:os";
import { TuneError, ErrorCode } from "../../errors.ts";
import { usd as requestUsd, type Pricing } from "../inference.ts";
import type { BudgetUse, Clock, EngineRepo, ExperimentRecord } from "../ports.ts";
import { STATE_LABEL } from "../runs/states.ts";

const EPS = 1e-9;
/** Dollars in budget messages (see fmt.usdFine). */
export const usd = fmt.usdFine;

export const committedUsd = (u: BudgetUse) => u.spentUsd + u.heldUsd;
/** What is left to reserve (null: no budget). Negative when someone lowered the budget under what is committed. */
export const leftUsd = (u: BudgetUse) => (u.budgetUsd === null ? null : u.budgetUsd - committedUsd(u));

/** "run 3 (queued)", "eval #7 of big:m (running)" for each live hold, dearest first. */
function holders(repo: EngineRepo, u: BudgetUse, limit = 4): string[] {
  const live = u.holds.filter((h) => h.remainingUsd > EPS).sort((a, b) => b.remainingUsd - a.remainingUsd);
  const names = live.slice(0, limit).map((h) => {
    if (h.runId !== null) {
      const r = repo.runById(h.runId);
      return `${usd(h.remainingUsd)} held by run ${h.runId}${r ? ` (${STATE_LABEL[r.state]})` : ""}`;
    }
    const e = h.evalId !== null ? repo.evalById(h.evalId) : null;
    return `${usd(h.remainingUsd)} held by eval #${h.evalId}${e ? ` of ${e.model} (running)` : ""}`;
  });
  if (live.length > limit) names.push(`${live.length - limit} more`);
  return names;
}

/** "$0 spent + $0.02 held (run 4) of $0.03 ($0.01 left)", or "$1.20 spent (no budget)". */
export function budgetLine(u: BudgetUse): string {
  const runs = u.holds
    .filter((h) => h.remainingUsd > EPS)
    .map((h) => (h.runId !== null ? `run ${h.runId}` : `eval #${h.evalId}`));
  const held =
    u.heldUsd > EPS
      ? ` + ${usd(u.heldUsd)} held (${runs.slice(0, 4).join(", ")}${runs.length > 4 ? ", ..." : ""})`
      : "";
  if (u.budgetUsd === null) return `${usd(u.spentUsd)} spent${held} (no budget)`;
  const left = leftUsd(u) ?? 0;
  return `${usd(u.spentUsd)} spent${held} of ${usd(u.budgetUsd)} (${left < -EPS ? `${usd(-left)} over` : `${usd(Math.max(0, left))} left`})`;
}

/** The refusal of work estimated at `usd` that does not fit: names what holds the money and what to do. */
export function budgetRefusal(
  repo: EngineRepo,
  exp: ExperimentRecord,
  u: BudgetUse,
  head: string,
  estimate: number,
  todo = "use a smaller dataset or a cheaper model",
): TuneError {
  const left = Math.max(0, leftUsd(u) ?? 0);
  const parts = [`${usd(u.budgetUsd ?? 0)} budget`, `${usd(u.spentUsd)} spent`, ...holders(repo, u)];
  const held = u.heldUsd > EPS;
  return new TuneError(
    ErrorCode.BudgetExceeded,
    `${head} is estimated at ${usd(estimate)}, over what is left of ${exp.name}'s budget: ${parts.join(" − ")} = ${usd(left)} left. ${held ? "Wait for that work to finish or cancel it, " : ""}${held ? todo : todo[0].toUpperCase() + todo.slice(1)}, or raise the budget (/tune experiment budget ${exp.name} <usd>).`,
    { estimateUsd: estimate, budgetUsd: u.budgetUsd, spentUsd: u.spentUsd, heldUsd: u.heldUsd, leftUsd: left },
  );
}

/** Refuses (without reserving) work estimated at `usd` that would not fit in the experiment's budget now. */
export function assertFits(
  repo: EngineRepo,
  clock: Clock,
  exp: ExperimentRecord,
  usd: number,
  head: string,
  todo?: string,
): BudgetUse {
  const u = repo.budgetUse(exp.id, clock.now());
  const left = leftUsd(u);
  if (left !== null && usd > left + EPS) throw budgetRefusal(repo, exp, u, head, usd, todo);
  return u;
}

/** A lease owner: host, process and a random part (two evals in one process are two owners). */
export function leaseOwner(): string {
  return `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString("hex")}`;
}

/**
 * Is the process named in a lease owner alive? On this host it is asked directly (a process killed with SIGKILL is
 * gone at once); elsewhere only its lease can tell, so it counts as alive.
 */
export function ownerAlive(owner: string): boolean {
  const [host, pid] = owner.split(":");
  if (host !== os.hostname() || !/^\d+$/.test(pid ?? "")) return true;
  if (Number(pid) === process.pid) return true;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A request's cost: its tokens at the model's rates, and its time (`latencyMs`, else expected) on a time-billed GPU. */
export const priced = (p: Pricing | null, u: { inputTokens: number; outputTokens: number; latencyMs?: number }) =>
  requestUsd(p, u.inputTokens, u.outputTokens, u.latencyMs) ?? 0;

export type SpendKind = "answer" | "judge";
export interface Ticket {
  kind: SpendKind;
  expect: number;
}

export interface MeterOptions {
  repo: EngineRepo;
  clock: Clock;
  /** The ledger entries this attempt books into, one per kind (null: no judge). */
  ledger: { answer: number; judge: number | null };
  pricing: { answer: Pricing | null; judge: Pricing | null };
  /** The estimated cost of one request of each kind, before any answer is seen. */
  prior: { answer: number; judge: number };
  /** The reservation the spend runs under (a run's, or the eval's own); null outside an experiment. */
  hold: { id: number; usd: number; bookedUsd: number } | null;
  /** The experiment has a budget: probe the price with one request before sending more. */
  budgeted: boolean;
  /** The message of the stop, from the budget as the refused raise saw it. */
  stopMessage: (use: BudgetUse, meter: SpendMeter) => string;
}

/**
 * Books an eval attempt's requests as they are answered and bounds them by its hold. A request is sent only when
 * the hold covers what is booked, what is in flight and one more request at the dearest price seen so far (the
 * estimate before the first answer); otherwise the hold is raised within the experiment's budget, or the spend
 * stops there (`stopped`). With a budget, the first request goes alone, so a provider that bills more than
 * estimated is found out before the others are sent.
 */
export class SpendMeter {
  stopped: TuneError | null = null;
  /** Booked by this attempt. */
  spentUsd = 0;
  answered = 0;
  private inflightUsd = 0;
  private readonly inflight: Record<SpendKind, number> = { answer: 0, judge: 0 };
  private readonly seen: Record<SpendKind, number> = { answer: 0, judge: 0 };
  readonly dearest: Record<SpendKind, number> = { answer: 0, judge: 0 };
  private waiters: Array<() => void> = [];

  constructor(private readonly o: MeterOptions) {}

  /** Waits until one more request of this kind may be sent; throws the stop (a coded error) when it may not. */
  async acquire(kind: SpendKind, signal?: AbortSignal): Promise<Ticket> {
    for (;;) {
      if (this.stopped) throw this.stopped;
      if (signal?.aborted) throw signal.reason;
      const hold = this.o.hold;
      if (!hold) return this.take(kind, 0);
      if (this.o.budgeted && this.seen[kind] === 0 && this.inflight[kind] > 0) {
        await new Promise<void>((r) => this.waiters.push(r));
        continue;
      }
      const expect = Math.max(this.o.prior[kind], this.dearest[kind]);
      const need = hold.bookedUsd + this.inflightUsd + expect;
      if (need > hold.usd + EPS) {
        // Raise the hold with some room (fewer transactions); if that does not fit, exactly what is needed.
        const now = this.o.clock.now();
        let target = need + Math.max(expect * 4, hold.usd / 4);
        let r = this.o.repo.growHold(hold.id, target, now);
        if (!r.ok) {
          target = need;
          r = this.o.repo.growHold(hold.id, target, now);
        }
        if (!r.ok) {
          this.stopped = new TuneError(ErrorCode.BudgetStopped, this.o.stopMessage(r.use, this));
          this.wake();
          throw this.stopped;
        }
        hold.usd = target;
      }
      return this.take(kind, expect);
    }
  }

  /** A request ended: books its usage (null: it failed, nothing billed that we know of). */
  settle(t: Ticket, usage: { inputTokens: number; outputTokens: number } | null): void {
    this.inflightUsd -= t.expect;
    this.inflight[t.kind]--;
    if (usage) this.book(t.kind, usage);
    this.wake();
  }

  /** Books an answer that was not metered one by one (a local batch). */
  book(kind: SpendKind, usage: { inputTokens: number; outputTokens: number }): void {
    const usd = priced(this.o.pricing[kind], usage);
    const id = kind === "answer" ? this.o.ledger.answer : this.o.ledger.judge;
    if (id !== null)
      this.o.repo.bookLedger(id, { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, usd });
    if (this.o.hold) this.o.hold.bookedUsd += usd;
    this.spentUsd += usd;
    if (kind === "answer") this.answered++;
    this.seen[kind]++;
    this.dearest[kind] = Math.max(this.dearest[kind], usd);
  }

  private take(kind: SpendKind, expect: number): Ticket {
    this.inflightUsd += expect;
    this.inflight[kind]++;
    return { kind, expect };
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
