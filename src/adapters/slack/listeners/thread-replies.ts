/**
 * People's replies in a run's thread are the run's discussion: each is kept as a run event of type "discussion"
 * ({ user, userId, text, ts, files }) so the run's history shows what people said about it. Bots' messages
 * (the bot's own progress lines included) are not discussion; a retried delivery is stored once.
 */
import type { App as BoltApp } from "@slack/bolt";
import type { SlackContext } from "../context.ts";

interface ThreadMessage {
  subtype?: string;
  channel: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  files?: Array<{ name?: string }>;
}

export function registerThreadReplies(bolt: BoltApp, s: SlackContext): void {
  bolt.event("message", async ({ event }) => {
    const m = event as unknown as ThreadMessage;
    if (!m.thread_ts || m.thread_ts === m.ts || !m.user || m.bot_id || m.user === s.botUserId) return;
    if (m.subtype && m.subtype !== "file_share" && m.subtype !== "thread_broadcast") return;
    const runId = s.runThreads.runOf(m.channel, m.thread_ts);
    if (runId === null) return;
    if (s.seen.check(`reply:${m.channel}:${m.ts}`)) return;
    const user = await s.api.userName(m.user);
    // Stored once even across a restart (the seen-set is in memory): the message ts is the key.
    if (s.app.engine.runEvents(runId, "discussion").some((e) => (e.data as { ts?: string }).ts === m.ts)) return;
    s.app.engine.addRunEvent(runId, new Date(Number(m.ts) * 1000), "discussion", {
      user,
      userId: m.user,
      text: m.text ?? "",
      ts: m.ts,
      files: (m.files ?? []).map((f) => f.name ?? "file"),
    });
  });
}
