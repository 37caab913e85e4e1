/**
 * Buttons on cards (Confirm / Cancel / Compare with best / Re-run): a button's value is a command, run as the person
 * who pressed it, with the same permission checks as typing it. The answer: a refusal or a stale button ("Run 7 is
 * already cancelled") privately to the presser; a new run (Re-run) as a new card in the channel; the pressed run's
 * own card edited in place; anything else (a comparison) in the pressed card's thread.
 */
import type { App as BoltApp, BlockAction, ButtonAction, RespondFn } from "@slack/bolt";
import { runCommandLine } from "../../../../commands/dispatch.ts";
import type { SlackContext } from "../context.ts";
import { failureOutcome } from "../failure.ts";

export function registerActions(bolt: BoltApp, s: SlackContext): void {
  bolt.action<BlockAction<ButtonAction>>(/^tune:/, async ({ ack, body, action, respond }) => {
    await ack();
    if (s.seen.check(`act:${body.trigger_id}:${action.action_id}`)) return;
    s.track(() => pressed(s, body, action, respond));
  });
}

async function pressed(
  s: SlackContext,
  body: BlockAction<ButtonAction>,
  action: ButtonAction,
  respond: RespondFn,
): Promise<void> {
  const channelId = body.channel?.id ?? body.container?.channel_id;
  const userId = body.user.id;
  const messageTs: string | undefined = body.message?.ts ?? body.container?.message_ts;
  const threadTs: string | undefined = body.message?.thread_ts;
  if (!channelId || !action.value) return;
  const label = action.text?.text ?? action.action_id;
  const target = { channelId, userId, respond, threadTs };
  try {
    const ctx = await s.commandContext({ id: userId, name: body.user.username ?? body.user.name }, channelId, {
      requestId: `slack:${body.trigger_id}:${action.action_id}`,
    });
    const outcome = await runCommandLine(action.value, ctx);
    if (outcome.error || outcome.card.ephemeral) {
      await s.ephemeral(outcome.card, target);
      return;
    }
    const footer = `<@${userId}> pressed *${label}*`;
    if (outcome.onPosted) {
      // A new run (Re-run): its own card in the channel, kept up to date like any run's.
      await s.deliver(outcome, { channelId, userId, respond, footer });
      return;
    }
    const pressedRun = messageTs ? s.runThreads.runOf(channelId, messageTs) : null;
    const answerRun = (outcome.data as { run?: { id?: number } } | null)?.run?.id;
    if (messageTs && pressedRun && pressedRun === answerRun) {
      await s.updateCard(channelId, messageTs, outcome.card);
      return;
    }
    await s.deliver(outcome, { channelId, userId, respond, threadTs: threadTs ?? messageTs, footer });
  } catch (err) {
    await s.ephemeral(failureOutcome(err, s.app.log).card, target).catch(() => {});
  }
}
