/**
 * One outbox per channel: the bot's writes into a channel leave one at a time, at least `intervalMs` apart (Slack
 * allows about one message a second per channel), a 429 holds the channel for its Retry-After and then sends the
 * same call again, and edits of one message that wait in the queue collapse into the latest (a run reporting
 * progress every second causes one edit per interval, not one per report).
 */
import { webApi } from "@slack/bolt";
import { nextRetryMs } from "../../lib/retry.ts";

export interface OutboxOptions {
  intervalMs: number;
  /** 429s tolerated for one call before it fails. */
  maxRateLimitRetries?: number;
  onRateLimited?: (channel: string, retryAfterSec: number) => void;
}

interface Task {
  key?: string;
  fn: () => Promise<unknown>;
  waiters: Array<{ resolve: (v: unknown) => void; reject: (e: unknown) => void }>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A 429 from @slack/web-api (with rejectRateLimitedCalls), as the seconds to wait; else null. */
export function retryAfterOf(err: unknown): number | null {
  const e = err as { code?: string; retryAfter?: number } | null;
  if (e && e.code === webApi.ErrorCode.RateLimitedError && typeof e.retryAfter === "number") return e.retryAfter;
  return null;
}

/** Calls `fn`, waiting out 429s (Retry-After) up to `max` times. For calls that are not paced per channel. */
export async function withRateLimitRetry<T>(
  fn: () => Promise<T>,
  max = 5,
  onLimited?: (sec: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const sec = retryAfterOf(err);
      const waitMs =
        sec === null ? null : nextRetryMs(attempt, { status: 429, retryAfter: String(sec) }, { maxRetries: max });
      if (sec === null || waitMs === null) throw err;
      onLimited?.(sec);
      await sleep(waitMs);
    }
  }
}

class ChannelQueue {
  private readonly queue: Task[] = [];
  private running = false;
  private nextAt = 0;
  closed = false;

  constructor(
    private readonly channel: string,
    private readonly opts: OutboxOptions,
  ) {}

  get idle() {
    return !this.running && this.queue.length === 0;
  }

  push<T>(fn: () => Promise<T>, key?: string): Promise<T> {
    if (this.closed) return Promise.reject(new Error("slack outbox closed"));
    return new Promise<T>((resolve, reject) => {
      const waiter = { resolve: resolve as (v: unknown) => void, reject };
      const same = key ? this.queue.find((t) => t.key === key) : undefined;
      if (same) {
        // An edit of a message already waiting: send only the newest content.
        same.fn = fn;
        same.waiters.push(waiter);
      } else {
        this.queue.push({ key, fn, waiters: [waiter] });
      }
      void this.pump();
    });
  }

  private async pump() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length && !this.closed) {
        const wait = this.nextAt - Date.now();
        if (wait > 0) await sleep(wait);
        const task = this.queue.shift();
        if (!task) break;
        try {
          const value = await this.send(task);
          for (const w of task.waiters) w.resolve(value);
        } catch (err) {
          for (const w of task.waiters) w.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async send(task: Task): Promise<unknown> {
    const max = this.opts.maxRateLimitRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      this.nextAt = Date.now() + this.opts.intervalMs;
      try {
        return await task.fn();
      } catch (err) {
        const sec = retryAfterOf(err);
        if (sec === null || attempt >= max) throw err;
        this.opts.onRateLimited?.(this.channel, sec);
        // Hold the whole channel for Retry-After, then the same call again.
        const until = Date.now() + Math.max(0, sec) * 1000;
        this.nextAt = Math.max(this.nextAt, until);
        await sleep(until - Date.now());
      }
    }
  }

  rejectPending(err: Error) {
    this.closed = true;
    for (const t of this.queue.splice(0)) for (const w of t.waiters) w.reject(err);
  }
}

export class Outbox {
  private readonly channels = new Map<string, ChannelQueue>();

  constructor(private readonly opts: OutboxOptions) {}

  /** Queues a write into `channel`. Writes with the same `coalesceKey` still waiting are replaced by this one. */
  send<T>(channel: string, fn: () => Promise<T>, coalesceKey?: string): Promise<T> {
    let q = this.channels.get(channel);
    if (!q) {
      q = new ChannelQueue(channel, this.opts);
      this.channels.set(channel, q);
    }
    return q.push(fn, coalesceKey);
  }

  /** Waits until every queue is empty, or `timeoutMs`; then fails what is left. */
  async close(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && [...this.channels.values()].some((q) => !q.idle)) await sleep(20);
    for (const q of this.channels.values()) q.rejectPending(new Error("slack outbox closed"));
  }
}
