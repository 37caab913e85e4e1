/**
 * People's messages in a run's thread are the run's discussion (the kernel keeps each once). A thread started from
 * a run's card has the card's id, so the thread's id is the card's message id. Reading other people's messages
 * needs the Message Content intent (on when DISCORD_WATCH_CHANNELS is set; docs/discord.md).
 */
import type { Message } from "discord.js";
import type { DiscordContext } from "../context.ts";

export function onThreadReply(d: DiscordContext, m: Message): void {
  if (!m.channel.isThread() || !m.channel.parentId) return;
  d.kernel.threadReply({
    kind: "reply",
    user: d.actor(m.author, m.member, m.guild),
    channelId: m.channel.parentId,
    threadId: m.channelId,
    messageId: m.id,
    text: m.content,
    files: [...m.attachments.values()].map((a) => a.name),
    at: m.createdAt,
  });
}
