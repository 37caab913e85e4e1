/**
 * Keeps a run's chat presence current: its card (the message that started it) is updated in place as the state
 * changes, and progress, state changes and the verdict go into the card's thread. Progress is coalesced: a run of
 * 1,000 steps posts a handful of thread messages, not 1,000. Where several processes hear a run's changes
 * (Postgres: events.claims), each keeps the card current, and each thread message is posted by the one that claims it.
 */
import crypto from "node:crypto";
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

/** The claim key of a state sentence: the same sentence in the same attempt is one post. */
const stateKey = (run: RunRecord) => {
  const reason = crypto
    .createHash("sha1")
    .update(run.stateReason ?? "")
    .digest("hex")
    .slice(0, 12);
  return `state:${run.state}:${run.attempts}:${reason}`;
};

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

  // A post into the run's thread. Where posts are claimed across processes (events.claims: Postgres), one posts it:
  // the first to claim `what` (null: only this process posts it, no claim); a run's claims and posts here go one
  // after another, so that its lines keep their order.
  const chains = new Map<number, Promise<void>>();
  const toThread = (
    run: RunRecord,
    w: NonNullable<ReturnType<typeof where>>,
    what: string | null,
    card: () => Card | Promise<Card>,
  ): Promise<unknown> => {
    const send = async () => void (await w.chat.post(w.channelId, await card(), { threadId: w.messageId }));
    const claims = events.claims;
    if (!claims) return safe(send());
    const next = (chains.get(run.id) ?? Promise.resolve())
      .then(async () => {
        if (what === null || (await claims.claim(run, what))) await send();
      })
      .catch(deps.onError);
    chains.set(run.id, next);
    void next.then(() => chains.get(run.id) === next && chains.delete(run.id));
    return next;
  };

  return events.listen({
    onRun(run, event) {
      const w = where(run);
      if (!w) return;
      const now = Date.now();
      if (event === "state") {
        lastCard.set(run.id, now);
        void safe(w.chat.update(w.channelId, w.messageId, deps.card(run)));
        void toThread(run, w, stateKey(run), () => ({ blocks: [text(stateSentence(run))] }));
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
      // A change heard from another process posts only its quarter and eval-done lines (claimed once); the lines
      // every 30 s come from the process that runs the run, where it has a chat.
      const timed = !events.claims?.relayed(run) && now - prev.at >= threadEvery;
      if (quarter > prev.quarter || timed || evalDone) {
        lastThread.set(run.id, { at: now, quarter: Math.max(quarter, prev.quarter) });
        const line = progressLine(run);
        const what =
          quarter > prev.quarter
            ? `progress:${run.attempts}:q${quarter}`
            : evalDone
              ? `progress:${run.attempts}:eval:${p?.evalModel}`
              : null;
        if (line && p?.step !== 0) void toThread(run, w, what, () => ({ blocks: [text(line)] }));
      }
    },
    async onVerdict(run, verdict) {
      const w = where(run);
      if (!w) return;
      await toThread(run, w, "verdict", () => deps.verdictCard(run, verdict));
    },
  });
}
