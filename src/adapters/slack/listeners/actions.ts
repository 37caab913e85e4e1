/**
 * Buttons on cards (Confirm / Cancel / Compare with best / Re-run): a button's value is a command, which the kernel
 * runs as the person who pressed it, with the same permission checks as typing it. The answer: a refusal or a stale
 * button ("Run 7 is already cancelled") privately to the presser; a new run (Re-run) as a new card in the channel;
 * the pressed run's own card edited in place; anything else (a comparison) in the pressed card's thread.
 */
import type { App as BoltApp, BlockAction, ButtonAction } from "@slack/bolt";
import type { SlackContext } from "../context.ts";

export function registerActions(bolt: BoltApp, s: SlackContext): void {
  bolt.action<BlockAction<ButtonAction>>(/^tune:/, async ({ ack, body, action, respond }) => {
    await ack();
    if (!s.kernel.first(`act:${body.trigger_id}:${action.action_id}`)) return;
    const channelId = body.channel?.id ?? body.container?.channel_id;
    const messageTs: string | undefined = body.message?.ts ?? body.container?.message_ts;
    const threadTs: string | undefined = body.message?.thread_ts;
    if (!channelId || !action.value || !messageTs) return;
    const userId = body.user.id;
    const label = action.text?.text ?? action.action_id;
    const command = action.value;
    s.track(async () => {
      const user = await s.actor(userId, body.user.username ?? body.user.name);
      const reply = s.reply({ channelId, userId, respond, footer: `<@${userId}> pressed *${label}*` });
      await s.kernel.button(
        {
          kind: "button",
          user,
          channelId,
          requestId: `slack:${body.trigger_id}:${action.action_id}`,
          command,
          messageId: messageTs,
          threadId: threadTs,
        },
        { ...reply, edit: (card) => s.updateCard(channelId, messageTs, card) },
      );
    });
  });
}
