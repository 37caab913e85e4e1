/**
 * Schedules: cron expressions (node-cron, with a time zone) that fire a recipe. They live in the database and are
 * restored at start. A fire missed while the bot was down runs once at start (not once per missed slot); two fires
 * of one schedule never overlap; every fire is recorded with its outcome; a schedule that keeps failing says so in
 * its channel and pauses itself after TUNELOOP_SCHEDULE_MAX_FAILURES failures in a row.
 */
import cron, { type ScheduledTask } from "node-cron";
import { fmt } from "../format.ts";
import { TuneError, ErrorCode } from "../../errors.ts";
import { text, type Card } from "../cards.ts";
import type { Clock, IterationRepo, ScheduleFire, ScheduleRecord } from "../ports.ts";

export interface RecipeOutcome {
  outcome: ScheduleFire["outcome"];
  message: string;
  /** What to post in the schedule's channel (a digest, a run card...). */
  card?: Card;
  /** Told where the card was posted (a run's card is then kept up to date). */
  onPosted?: (ref: { channelId: string; messageId: string }) => void;
  /** Pause the schedule after this fire, and say why and what to do (e.g. a fire that would pass a budget). */
  pause?: string;
}

export interface SchedulerDeps {
  repo: IterationRepo;
  clock: Clock;
  maxFailures: number;
  /** No schedule may fire more often than this (TUNELOOP_SCHEDULE_MIN_INTERVAL). */
  minIntervalMs: number;
  /** Checks a recipe's words now (so a bad one is refused when the schedule is added). */
  checkRecipe: (recipe: string) => void;
  run: (schedule: ScheduleRecord, reason: ScheduleFire["reason"]) => Promise<RecipeOutcome>;
  /** Posts a card for the schedule (its channel, and subscribers); returns where it went first. */
  notify: (schedule: ScheduleRecord, card: Card) => Promise<{ channelId: string; messageId: string } | undefined>;
  onError: (err: unknown) => void;
  /** Where schedules are armed: node-cron in this process when unset; a shared queue with several replicas. */
  timer?: ScheduleTimer;
}

/**
 * Arms schedules somewhere else than this process's node-cron: a queue shared by replicas, whose cron fires each slot
 * once across all of them (src/scale/queue.ts).
 */
export interface ScheduleTimer {
  arm(s: ScheduleRecord, fire: () => Promise<unknown>): void;
  /** `everywhere`: the schedule was paused or removed (no replica fires it); else only this process stops taking it. */
  disarm(id: number, everywhere: boolean): void;
  /** Takes the fire missed while every replica was down, for this one (false: another replica took it). */
  claimMissed(s: ScheduleRecord, next: Date | null): Promise<boolean>;
}

export function checkTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return tz;
  } catch {
    throw new TuneError(
      ErrorCode.ScheduleInvalidTz,
      `"${tz}" is not a time zone. Use an IANA name such as Europe/Berlin, America/New_York or UTC.`,
    );
  }
}

export function checkCron(expr: string): string {
  const fields = expr.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    throw new TuneError(
      ErrorCode.ScheduleInvalidCron,
      `"${expr}" has ${fields.length} field${fields.length === 1 ? "" : "s"}${fields.length === 6 ? " (a seconds field)" : ""}: use five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * MON" for Mondays at 9:00.`,
    );
  }
  const v = cron.validateDetailed(expr);
  if (!v.valid) {
    const why = v.errors
      .map((e) => `${e.field}${e.value !== undefined ? ` "${e.value}"` : ""}: ${e.message}`)
      .join("; ");
    throw new TuneError(
      ErrorCode.ScheduleInvalidCron,
      `"${expr}" is not a cron expression (${why || "unreadable"}). Use five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * MON" for Mondays at 9:00.`,
    );
  }
  return expr;
}

const human = (ms: number) =>
  ms % 86_400_000 === 0
    ? `${ms / 86_400_000} d`
    : ms % 3_600_000 === 0
      ? `${ms / 3_600_000} h`
      : ms % 60_000 === 0
        ? `${ms / 60_000} min`
        : `${Math.round(ms / 1000)} s`;

/**
 * Refuses an expression whose closest two fires (over its next 400, which cover every pattern of minutes, hours and
 * weekdays) are less than `minMs` apart.
 */
export function checkInterval(expr: string, tz: string, minMs: number): void {
  const fires = nextRuns(expr, tz, 400);
  let gap = Number.POSITIVE_INFINITY;
  let at = 0;
  for (let i = 1; i < fires.length; i++) {
    const d = fires[i].getTime() - fires[i - 1].getTime();
    if (d < gap) {
      gap = d;
      at = i;
    }
  }
  if (gap >= minMs) return;
  throw new TuneError(
    ErrorCode.ScheduleTooOften,
    `"${expr}" fires every ${human(gap)} at its closest (${fmt.time(fires[at - 1])} and ${fmt.time(fires[at]).slice(11)}); a schedule may fire at most once every ${human(minMs)} (TUNELOOP_SCHEDULE_MIN_INTERVAL). Use a sparser expression, e.g. "0 * * * *" for every hour or "0 9 * * MON" for Mondays at 9:00.`,
  );
}

/** The next `n` fire times of an expression in a zone. */
export function nextRuns(expr: string, tz: string, n = 3): Date[] {
  const task = cron.createTask(expr, () => {}, { timezone: tz });
  try {
    return task.getNextRuns(n);
  } finally {
    void task.destroy();
  }
}

export class Scheduler {
  private readonly tasks = new Map<number, ScheduledTask | null>();
  private readonly inFlight = new Set<number>();
  private started = false;
  private syncTimer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: SchedulerDeps) {}

  add(input: { cron: string; tz: string; recipe: string; channelId: string | null; user: string }): ScheduleRecord {
    checkCron(input.cron);
    checkTimeZone(input.tz);
    checkInterval(input.cron, input.tz, this.deps.minIntervalMs);
    this.deps.checkRecipe(input.recipe);
    const [next] = nextRuns(input.cron, input.tz, 1);
    const s = this.deps.repo.createSchedule({
      cron: input.cron,
      tz: input.tz,
      recipe: input.recipe,
      state: "active",
      channelId: input.channelId,
      createdBy: input.user,
      createdAt: this.deps.clock.now(),
      nextFireAt: next ?? null,
      lastFireAt: null,
      lastOutcome: null,
      failures: 0,
    });
    if (this.started) this.arm(s);
    return s;
  }

  get(id: number): ScheduleRecord {
    const s = this.deps.repo.schedule(id);
    if (!s) throw new TuneError(ErrorCode.ScheduleNotFound, `No schedule ${id}. See /tune schedule list.`);
    return s;
  }

  list(): ScheduleRecord[] {
    return this.deps.repo.schedules();
  }

  pause(id: number): ScheduleRecord {
    this.get(id);
    this.disarm(id, true);
    return this.deps.repo.updateSchedule(id, { state: "paused" });
  }

  resume(id: number): ScheduleRecord {
    const s = this.get(id);
    checkCron(s.cron);
    checkInterval(s.cron, s.tz, this.deps.minIntervalMs);
    const [next] = nextRuns(s.cron, s.tz, 1);
    const r = this.deps.repo.updateSchedule(id, { state: "active", failures: 0, nextFireAt: next ?? null });
    if (this.started) this.arm(r);
    return r;
  }

  remove(id: number): void {
    this.get(id);
    this.disarm(id, true);
    this.deps.repo.removeSchedule(id);
  }

  /** Restores the active schedules; fires once each one whose fire was missed while the bot was down. */
  async start(): Promise<void> {
    this.started = true;
    const now = this.deps.clock.now();
    const missed: ScheduleRecord[] = [];
    for (const s of this.deps.repo.schedules()) {
      if (s.state !== "active") continue;
      // A schedule added before the five-field rule or under a smaller minimum interval does not fire: it pauses.
      try {
        checkCron(s.cron);
        checkInterval(s.cron, s.tz, this.deps.minIntervalMs);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.deps.repo.addFire({ scheduleId: s.id, at: now, reason: "scheduled", outcome: "skipped", message });
        const paused = this.deps.repo.updateSchedule(s.id, {
          state: "paused",
          lastOutcome: `skipped: ${message}`.slice(0, 500),
        });
        await this.deps
          .notify(paused, {
            title: `Schedule ${s.id} paused`,
            tone: "warning",
            blocks: [
              text(
                `"${s.recipe}" (${s.cron}, ${s.tz}) cannot fire: ${message}\nRemove it and add it again with another expression.`,
              ),
            ],
          })
          .catch((e) => this.deps.onError(e));
        continue;
      }
      this.arm(s);
      if (s.nextFireAt && s.nextFireAt.getTime() <= now.getTime()) missed.push(s);
    }
    for (const s of missed) {
      const timer = this.deps.timer;
      if (timer && !(await timer.claimMissed(s, nextRuns(s.cron, s.tz, 1)[0] ?? null))) continue;
      await this.fire(s.id, "missed");
    }
    // Schedules added, paused or removed by another process (the CLI) are picked up here.
    this.syncTimer = setInterval(() => this.sync(), 10_000);
    this.syncTimer.unref();
  }

  /** Arms active schedules that are not armed yet and disarms the ones paused or removed elsewhere. */
  sync(): void {
    if (!this.started) return;
    const all = new Map(this.deps.repo.schedules().map((s) => [s.id, s]));
    for (const id of [...this.tasks.keys()]) if (all.get(id)?.state !== "active") this.disarm(id, true);
    for (const s of all.values()) if (s.state === "active" && !this.tasks.has(s.id)) this.arm(s);
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.syncTimer) clearInterval(this.syncTimer);
    for (const id of [...this.tasks.keys()]) this.disarm(id);
  }

  private arm(s: ScheduleRecord) {
    this.disarm(s.id);
    if (this.deps.timer) {
      // A fire that reaches this replica after the schedule was paused elsewhere (before the sync saw it) is dropped.
      this.deps.timer.arm(s, async () =>
        this.deps.repo.schedule(s.id)?.state === "active" ? this.fire(s.id, "scheduled") : undefined,
      );
      this.tasks.set(s.id, null);
      return;
    }
    // A fire delayed by a busy event loop still runs (up to a minute late) rather than being dropped as missed.
    const task = cron.schedule(s.cron, () => this.fire(s.id, "scheduled"), {
      timezone: s.tz,
      noOverlap: true,
      name: `schedule-${s.id}`,
      missedExecutionTolerance: 60_000,
    });
    task.unref();
    this.tasks.set(s.id, task);
  }

  private disarm(id: number, everywhere = false) {
    const t = this.tasks.get(id);
    if (t) void t.destroy();
    if (this.deps.timer && (this.tasks.has(id) || everywhere)) this.deps.timer.disarm(id, everywhere);
    this.tasks.delete(id);
  }

  /** Runs a schedule's recipe now (also used by a missed fire at start). Never throws. */
  async fire(id: number, reason: ScheduleFire["reason"]): Promise<RecipeOutcome> {
    const s = this.deps.repo.schedule(id);
    if (!s) return { outcome: "skipped", message: "schedule removed" };
    const at = this.deps.clock.now();
    const record = (o: RecipeOutcome) => {
      this.deps.repo.addFire({ scheduleId: id, at, reason, outcome: o.outcome, message: o.message });
      return o;
    };
    if (this.inFlight.has(id))
      return record({ outcome: "skipped", message: "the previous fire is still running (fires never overlap)" });
    this.inFlight.add(id);
    let out: RecipeOutcome;
    try {
      out = await this.deps.run(s, reason);
    } catch (err) {
      out = { outcome: "failed", message: err instanceof Error ? err.message : String(err) };
    } finally {
      this.inFlight.delete(id);
    }
    record(out);
    const failures = out.outcome === "failed" ? s.failures + 1 : 0;
    const next = nextRuns(s.cron, s.tz, 1)[0] ?? null;
    let updated = this.deps.repo.updateSchedule(id, {
      lastFireAt: at,
      lastOutcome: `${out.outcome}: ${out.message}`.slice(0, 500),
      failures,
      nextFireAt: next,
    });
    try {
      if (out.card) {
        const where = await this.deps.notify(updated, out.card);
        if (where) out.onPosted?.(where);
      }
      if (out.pause) {
        this.disarm(id, true);
        updated = this.deps.repo.updateSchedule(id, { state: "paused" });
        await this.deps.notify(updated, {
          title: `Schedule ${id} skipped and paused`,
          tone: "warning",
          blocks: [
            text(
              `"${s.recipe}" (${s.cron}, ${s.tz}) was skipped: ${out.message}\n${out.pause}\nThen resume it: /tune schedule resume ${id}.`,
            ),
          ],
        });
      } else if (out.outcome === "failed") {
        const pause = failures >= this.deps.maxFailures;
        if (pause) {
          this.disarm(id, true);
          updated = this.deps.repo.updateSchedule(id, { state: "paused" });
        }
        await this.deps.notify(updated, {
          title: `Schedule ${id} failed${pause ? " and is paused" : ""}`,
          tone: "error",
          blocks: [
            text(
              `"${s.recipe}" (${s.cron}, ${s.tz}) failed: ${out.message}${pause ? `\nIt failed ${failures} times in a row, so it is paused. Fix the cause, then /tune schedule resume ${id}.` : `\n${fmt.count(failures, "failure")} in a row; it pauses itself after ${this.deps.maxFailures}.`}`,
            ),
          ],
        });
      }
    } catch (err) {
      this.deps.onError(err);
    }
    return out;
  }
}
