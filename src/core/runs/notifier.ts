/**
 * Keeps a run's chat presence current: its card (the message that started it) is updated in place as the state
 * changes, and progress, state changes and the verdict go into the card's thread. Progress is coalesced: a run of
 * 1,000 steps posts a handful of thread messages, not 1,000.
 */
import { text, type Card } from "../cards.ts";
import type { ChatPort, RunRecord } from "../ports.ts";
import { progressLine } from "./cards.ts";
import { STATE_LABEL } from "./states.ts";
import type { RunEvents, RunVerdict } from "./events.ts";

export interface NotifierDeps {
  chat: () => ChatPort | undefined;
  card: (run: RunRecord) => Card;
  verdictCard: (run: RunRecord, verdict: RunVerdict) => Card | Promise<Card>;
  onError: (err: unknown) => void;
  /** Thread progress at most this often (default 30 s), plus every quarter of training. */
  threadEveryMs?: number;
  /** Card edits at most this often while running (default 3 s). */
  cardEveryMs?: number;
}

export function stateSentence(run: RunRecord): string {
  const reason = run.stateReason ? `: ${run.stateReason}` : "";
  switch (run.state) {
    case "running":
      return run.attempts > 1 ? `Run ${run.id} resumed (attempt ${run.attempts})${reason}.` : `Run ${run.id} started.`;
    case "succeeded":
      return `Run ${run.id} succeeded.`;
    case "failed":
      return `Run ${run.id} failed${reason}.`;
    case "cancelled":
      return `Run ${run.id} was cancelled${reason}.`;
    default:
      return `Run ${run.id} is ${STATE_LABEL[run.state]}${reason}.`;
  }
}

export function attachRunNotifier(events: RunEvents, deps: NotifierDeps): () => void {
  const lastThread = new Map<number, { at: number; quarter: number }>();
  const lastCard = new Map<number, number>();
  const threadEvery = deps.threadEveryMs ?? 30_000;
  const cardEvery = deps.cardEveryMs ?? 3_000;

  const where = (run: RunRecord) => {
    const chat = deps.chat();
    return chat && run.channelId && run.messageId ? { chat, channelId: run.channelId, messageId: run.messageId } : null;
  };
  const safe = (p: Promise<unknown>) => p.catch(deps.onError);

  return events.listen({
    onRun(run, event) {
      const w = where(run);
      if (!w) return;
      const now = Date.now();
      if (event === "state") {
        lastCard.set(run.id, now);
        void safe(w.chat.update(w.channelId, w.messageId, deps.card(run)));
        void safe(w.chat.post(w.channelId, { blocks: [text(stateSentence(run))] }, { threadId: w.messageId }));
        return;
      }
      if (now - (lastCard.get(run.id) ?? 0) >= cardEvery) {
        lastCard.set(run.id, now);
        void safe(w.chat.update(w.channelId, w.messageId, deps.card(run)));
      }
      const p = run.progress;
      const quarter = p?.phase === "training" && p.totalSteps ? Math.floor(((p.step ?? 0) / p.totalSteps) * 4) : -1;
      const prev = lastThread.get(run.id) ?? { at: 0, quarter: -1 };
      const evalDone = p?.phase === "evaluating" && p.evalDone === p.evalTotal;
      if (quarter > prev.quarter || now - prev.at >= threadEvery || evalDone) {
        lastThread.set(run.id, { at: now, quarter: Math.max(quarter, prev.quarter) });
        const line = progressLine(run);
        if (line && p?.step !== 0)
          void safe(w.chat.post(w.channelId, { blocks: [text(line)] }, { threadId: w.messageId }));
      }
    },
    async onVerdict(run, verdict) {
      const w = where(run);
      if (!w) return;
      await safe(
        Promise.resolve(deps.verdictCard(run, verdict)).then((card) =>
          w.chat.post(w.channelId, card, { threadId: w.messageId }),
        ),
      );
    },
  });
}
