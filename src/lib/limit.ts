/** A counting semaphore: at most `n` tasks run at once; the rest wait in arrival order. */
export class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly n: number) {
    if (!(n >= 1)) throw new Error(`concurrency must be >= 1, got ${n}`);
  }
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/**
 * How long to wait before retry number `attempt` (0-based): the server's Retry-After when it sent one
 * (seconds or an HTTP date), else exponential backoff with full jitter, capped.
 */
export function retryDelayMs(
  attempt: number,
  retryAfter: string | null,
  opts: { baseMs?: number; capMs?: number; random?: () => number } = {},
): number {
  const cap = opts.capMs ?? 30_000;
  if (retryAfter) {
    const secs = Number(retryAfter);
    if (Number.isFinite(secs)) return Math.min(cap * 4, Math.max(0, secs * 1000));
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.min(cap * 4, Math.max(0, at - Date.now()));
  }
  const base = opts.baseMs ?? 500;
  const exp = Math.min(cap, base * 2 ** attempt);
  return Math.round(exp / 2 + (opts.random ?? Math.random)() * (exp / 2));
}
