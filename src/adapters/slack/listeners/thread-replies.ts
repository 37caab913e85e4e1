/**
 * People's replies in a run's thread are the run's discussion (the kernel keeps each as a run event "discussion",
 * once, also across a restart). Bots' messages (the bot's own progress lines included) are not discussion.
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
    if (s.kernel.subjectOf(m.channel, m.thread_ts) === null) return;
    const name = await s.api.userName(m.user);
    s.kernel.threadReply({
      kind: "reply",
      user: { id: m.user, name },
      channelId: m.channel,
      threadId: m.thread_ts,
      messageId: m.ts,
      text: m.text ?? "",
      files: (m.files ?? []).map((f) => f.name ?? "file"),
      at: new Date(Number(m.ts) * 1000),
    });
  });
}
