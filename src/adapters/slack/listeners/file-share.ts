/**
 * Files dropped into a channel: a `message` event with subtype `file_share` and `files[]`. A .jsonl/.json file
 * dropped in a channel is ingested as `/tune dataset upload`; the text typed with it may be a command
 * (`tune dataset upload support --drop-bad-rows`). A file shared inside a thread waits for `/tune dataset upload`
 * (or a command typed with it). The answer goes into the file's thread: a progress line that becomes the report,
 * with the full problem report attached when it is long.
 */
import type { App as BoltApp } from "@slack/bolt";
import { type Attachment, receiveUpload } from "../../../../commands/attachments.ts";
import { preflight, runCommandLine } from "../../../../commands/dispatch.ts";
import { fmt } from "../../../core/cards.ts";
import type { SlackFile } from "../api.ts";
import { commandText, isDatasetFile, type SharedFile, type SlackContext } from "../context.ts";
import { failureOutcome } from "../failure.ts";
import type { RespondFn } from "@slack/bolt";

interface FileShareMessage {
  subtype?: string;
  channel: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  files?: SlackFile[];
}

/** "tune dataset upload x" or "/tune dataset upload x" typed with a file: the words after tune. */
export function typedCommand(t: string | undefined): string | null {
  const m = /^\s*\/?tune\b(.*)$/is.exec(commandText(t ?? ""));
  if (!m) return null;
  return m[1].trim() || "dataset upload";
}

export function registerFileShares(bolt: BoltApp, s: SlackContext): void {
  bolt.event("message", async ({ event }) => {
    const m = event as unknown as FileShareMessage;
    if (m.subtype !== "file_share" || !m.files?.length || !m.user || m.bot_id || m.user === s.botUserId) return;
    // A retried delivery (X-Slack-Retry-Num) of the same message: already taken.
    if (s.seen.check(`share:${m.channel}:${m.ts}`)) return;
    const threadTs = m.thread_ts ?? m.ts;
    const user = m.user;
    for (const file of m.files)
      s.files.remember({ file, channelId: m.channel, userId: user, threadTs, at: Date.now() });
    const typed = typedCommand(m.text);
    const inThread = Boolean(m.thread_ts && m.thread_ts !== m.ts);
    if (inThread && !typed) return;
    const files = typed ? m.files : m.files.filter(isDatasetFile);
    if (!files.length) return;
    s.track(async () => {
      for (const file of files) {
        await ingestSharedFile(
          s,
          { file, channelId: m.channel, userId: user, threadTs, at: Date.now() },
          typed ?? "dataset upload",
          {
            requestId: `slack:share:${m.channel}:${m.ts}:${file.id}`,
          },
        );
      }
    });
  });
}

/**
 * Downloads a shared file (Bearer token) into a file the bot picks (receiveUpload), runs the command with it
 * attached, and answers in the file's thread. The words are checked before the download (a host path such as
 * --file PATH is refused, and so is a user without the permission), so a refused command costs no transfer.
 */
export async function ingestSharedFile(
  s: SlackContext,
  shared: SharedFile,
  line: string,
  opts: { requestId?: string; respond?: RespondFn; userName?: string },
): Promise<void> {
  const { app, api } = s;
  const { file, channelId, userId, threadTs } = shared;
  const target = { channelId, userId, threadTs, respond: opts.respond };
  const ctx0 = await s.commandContext({ id: userId, name: opts.userName }, channelId, { requestId: opts.requestId });
  const refused = preflight(line, ctx0);
  if (refused) {
    await s.ephemeral(refused.card, target);
    return;
  }
  const progress = s.progressIn(channelId, threadTs);
  let upload: Attachment | null = null;
  try {
    // Slack Connect and some shares carry only the id (file_access: check_file_info): ask files.info.
    const full =
      file.file_access === "check_file_info" || !(file.url_private_download || file.url_private)
        ? await api.fileInfo(file.id)
        : file;
    const name = full.name ?? `${file.id}.jsonl`;
    progress.report(`Reading ${name}${full.size ? ` (${fmt.bytes(full.size)})` : ""}…`);
    upload = await receiveUpload(
      app.blobs,
      name,
      (dest) => api.download(full, dest, app.config.limits.maxUploadBytes),
      "slack",
    );
    const outcome = await runCommandLine(line, { ...ctx0, attachment: upload, progress: progress.report });
    upload.discard(); // the command has read it: removed before the answer goes out
    await s.deliver(outcome, { ...target, progressTs: await progress.ts() }, { forcePublic: true });
  } catch (err) {
    await s.deliver(failureOutcome(err, app.log), { ...target, progressTs: await progress.ts() });
  } finally {
    upload?.discard();
  }
}
