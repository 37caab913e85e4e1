/**
 * Buttons: a button runs its command (carried in its custom id) as the person who pressed it, with the same
 * permission checks; the kernel decides where the answer goes (the same run's card edited in place, a new run's
 * card as a new message, anything else in the pressed card's thread, a refusal or a stale button ephemerally).
 */
import { type ButtonInteraction, MessageFlags } from "discord.js";
import type { DiscordContext } from "../context.ts";

/** Buttons being handled (message:custom id): a second press while the first runs is told so. */
const pressing = new Set<string>();

export async function onButton(d: DiscordContext, i: ButtonInteraction): Promise<void> {
  const command = d.buttons.command(i.customId);
  if (!command) {
    // one of ours whose command is gone (a database from before it was made): say so rather than fail silently
    if (i.customId.startsWith("tune#"))
      await i
        .reply({
          content: "This button no longer knows its command. Type the command instead (/tune help lists them).",
          flags: MessageFlags.Ephemeral,
        })
        .catch(() => {});
    return; // else not one of ours
  }
  const key = `${i.message.id}:${i.customId}`;
  if (pressing.has(key)) {
    await i.reply({ content: "Already on it: that button was just pressed.", flags: MessageFlags.Ephemeral });
    return;
  }
  pressing.add(key);
  try {
    await i.deferUpdate();
    // Pressed inside a thread (a run's): answers about the card stay in it; a new run's card goes to the channel.
    // An archived thread is not in the client's cache: asked for.
    const channel = i.channel ?? (await i.client.channels.fetch(i.channelId).catch(() => null));
    const thread = channel?.isThread() ? channel : null;
    if (thread) d.chat.knowThread(thread.id);
    await d.kernel.button(
      {
        kind: "button",
        user: d.actor(i.user, i.member, i.guild),
        channelId: i.channelId,
        requestId: i.id,
        command,
        messageId: i.message.id,
      },
      {
        private: async (card) => {
          await i.followUp({ ...d.options(card), flags: MessageFlags.Ephemeral });
        },
        public: async (card) => {
          if (thread?.parentId) {
            const { messageId } = await d.chat.post(thread.parentId, card);
            return { channelId: thread.parentId, messageId };
          }
          const posted = await i.followUp(d.options(card));
          d.chat.remember(posted.id, card.title);
          return { channelId: i.channelId, messageId: posted.id };
        },
        // The same run's card: edited in place, in order with the notifier's edits of it.
        edit: (card) =>
          d.chat.update(i.channelId, i.message.id, card).catch(async (err) => {
            d.log.warn({ err: d.errInfo(err) }, "in-place edit failed; editing through the interaction");
            await i.editReply(d.options(card));
          }),
      },
    );
  } catch (err) {
    d.log.error({ err: d.errInfo(err) }, "button failed");
    const card = d.kernel.failure(err).card;
    await (i.deferred || i.replied
      ? i.followUp({ ...d.options(card), flags: MessageFlags.Ephemeral })
      : i.reply({ ...d.options(card), flags: MessageFlags.Ephemeral })
    ).catch(() => {});
  } finally {
    pressing.delete(key);
  }
}
