/**
 * Files dropped in a watched channel (DISCORD_WATCH_CHANNELS): each dataset file (the kernel's list of file types)
 * is run as `dataset upload`, or as the `/tune dataset upload NAME ...` typed with it (one file only). The answer is a
 * reply to the message: "Reading…", edited with progress, then with the report; a refusal (words, permission) comes
 * before any download.
 */
import type { Message } from "discord.js";
import { isDatasetFileName } from "../../../chat/files.ts";
import { typedWords } from "../../../chat/kernel.ts";
import type { InboundFile, Reply } from "../../../chat/types.ts";
import type { Card } from "../../../core/cards.ts";
import { type DiscordContext, discordFile } from "../context.ts";

export async function onFileDrop(d: DiscordContext, m: Message): Promise<void> {
  const files = [...m.attachments.values()].filter((a) => isDatasetFileName(a.name));
  if (!files.length) return;
  // "/tune dataset upload NAME --drop-bad-rows" as the message's text names the dataset (one file only).
  const typed = files.length === 1 ? typedWords(m.content) : null;
  const words = typed && typed[0] === "dataset" && typed[1] === "upload" ? typed : ["dataset", "upload"];
  const reply = (file: InboundFile): Reply => {
    let progressId: Promise<string> | null = null;
    let last = 0;
    const say = (card: Card) => d.chat.post(m.channelId, card, { replyTo: m.id });
    const answer = async (card: Card) => {
      if (!progressId) return { channelId: m.channelId, messageId: (await say(card)).messageId };
      const messageId = await progressId;
      await d.chat.update(m.channelId, messageId, card);
      return { channelId: m.channelId, messageId };
    };
    const fetch = file.fetch;
    file.fetch = (dest, limit) => {
      progressId = say({ blocks: [{ type: "text", text: `📥 Reading ${file.name}…` }] }).then((r) => r.messageId);
      return progressId.then(() => fetch(dest, limit));
    };
    return {
      progress: (line) => {
        const now = Date.now();
        if (!progressId || now - last < d.timing.progressEveryMs) return;
        last = now;
        void progressId
          .then((id) => d.chat.update(m.channelId, id, { blocks: [{ type: "text", text: `📥 ${line}` }] }))
          .catch(() => {});
      },
      // No ephemeral messages outside an interaction: a refusal is a reply to the message.
      private: async (card) => {
        await answer(card);
      },
      public: answer,
    };
  };
  const attachments = files.map((a) => discordFile({ id: a.id, url: a.url, name: a.name, size: a.size }));
  const byFile = new Map(attachments.map((f) => [f, reply(f)]));
  await d.kernel.fileDrop(
    {
      kind: "file",
      user: d.actor(m.author, m.member, m.guild),
      channelId: m.channelId,
      requestId: m.id,
      words,
      files: attachments,
    },
    (f) => byFile.get(f) as Reply,
  );
}
