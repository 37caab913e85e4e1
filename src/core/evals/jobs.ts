/**
 * Stand-alone evals as jobs (with Postgres: docs/scale.md). `/tune eval` and `/tune experiment reeval` claim their eval
 * in the command (the budget's check and reservation happen there, as before), mark it queued (its lease owner is
 * QUEUED_EVAL_OWNER) and hand its id to the queue; a worker that serves the model's provider takes the job, takes the
 * eval's lease and answers it. The eval's lease stays the one guard against two processes answering it: a job
 * retried after its process died finds the eval finished, or resumes it from its stored rows.
 *
 * Eval changes (progress, the end) go on this bus; the scale layer tells them to the other processes, so the
 * command waiting on another replica shows progress and its card, and, when that replica died, a surviving chat
 * replica posts the card where the command was typed (attachEvalNotifier), once: the posting is claimed in the
 * database.
 */
import type { Card } from "../cards.ts";
import type { ChatPort, EvalRecord } from "../ports.ts";

/** What the scale layer gives the eval service to queue evals (set only where a queue runs: Postgres). */
export interface EvalJobs {
  /** Offers queued eval `ev` to the processes that take evals of models on `provider`. */
  offer(ev: EvalRecord, provider: string): Promise<void>;
}

export interface EvalListener {
  /** Rows answered of a queued eval, from whichever process answers it. */
  onProgress?(evalId: number, done: number, total: number): void;
  /** A queued eval ended (succeeded or failed). */
  onEnded?(ev: EvalRecord): void | Promise<void>;
}

export class EvalEvents {
  private readonly listeners: EvalListener[] = [];
  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  listen(l: EvalListener): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  progress(evalId: number, done: number, total: number): void {
    for (const l of this.listeners) {
      try {
        l.onProgress?.(evalId, done, total);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  ended(ev: EvalRecord): void {
    for (const l of this.listeners) void Promise.resolve(l.onEnded?.(ev)).catch(this.onError);
  }
}

export interface EvalNotifierDeps {
  chat: () => ChatPort | undefined;
  /** The card of an ended eval (the same as the command's). */
  card: (ev: EvalRecord) => Card | Promise<Card>;
  /** Claims the posting (true once, and only when the command that waited for it is gone). */
  claim: (ev: EvalRecord) => boolean;
  onError: (err: unknown) => void;
}

/**
 * Posts the card of a queued eval whose command's process is gone in the channel where the command was typed: every
 * chat replica hears the eval end, one claims the posting.
 */
export function attachEvalNotifier(events: EvalEvents, deps: EvalNotifierDeps): () => void {
  return events.listen({
    async onEnded(ev) {
      const chat = deps.chat();
      if (!chat || ev.queuedAt === null || !ev.replyChannelId || ev.repliedAt) return;
      if (!deps.claim(ev)) return;
      try {
        await chat.post(ev.replyChannelId, await deps.card(ev));
      } catch (err) {
        deps.onError(err);
      }
    },
  });
}
