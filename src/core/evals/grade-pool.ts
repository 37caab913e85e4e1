/**
 * Graders whose patterns users type (regex graders, JSON-schema `pattern`s) run here: on a few worker threads that
 * stay up between rows and evals, each answer with a deadline. A pattern that backtracks catastrophically on an
 * answer (`^(a+)+$` against "aaaa…b") would freeze the bot's thread for minutes; here its thread is terminated at
 * the deadline, the row is scored as a fail that says so (`timedOut`), and a fresh thread takes the next rows.
 * The deadline counts grading only (a thread's start-up is not charged to the row).
 *
 * A pattern that times out on STRIKES answers in a row is not run again for BENCH_MS: its answers (those queued too)
 * fail at once, saying why, so a pack of thousands of such rows cannot hold the pool's threads for hours while every
 * other eval's patterns wait behind it. After that it is tried again; a graded answer clears its strikes.
 */
import type { Worker } from "node:worker_threads";
import { startWorker } from "../../lib/worker.ts";
import { type Grade, type GradeInput, type GraderSpec, type PatternGraderRunner, userPattern } from "./graders.ts";

export const DEFAULT_GRADER_TIMEOUT_MS = 1000;
/** Timeouts in a row after which a pattern is benched. */
export const STRIKES = 3;
const BENCH_MS = 10 * 60_000;

interface Job {
  id: number;
  spec: string;
  pattern: string;
  input: { output: string; expected: string };
  resolve: (g: Grade) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  timer: NodeJS.Timeout | null;
}

export class GradePool implements PatternGraderRunner {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;
  /** Per grader spec: timeouts in a row, and until when it is benched. */
  private readonly strikes = new Map<string, { count: number; until: number }>();
  readonly size: number;
  readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(opts: { size?: number; timeoutMs?: number; now?: () => number } = {}) {
    this.size = Math.max(1, opts.size ?? 2);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_GRADER_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
  }

  private benched(spec: string): boolean {
    const s = this.strikes.get(spec);
    return Boolean(s && s.until > this.now());
  }

  private benchedGrade(job: Job): Grade {
    return {
      score: 0,
      pass: false,
      timedOut: true,
      detail: `not graded: ${job.pattern} timed out on ${STRIKES} answers in a row (${this.timeoutMs} ms each), so for ${BENCH_MS / 60_000} minutes its answers count as fails without running it. Fix the pattern (avoid nested repeats such as (a+)+) and run the eval again.`,
    };
  }

  /** Grades one answer with `spec` on a pool thread; past the deadline the row fails with `timedOut`. */
  grade(spec: GraderSpec, input: GradeInput): Promise<Grade> {
    if (this.closed) return Promise.reject(new Error("grade pool closed"));
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        spec: JSON.stringify(spec),
        pattern: userPattern(spec) ?? spec.kind,
        input: { output: String(input.output ?? ""), expected: String(input.expected ?? "") },
        resolve,
        reject,
      };
      if (this.benched(job.spec)) return resolve(this.benchedGrade(job));
      this.queue.push(job);
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error("grade pool closed"));
    const slots = this.slots.splice(0);
    for (const s of slots) {
      if (s.timer) clearTimeout(s.timer);
      s.job?.reject(new Error("grade pool closed"));
      s.worker.removeAllListeners();
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length) {
      let slot = this.slots.find((s) => s.ready && !s.job);
      if (!slot) {
        if (this.slots.length >= this.size) return;
        this.spawn();
        if (!this.slots.some((s) => s.ready && !s.job)) return; // the new thread takes work once it is ready
        slot = this.slots.find((s) => s.ready && !s.job);
        if (!slot) return;
      }
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      slot.timer = setTimeout(() => this.expire(slot as Slot), this.timeoutMs);
      slot.worker.postMessage({ id: job.id, spec: job.spec, ...job.input });
    }
  }

  private spawn(): void {
    const worker = startWorker(new URL("./grade-worker.ts", import.meta.url), {}, { bundle: true });
    const slot: Slot = { worker, ready: false, job: null, timer: null };
    this.slots.push(slot);
    worker.on("message", (m: { ready?: true; id?: number; grade?: Grade; error?: string }) => {
      if (m.ready) {
        slot.ready = true;
        worker.unref();
        this.pump();
        return;
      }
      const job = slot.job;
      if (!job || m.id !== job.id) return;
      this.finish(slot);
      this.strikes.delete(job.spec);
      if (m.grade) job.resolve(m.grade);
      else job.reject(new Error(`grader failed: ${m.error}`));
      this.pump();
    });
    const fail = (err: Error) => {
      if (!this.slots.includes(slot)) return; // already ended (expired, or 'exit' after 'error')
      this.drop(slot);
      const job = slot.job;
      slot.job = null;
      job?.reject(err);
      // a thread that dies before it is ready would die again: fail what waits instead of starting threads forever
      if (!slot.ready)
        for (const j of this.queue.splice(0)) j.reject(new Error(`grade worker failed to start: ${err.message}`));
      else if (!this.closed) this.pump();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`grade worker exited with code ${code}`)));
  }

  private finish(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    slot.worker.unref();
  }

  private drop(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
  }

  /** The deadline passed: the thread is stuck in the pattern. End it, fail the row, let a fresh thread go on. */
  private expire(slot: Slot): void {
    const job = slot.job;
    if (!job) return;
    slot.job = null;
    this.drop(slot);
    slot.worker.removeAllListeners();
    void slot.worker.terminate();
    job.resolve({
      score: 0,
      pass: false,
      timedOut: true,
      detail: `grading timed out after ${this.timeoutMs} ms: ${job.pattern} backtracks too much on this answer (counted as a fail). Avoid nested repeats such as (a+)+.`,
    });
    const s = this.strikes.get(job.spec) ?? { count: 0, until: 0 };
    s.count++;
    if (s.count >= STRIKES) {
      s.until = this.now() + BENCH_MS;
      s.count = 0;
      // what waits with the same pattern fails now, instead of holding a thread a deadline each
      for (let i = this.queue.length - 1; i >= 0; i--)
        if (this.queue[i].spec === job.spec) {
          const [q] = this.queue.splice(i, 1);
          q.resolve(this.benchedGrade(q));
        }
    }
    this.strikes.set(job.spec, s);
    this.pump();
  }
}
