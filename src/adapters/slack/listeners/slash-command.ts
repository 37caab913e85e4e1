/**
 * `/tune <command words>`: acknowledged first, within Slack's 3 seconds, whatever follows; the kernel then runs the
 * command and its answer arrives as a message (public cards, with a line saying who ran what) or privately (errors,
 * help). `/tune dataset upload` takes the dataset file the user shared last in the channel (Slack sends slash
 * commands without their thread) and answers in that file's thread. Its words are checked first (a host path such
 * as --file PATH, in any spelling, is refused; so is a missing permission), so a refused command reads no file.
 */
import type { App as BoltApp, RespondFn, SlashCommand } from "@slack/bolt";
import { findCommand } from "../../../../commands/dispatch.ts";
import { splitWords } from "../../../../commands/parse.ts";
import { errorCard, text } from "../../../core/cards.ts";
import { ErrorCode } from "../../../errors.ts";
import { commandText, isDatasetFile, type SharedFile, type SlackContext } from "../context.ts";
import { escapeAll } from "../render.ts";
import { ingestSharedFile } from "./file-share.ts";

export function registerSlashCommand(bolt: BoltApp, s: SlackContext, command = "/tune"): void {
  bolt.command(command, async ({ command: cmd, ack, respond }) => {
    await ack();
    // The same trigger twice is a retried delivery: the first one is being handled.
    if (!s.kernel.first(`cmd:${cmd.trigger_id}`)) return;
    s.track(() => runSlashCommand(s, cmd, respond));
  });
}

const clip = (x: string, n: number) => (x.length <= n ? x : `${x.slice(0, n - 1)}…`);

export async function runSlashCommand(s: SlackContext, cmd: SlashCommand, respond: RespondFn): Promise<void> {
  const line = commandText(cmd.text ?? "");
  const target = {
    channelId: cmd.channel_id,
    userId: cmd.user_id,
    respond,
    footer: `<@${cmd.user_id}> · \`/tune ${escapeAll(clip(line, 150).replace(/`/g, "'"))}\``,
  };
  const reply = s.reply(target, throttledProgress(respond, s));
  try {
    let words: string[] = [];
    try {
      words = splitWords(line);
    } catch {
      // the dispatcher answers with the quoting problem
    }
    const user = await s.actor(cmd.user_id, cmd.user_name);
    const request = { user, channelId: cmd.channel_id, requestId: `slack:${cmd.trigger_id}` };
    const found = findCommand(words);
    if (found?.def.attachment) {
      const refused = s.kernel.preflight(line, s.kernel.context(request));
      if (refused) {
        await s.kernel.deliver(refused, reply);
        return;
      }
      const shared = await sharedFileFor(s, cmd.channel_id, cmd.user_id);
      if (shared) {
        await ingestSharedFile(s, shared, line, { requestId: request.requestId, respond, user });
        return;
      }
      if (found.def.attachment === "required") {
        await s.ephemeral(
          errorCard(
            `/tune ${found.def.path.join(" ")} needs a file, and you have not shared one here lately. Drop the .jsonl or .json file into this channel (I read files dropped where I am), or share it in a thread and run /tune ${found.def.path.join(" ")} again.`,
            ErrorCode.AttachmentRequired,
          ),
          target,
        );
        return;
      }
    }
    await s.kernel.command({ kind: "command", ...request, words: line }, reply);
  } catch (err) {
    await reply.private(s.kernel.failure(err).card).catch((e) => s.app.log.warn({ err: e }, "slack: could not answer"));
  }
}

/** Progress of a slow command, privately: at most twice (response_url takes 5 posts), the first after 2 s. */
function throttledProgress(respond: RespondFn, s: SlackContext): (m: string) => void {
  const t0 = Date.now();
  let sent = 0;
  let last = 0;
  return (m) => {
    const now = Date.now();
    if (sent >= 2 || now - t0 < 2000 || now - last < 5000) return;
    sent++;
    last = now;
    const r = s.render({ blocks: [text(`:hourglass_flowing_sand: ${m}`)] }, { ephemeral: true });
    void respond({ response_type: "ephemeral", replace_original: false, text: r.text, blocks: r.blocks }).catch(
      () => {},
    );
  };
}

/** The dataset file the user shared last in the channel: remembered from its event, or asked of files.list. */
async function sharedFileFor(s: SlackContext, channelId: string, userId: string): Promise<SharedFile | null> {
  const mem = s.files.latest(channelId, userId);
  if (mem) return mem;
  try {
    const files = await s.api.recentFiles(channelId, userId);
    const dayAgo = Date.now() / 1000 - 24 * 3600;
    // Only a file this user uploaded: a command never reads someone else's file.
    const f = files.find((x) => x.user === userId && isDatasetFile(x) && (x.created ?? x.timestamp ?? 0) > dayAgo);
    if (!f) return null;
    const share = f.shares?.public?.[channelId]?.[0] ?? f.shares?.private?.[channelId]?.[0];
    if (!share) return null;
    return { file: f, channelId, userId, threadTs: share.thread_ts ?? share.ts, at: Date.now() };
  } catch (err) {
    s.app.log.debug({ err }, "files.list failed");
    return null;
  }
}
