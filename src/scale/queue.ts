/**
 * The job queue on Postgres: pg-boss (docs/scale.md says why). Jobs live in the same database (schema `pgboss`),
 * are fetched with SELECT ... FOR UPDATE SKIP LOCKED, retried, and its cron schedules fire once per slot however many
 * replicas run.
 *
 * - A run (and so its evals, and each sweep cell, which is a run) is a job on `run-<provider>` with the run's id as
 *   its singleton key (policy "short": at most one waiting per run; not "stately", whose one-active-per-key rule
 *   would keep a run's new job waiting behind the job of a worker killed mid-run until that job expires). A worker takes jobs only of
 *   the providers it declares (`tuneloop worker --providers selfhosted`). The job only says "run #12 is ready": the run's
 *   lease in the runs table stays the one guard against running it twice (a job retried after its worker died finds
 *   the run finished, or resumes it), so the ledger and the budget see each run once.
 * - A stand-alone eval (`/tune eval`, `/tune experiment reeval`) is a job on `eval-<provider>`, the provider of the
 *   model it asks (a trainer such as `local`, or an endpoint's name), keyed by the eval's id. The job only says
 *   "eval #7 is ready": the eval's lease stays the one guard against two processes answering it.
 * - A schedule is a pg-boss cron schedule on `schedule-<id>` whose job, taken by one chat replica, fires it.
 */
import PgBoss from "pg-boss";
import type { RunRecord } from "../core/ports.ts";
import type { Logger } from "../log.ts";

export const runQueue = (provider: string) => `run-${provider.replace(/[^\w-]/g, "_")}`;
export const evalQueue = (provider: string) => `eval-${provider.replace(/[^\w-]/g, "_")}`;
export const scheduleQueue = (id: number) => `schedule-${id}`;

/** Jobs of runs and evals: retried, kept a day (the run's or eval's lease says who works on it, not the job). */
const WORK_QUEUE = { policy: "short", retryLimit: 5, retryDelay: 2, expireInSeconds: 23 * 3600 } as const;

export interface QueueOptions {
  /** Whether this process keeps pg-boss's clock (cron) and maintenance: chat replicas do, workers need not. */
  schedule?: boolean;
  /**
   * Seconds between fetches when idle (pg-boss's minimum is 0.5). A queued job wakes idle workers at once through
   * LISTEN/NOTIFY (src/scale/index.ts); the poll is the fallback when a notification is lost.
   */
  pollS?: number;
  /** Seconds between pg-boss's cron checks (its default is 30; a schedule fires within this much of its minute). */
  cronCheckS?: number;
}

export class PgQueue {
  private readonly created = new Set<string>();
  private readonly working = new Set<string>();
  /** This process's pg-boss worker per queue it takes jobs from (to wake it: `wake`). */
  private readonly workers = new Map<string, string>();

  private constructor(
    readonly boss: PgBoss,
    private readonly log: Pick<Logger, "warn" | "info">,
    private readonly opts: QueueOptions,
  ) {}

  static async start(url: string, log: Pick<Logger, "warn" | "info">, opts: QueueOptions = {}): Promise<PgQueue> {
    const boss = new PgBoss({
      connectionString: url,
      schema: "pgboss",
      application_name: "tuneloop-queue",
      max: 4,
      schedule: opts.schedule ?? true,
      supervise: opts.schedule ?? true,
      cronMonitorIntervalSeconds: opts.cronCheckS ?? 10,
      cronWorkerIntervalSeconds: Math.min(5, opts.cronCheckS ?? 5),
    });
    boss.on("error", (err) => log.warn({ err }, "queue: pg-boss reported an error"));
    await boss.start();
    return new PgQueue(boss, log, opts);
  }

  private async queue(name: string, options: Omit<PgBoss.Queue, "name">) {
    if (this.created.has(name)) return;
    if (!(await this.boss.getQueue(name))) {
      try {
        await this.boss.createQueue(name, { name, ...options });
      } catch (err) {
        if (!/already exists|duplicate key/i.test(String((err as Error).message))) throw err;
      }
    }
    this.created.add(name);
  }

  /**
   * Says that a run is ready to run (queued, or left behind by a worker that died). Once per run at a time: the
   * queue's name when a job was created (then wake the workers: src/scale/index.ts), null when one was waiting.
   */
  async enqueueRun(run: Pick<RunRecord, "id" | "provider">): Promise<string | null> {
    const q = runQueue(run.provider);
    // Training can take hours: the job never expires under a live worker (the run's own lease says who runs it);
    // a worker that dies leaves the job active until it expires, and the run's lease lets another resume it first.
    await this.queue(q, WORK_QUEUE);
    return (await this.boss.send(q, { runId: run.id }, { singletonKey: `run-${run.id}` })) ? q : null;
  }

  /** Says that eval `evalId` (of a model on `provider`) is ready to answer: as enqueueRun, for evals. */
  async enqueueEval(evalId: number, provider: string): Promise<string | null> {
    const q = evalQueue(provider);
    await this.queue(q, WORK_QUEUE);
    return (await this.boss.send(q, { evalId }, { singletonKey: `eval-${evalId}` })) ? q : null;
  }

  /**
   * Fetches at once on this process's worker of `queue`, if it has one (a job was just queued). pg-boss alone looks
   * for jobs every `pollS`: a run queued just after a look would wait that long on an idle worker.
   */
  wake(queue: string): void {
    const id = this.workers.get(queue);
    if (id) this.boss.notifyWorker(id);
  }

  /** Takes run jobs of these providers, one at a time per worker process (`handle` returns when the run ended). */
  async workRuns(providers: string[], handle: (runId: number) => Promise<void>): Promise<void> {
    for (const p of providers) await this.work<{ runId: number }>(runQueue(p), (d) => handle(d.runId));
  }

  /** Takes eval jobs of models on these providers, one at a time per provider (`handle` returns when it ended). */
  async workEvals(providers: string[], handle: (evalId: number) => Promise<void>): Promise<void> {
    for (const p of providers) await this.work<{ evalId: number }>(evalQueue(p), (d) => handle(d.evalId));
  }

  private async work<T extends object>(q: string, handle: (data: T) => Promise<void>): Promise<void> {
    if (this.working.has(q)) return;
    await this.queue(q, WORK_QUEUE);
    this.working.add(q);
    const id = await this.boss.work<T>(
      q,
      { batchSize: 1, pollingIntervalSeconds: this.opts.pollS ?? 2 },
      async ([job]) => {
        try {
          await handle(job.data);
        } finally {
          // More may be waiting: look again at once rather than after the rest of the polling interval.
          this.wake(q);
        }
      },
    );
    this.workers.set(q, id);
  }

  /** Arms schedule `id` as a pg-boss cron and takes its fires on this replica (one replica gets each fire). */
  async armSchedule(id: number, cron: string, tz: string, fire: () => Promise<unknown>): Promise<void> {
    const q = scheduleQueue(id);
    // A fire is never retried (a recipe that ran halfway must not run again); a replica that dies mid-fire loses it.
    await this.queue(q, { policy: "standard", retryLimit: 0, expireInSeconds: 3600 });
    await this.boss.schedule(q, cron, { scheduleId: id }, { tz, retryLimit: 0 });
    if (this.working.has(q)) return;
    this.working.add(q);
    await this.boss.work(q, { batchSize: 1, pollingIntervalSeconds: this.opts.pollS ?? 2 }, async () => {
      await fire();
    });
  }

  async disarmSchedule(id: number, opts: { everywhere: boolean }): Promise<void> {
    const q = scheduleQueue(id);
    if (opts.everywhere) await this.boss.unschedule(q).catch(() => {});
    if (this.working.delete(q)) await this.boss.offWork(q).catch(() => {});
  }

  async stop(): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: 10_000 }).catch((err) => {
      this.log.warn({ err }, "queue: stopping pg-boss failed");
    });
  }
}
