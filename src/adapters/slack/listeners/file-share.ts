/**
 * Files dropped into a channel: a `message` event with subtype `file_share` and `files[]`. A .jsonl/.json file
 * dropped in a channel is ingested as `/tune dataset upload`; the text typed with it may be a command
 * (`tune dataset upload support --drop-bad-rows`). A file shared inside a thread waits for `/tune dataset upload`
 * (or a command typed with it). The answer goes into the file's thread: a progress line that becomes the report,
 * with the full problem report attached when it is long.
 */
import type { App as BoltApp, RespondFn } from "@slack/bolt";
import type { Actor } from "../../../../commands/types.ts";
import { typedLine } from "../../../chat/kernel.ts";
import type { InboundFile, Reply } from "../../../chat/types.ts";
import { fmt } from "../../../core/cards.ts";
import type { SlackFile } from "../api.ts";
import { commandText, isDatasetFile, type SharedFile, type SlackContext } from "../context.ts";

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
export const typedCommand = (t: string | undefined): string | null => typedLine(commandText(t ?? ""));

export function registerFileShares(bolt: BoltApp, s: SlackContext): void {
  bolt.event("message", async ({ event }) => {
    const m = event as unknown as FileShareMessage;
    if (m.subtype !== "file_share" || !m.files?.length || !m.user || m.bot_id || m.user === s.botUserId) return;
    // A retried delivery (X-Slack-Retry-Num) of the same message: already taken.
    if (!s.kernel.first(`share:${m.channel}:${m.ts}`)) return;
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
          { requestId: `slack:share:${m.channel}:${m.ts}` },
        );
      }
    });
  });
}

/**
 * Runs a command with a shared file through the kernel: the words are checked before the download (a host path such
 * as --file PATH is refused, and so is a user without the permission), so a refused command costs no transfer; the
 * file is downloaded (Bearer token, capped) into a file the bot picks; the answer goes into the file's thread as a
 * progress line that becomes the report.
 */
export async function ingestSharedFile(
  s: SlackContext,
  shared: SharedFile,
  line: string,
  opts: { requestId?: string; respond?: RespondFn; user?: Actor },
): Promise<void> {
  const { api } = s;
  const { file, channelId, userId, threadTs } = shared;
  const target = { channelId, userId, threadTs, respond: opts.respond };
  const user = opts.user ?? (await s.actor(userId));
  const progress = s.progressIn(channelId, threadTs);
  const inbound: InboundFile = {
    id: file.id,
    name: file.name ?? `${file.id}.jsonl`,
    size: file.size,
    async fetch(dest, limit) {
      // Slack Connect and some shares carry only the id (file_access: check_file_info): ask files.info.
      const full =
        file.file_access === "check_file_info" || !(file.url_private_download || file.url_private)
          ? await api.fileInfo(file.id)
          : file;
      progress.report(`Reading ${full.name ?? file.id}${full.size ? ` (${fmt.bytes(full.size)})` : ""}…`);
      await api.download(full, dest, limit);
    },
  };
  // The answer replaces the progress message when there is one (a refusal comes before any).
  const reply: Reply = {
    progress: progress.report,
    private: async (card) => s.reply({ ...target, progressTs: await progress.ts() }).private(card),
    public: async (card) => s.reply({ ...target, progressTs: await progress.ts() }).public(card),
  };
  await s.kernel.fileDrop(
    {
      kind: "file",
      user,
      channelId,
      requestId: opts.requestId ?? `slack:share:${channelId}:${file.id}`,
      words: line,
      files: [inbound],
    },
    () => reply,
  );
}
