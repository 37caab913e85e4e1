/**
 * A replica's part in a deployment on Postgres (docs/scale.md). `startScale` gives a process:
 * - the queue (pg-boss): run jobs for runs that become ready, a sweep every few seconds that re-offers runs whose
 *   worker died (their lease ran out), and, for a worker, the run jobs of the providers it declares;
 * - schedules armed as pg-boss crons (each fire runs on one replica), and a missed fire taken by one replica;
 * - run changes told to the other replicas (LISTEN/NOTIFY), so the chat replica that posted a run's card keeps it
 *   current while a worker on another machine runs it; each message of a run's thread (a state sentence, a progress
 *   line, the verdict) is posted once across the replicas: the first to claim it in the database posts it;
 * - stand-alone evals as jobs (src/core/evals/jobs.ts): queued by the command, taken by a process that serves the
 *   model's provider, offered again when the process answering one died; their changes told to the other replicas
 *   (the waiting command shows progress and its card; if its replica died, a surviving one posts the card);
 * - the leader lease for connections that allow one replica (Socket Mode, the Discord gateway).
 */
import os from "node:os";
import pg from "pg";
import { type PgDb, openPg } from "../../db/pg/client.ts";
import { pgChatRequests } from "../../db/pg/repos/chat.ts";
import {
  claimMissedFire,
  EVAL_CHANNEL,
  JOB_CHANNEL,
  notifyEval,
  notifyJob,
  notifyRun,
  RUN_CHANNEL,
} from "../../db/pg/scale.ts";
import type { App } from "../app.ts";
import type { EvalRecord, RunRecord } from "../core/ports.ts";
import { GPU_PREFIX } from "../providers/selfhosted/provider.ts";
import type { RunPostClaims, RunVerdict } from "../core/runs/events.ts";
import type { RunWorker } from "../core/runs/worker.ts";
import type { ScheduleTimer } from "../core/schedules/scheduler.ts";
import { runVerdict } from "../views/runs.ts";
import { LeaderLease } from "./leader.ts";
import { PgQueue, type QueueOptions } from "./queue.ts";

const READY: RunRecord["state"][] = ["queued", "running", "stalled"];

export interface ScaleOptions {
  /** "chat": serves chat (and schedules); "worker": runs jobs only. */
  role: "chat" | "worker";
  /**
   * Providers whose runs this process takes; [] takes none (a chat replica beside workers). Default: all it has
   * (but selfhosted on a chat replica when TUNELOOP_SELFHOSTED_WORKER=external).
   */
  providers?: string[];
  /**
   * Providers whose models' queued evals this process answers (src/core/evals/jobs.ts). Default: `providers` when
   * given, else the trainers it runs and every endpoint it has settings for.
   */
  evalProviders?: string[];
  /** Who this process is, for `run start`'s "who will run it" (the workers table). */
  label?: string;
  queue?: QueueOptions;
  /** The run worker that runs this process's jobs (default: the app's). */
  worker?: RunWorker;
  /** How often runs whose worker died are offered again (ms). */
  sweepMs?: number;
}

export interface Scale {
  db: PgDb;
  queue: PgQueue;
  /** For createScheduler(app, timer): schedules fire through the queue, once across replicas. */
  timer: ScheduleTimer;
  providers: string[];
  /** Providers whose models' queued evals this process answers. */
  evalProviders: string[];
  /** A lease named `name` (e.g. "slack-socket"), for connections only one replica may hold. */
  leader(name: string): LeaderLease;
  stop(): Promise<void>;
}

/** The endpoints (TUNELOOP_ENDPOINTS) this process has settings for: it can answer evals of their models. */
export function endpointNames(app: App): string[] {
  const trainers = app.providers.trainerNames();
  return app.providers.providerNames().filter((p) => p !== GPU_PREFIX && !trainers.includes(p));
}

export async function startScale(app: App, opts: ScaleOptions): Promise<Scale> {
  const url = app.config.scale.databaseUrl;
  if (!url) throw new Error("startScale needs TUNELOOP_DATABASE_URL (postgres://...)");
  const db = openPg(url, { application: `tuneloop-${opts.role}` });
  const queue = await PgQueue.start(url, app.log, { schedule: opts.role === "chat", ...opts.queue });
  const origin = `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const timers: NodeJS.Timeout[] = [];
  const stops: Array<() => Promise<void>> = [];
  const warn = (what: string) => (err: unknown) => app.log.warn({ err }, what);

  // Run changes that came from another replica (read back and passed to this one's listeners): they are not told
  // back (each replica would echo every change to the others for ever) nor offered again (their replica did).
  const replayed = new WeakSet<RunRecord>();
  // Every process that hears a run change keeps the run's card current, but each message of the run's thread is
  // posted by the one process that claims it first (chat_requests: one INSERT ... ON CONFLICT DO NOTHING), wherever
  // the run ran: with three chat replicas and a worker, the verdict is posted once, by a replica that is alive.
  const requests = pgChatRequests(db);
  const claims: RunPostClaims = {
    relayed: (run) => replayed.has(run),
    claim: (run, what) => requests.first(`run-post:${run.id}:${what}`, app.clock.now()),
  };
  app.runs.events.claims = claims;

  // Runs that become ready are offered as jobs, and the workers told at once (NOTIFY), so that an idle worker takes
  // a new run now rather than at its next poll; the sweep offers again those whose worker died (once: singleton).
  const offer = (run: Pick<RunRecord, "id" | "provider">) =>
    queue
      .enqueueRun(run)
      .then((q) => (q ? notifyJob(db, q) : undefined))
      .catch(warn("queue: offering a run failed"));
  const offListen = app.runs.events.listen({
    onRun: (run, event) => {
      if (event === "state" && run.state === "queued" && !replayed.has(run)) void offer(run);
    },
  });
  // Queued evals: offered as jobs on their provider's queue (the command offers each once; the sweep again those not
  // taken yet, and those whose process died: their lease ran out).
  const offerEval = (ev: EvalRecord, provider: string) =>
    queue
      .enqueueEval(ev.id, provider)
      .then((q) => (q ? notifyJob(db, q) : undefined))
      .catch(warn("queue: offering an eval failed"));
  app.evals.jobs = { offer: offerEval };
  // Eval changes heard from another process are passed to this one's listeners, not told back.
  const replayedEvals = new WeakSet<EvalRecord>();
  let replayingProgress = false;
  const sweep = () => {
    const now = Date.now();
    for (const r of app.engine.listRuns({ states: READY, limit: 500 }))
      if (!r.leaseUntil || r.leaseUntil.getTime() < now) void offer(r);
    try {
      for (const ev of app.engine.evalsToOffer(new Date(now))) {
        const provider = app.evals.jobProvider(ev);
        if (provider) void offerEval(ev, provider);
      }
      // A queued eval that ended while the replica whose command waited for it was gone: its card is posted here
      // (the chat's eval notifier claims it; one replica does).
      if (opts.role === "chat")
        for (const ev of app.engine.evalsToReply(new Date(now))) {
          replayedEvals.add(ev);
          app.evals.events.ended(ev);
        }
    } catch (err) {
      warn("queue: the eval sweep failed")(err);
    }
  };
  timers.push(setInterval(sweep, opts.sweepMs ?? 5000));
  sweep();

  // Run changes to and from the other replicas.
  const listener = new pg.Client({ connectionString: url, application_name: "tuneloop-listen" });
  listener.on("error", warn("run changes: the LISTEN connection failed"));
  await listener.connect();
  await listener.query(`LISTEN ${RUN_CHANNEL}`);
  await listener.query(`LISTEN ${JOB_CHANNEL}`);
  await listener.query(`LISTEN ${EVAL_CHANNEL}`);
  // Changes are read back at most twice a second per run (progress from busy workers must not flood this replica's
  // synchronous storage calls); a verdict is passed on as it comes.
  const pending = new Map<number, "state" | "progress">();
  listener.on("notification", (n) => {
    if (n.channel === JOB_CHANNEL) return queue.wake(n.payload ?? "");
    if (n.channel === EVAL_CHANNEL) return hearEval(n.payload ?? "{}");
    try {
      const m = JSON.parse(n.payload ?? "{}") as {
        origin: string;
        id: number;
        event?: "state" | "progress";
        verdict?: RunVerdict;
        /** A verdict too large to tell: read it back from the database. */
        verdictStored?: boolean;
      };
      if (m.origin === origin) return;
      if (m.verdict || m.verdictStored) {
        const run = app.engine.runById(m.id);
        const verdict = run && (m.verdict ?? runVerdict(app, run));
        if (run && verdict) {
          replayed.add(run);
          void app.runs.events.verdict(run, verdict);
        }
        return;
      }
      if (pending.get(m.id) !== "state") pending.set(m.id, m.event ?? "state");
    } catch (err) {
      warn("run changes: a notification could not be read")(err);
    }
  });
  timers.push(
    setInterval(() => {
      const batch = [...pending];
      pending.clear();
      for (const [id, event] of batch) {
        try {
          const run = app.engine.runById(id);
          if (run) {
            replayed.add(run);
            app.runs.events.run(run, event);
          }
        } catch (err) {
          warn("run changes: reading a run failed")(err);
        }
      }
    }, 500),
  );
  const offTell = app.runs.events.listen({
    onRun: (run, event) => {
      if (replayed.has(run)) return;
      return notifyRun(db, JSON.stringify({ origin, id: run.id, event })).catch(warn("run changes: NOTIFY failed"));
    },
    onVerdict: async (run, verdict) => {
      if (replayed.has(run)) return;
      const payload = JSON.stringify({ origin, id: run.id, verdict });
      // NOTIFY carries under 8000 bytes; of a larger verdict, the others are told that it is stored (they read it
      // back: the run's evals, comparisons and hypotheses).
      await notifyRun(
        db,
        payload.length < 7900 ? payload : JSON.stringify({ origin, id: run.id, verdictStored: true }),
      ).catch(warn("run changes: NOTIFY failed"));
    },
  });
  // Queued evals' changes, to and from the other processes.
  const hearEval = (payload: string) => {
    try {
      const m = JSON.parse(payload) as { origin: string; id: number; done?: number; total?: number; ended?: boolean };
      if (m.origin === origin) return;
      if (m.ended) {
        const ev = app.engine.evalById(m.id);
        if (ev && ev.state !== "running") {
          replayedEvals.add(ev);
          app.evals.events.ended(ev);
        }
        return;
      }
      replayingProgress = true;
      try {
        app.evals.events.progress(m.id, m.done ?? 0, m.total ?? 0);
      } finally {
        replayingProgress = false;
      }
    } catch (err) {
      warn("eval changes: a notification could not be read")(err);
    }
  };
  const offTellEvals = app.evals.events.listen({
    onProgress: (id, done, total) => {
      if (replayingProgress) return;
      void notifyEval(db, JSON.stringify({ origin, id, done, total })).catch(warn("eval changes: NOTIFY failed"));
    },
    onEnded: async (ev) => {
      if (replayedEvals.has(ev)) return;
      await notifyEval(db, JSON.stringify({ origin, id: ev.id, ended: true })).catch(
        warn("eval changes: NOTIFY failed"),
      );
    },
  });
  stops.push(async () => {
    offTell();
    offTellEvals();
    await listener.end().catch(() => {});
  });

  // Run jobs: one run at a time per process, for the providers it declares.
  const worker = opts.worker ?? app.worker;
  // A chat replica leaves the self-hosted runs to the GPU box's worker when told so (TUNELOOP_SELFHOSTED_WORKER).
  const providers =
    opts.providers ??
    app.providers.trainerNames().filter((p) => !(p === "selfhosted" && app.config.selfhostedWorker === "external"));
  if (providers.length) {
    let chain: Promise<unknown> = Promise.resolve();
    await queue.workRuns(providers, (runId) => {
      const next = chain.then(async () => {
        const r = await worker.runNext(runId);
        // Interrupted (this process stopping): fail the job so that it is offered again at once.
        if (r && !["succeeded", "failed", "cancelled"].includes(r.state))
          throw new Error(`run ${runId} was interrupted (${r.state})`);
      });
      chain = next.catch(() => {});
      return next;
    });
    const beat = () => {
      try {
        app.engine.beatWorker({
          id: worker.owner,
          label: opts.label ?? `a tuneloop ${opts.role} (${providers.join(", ")})`,
          host: os.hostname(),
          pid: process.pid,
          startedAt: new Date(),
          seenAt: new Date(),
        });
      } catch (err) {
        warn("worker heartbeat failed")(err);
      }
    };
    beat();
    timers.push(setInterval(beat, 10_000));
  }
  // Eval jobs: a queued eval of a model on a provider this process serves, one at a time per provider (beside its
  // runs: answering is waiting on an endpoint, or the local model's threads).
  const evalProviders = opts.evalProviders ?? opts.providers ?? [...providers, ...endpointNames(app)];
  if (evalProviders.length)
    await queue.workEvals(evalProviders, async (evalId) => {
      await app.evals.answerQueued(evalId);
    });
  for (const t of timers) t.unref();

  // Schedules: pg-boss cron, once per slot across replicas; per schedule, arming and disarming in order.
  const order = new Map<number, Promise<unknown>>();
  const inOrder = (id: number, f: () => Promise<unknown>) => {
    const p = (order.get(id) ?? Promise.resolve()).then(f).catch(warn(`schedule ${id}: the queue refused`));
    order.set(id, p);
  };
  const timer: ScheduleTimer = {
    arm: (s, fire) => inOrder(s.id, () => queue.armSchedule(s.id, s.cron, s.tz, fire)),
    disarm: (id, everywhere) => inOrder(id, () => queue.disarmSchedule(id, { everywhere })),
    claimMissed: (s, next) => (s.nextFireAt ? claimMissedFire(db, s.id, s.nextFireAt, next) : Promise.resolve(false)),
  };

  const leases: LeaderLease[] = [];
  return {
    db,
    queue,
    timer,
    providers,
    evalProviders,
    leader(name) {
      const l = new LeaderLease(db, name, app.config.scale.leaderLeaseMs, app.log);
      leases.push(l);
      return l;
    },
    async stop() {
      for (const t of timers) clearInterval(t);
      offListen();
      if (app.runs.events.claims === claims) app.runs.events.claims = null;
      if (app.evals.jobs?.offer === offerEval) app.evals.jobs = null;
      for (const l of leases) await l.stop();
      await Promise.all([...order.values()]);
      await queue.stop();
      for (const s of stops) await s();
      await db.$client.end().catch(() => {});
    },
  };
}
