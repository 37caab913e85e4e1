/**
 * What every Slack listener shares: the API, the renderer with the secrets to scrub, the memory of requests
 * already taken (Slack retries events it thinks failed), which thread belongs to which run, the files people
 * shared lately, and how a command's outcome is delivered (public card, thread, files, or an ephemeral reply).
 */
import type { RespondFn } from "@slack/bolt";
import { isDatasetFileName } from "../../chat/files.ts";
import { ChatKernel } from "../../chat/kernel.ts";
import type { ChatAdapter, MessageRef, Reply } from "../../chat/types.ts";
import type { Actor } from "../../../commands/types.ts";
import type { App } from "../../app.ts";
import { fmt } from "../../core/format.ts";
import { text, type Card } from "../../core/cards.ts";
import { notInChannel, type SlackApi, type SlackFile } from "./api.ts";
import { renderCard, type Rendered } from "./render.ts";

export interface SharedFile {
  file: SlackFile;
  channelId: string;
  userId: string;
  /** The thread the answer about this file goes into (the file's message, or the thread it was shared in). */
  threadTs: string;
  at: number;
}

/** Files people shared lately, so `/tune dataset upload` (which Slack sends without a thread) can find its file. */
export class RecentFiles {
  private readonly byKey = new Map<string, SharedFile[]>();
  remember(f: SharedFile) {
    const key = `${f.channelId}:${f.userId}`;
    const list = [f, ...(this.byKey.get(key) ?? []).filter((x) => x.file.id !== f.file.id)].slice(0, 5);
    this.byKey.set(key, list);
  }
  latest(channelId: string, userId: string, maxAgeMs = 30 * 60_000): SharedFile | null {
    return (
      (this.byKey.get(`${channelId}:${userId}`) ?? []).find(
        (f) => Date.now() - f.at < maxAgeMs && isDatasetFile(f.file),
      ) ?? null
    );
  }
}

/** A file taken as a dataset: the kernel's list of file types (src/chat/files.ts), by name or Slack's file type. */
export const isDatasetFile = (f: SlackFile) =>
  isDatasetFileName(f.name) || isDatasetFileName(f.filetype ? `.${f.filetype}` : "");

/** Normalises what Slack does to typed text: curly quotes, `&amp;` escapes, `<https://…|label>` links. */
export function commandText(raw: string): string {
  return raw
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/<((?:https?|mailto):[^|>]+)\|[^>]*>/g, "$1")
    .replace(/<((?:https?|mailto):[^>]+)>/g, "$1")
    .replace(/<([@#!][A-Z0-9^]+)\|[^>]*>/gi, "<$1>")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .trim();
}

export interface ReplyTarget {
  channelId: string;
  userId: string;
  /** Post into this thread rather than the channel. */
  threadTs?: string;
  /** Ephemeral answers go through the request's response_url when there is one (works where the bot is not a member). */
  respond?: RespondFn;
  /** A progress message to turn into the final answer. */
  progressTs?: string;
  /** A context line under a public card, e.g. who ran which command. */
  footer?: string;
}

export class SlackContext implements ChatAdapter {
  readonly surface = "slack" as const;
  readonly name = "Slack";
  readonly kernel: ChatKernel;
  readonly files = new RecentFiles();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly uploaded = new Map<string, Set<string>>();
  /** The footer a message was posted with, kept through its edits (a run card keeps "who ran what"). */
  private readonly footers = new Map<string, string>();

  constructor(
    readonly app: App,
    readonly api: SlackApi,
    readonly secrets: readonly string[],
    readonly botUserId: string,
  ) {
    this.kernel = new ChatKernel(app, this);
  }

  // The kernel's outbound operations (ChatAdapter).
  async post(channelId: string, card: Card, opts?: { threadId?: string }): Promise<{ messageId: string }> {
    return { messageId: await this.postCard(channelId, card, opts?.threadId) };
  }

  update(channelId: string, messageId: string, card: Card): Promise<void> {
    return this.updateCard(channelId, messageId, card);
  }

  postEphemeral(channelId: string, userId: string, card: Card, opts?: { threadId?: string }): Promise<void> {
    return this.ephemeral(card, { channelId, userId, threadTs: opts?.threadId });
  }

  mention(userId: string): string {
    return `<@${userId}>`;
  }

  render(card: Card, opts: { ephemeral?: boolean; footer?: string } = {}): Rendered {
    return renderCard(card, { secrets: this.secrets, ...opts });
  }

  /**
   * Runs work that continues after the ack, and keeps it so stop() can wait for it. Never rejects. The work starts
   * on a later turn of the event loop (setImmediate), after pending I/O: requests that arrived in the same burst
   * are acked before the commands compete for the main thread.
   */
  track(work: () => Promise<unknown>): void {
    const q = new Promise<void>((r) => setImmediate(r))
      .then(work)
      .catch((err) => this.app.log.error({ err }, "slack: handler failed"));
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q));
  }

  async idle(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.inflight.size && Date.now() < until) {
      await Promise.race([
        Promise.all([...this.inflight]),
        new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())).unref()),
      ]);
    }
  }

  /** Who is asking: their name, and their user groups where permissions are set (to match TUNELOOP_SPENDERS). */
  async actor(userId: string, name?: string): Promise<Actor> {
    const p = this.app.config.permissions;
    const [display, roles] = await Promise.all([
      this.api.userName(userId, name),
      p.spenders.length || p.admins.length ? this.api.userGroups(userId) : Promise.resolve([]),
    ]);
    return { id: userId, name: display, roles };
  }

  /** Posts a card (its thread cards and files into its thread); returns its ts. */
  async postCard(channelId: string, card: Card, threadTs?: string, footer?: string): Promise<string> {
    const r = this.render(card, { footer });
    const ts = await this.api.postMessage(channelId, r, threadTs);
    if (footer) {
      this.footers.set(ts, footer);
      if (this.footers.size > 2000) this.footers.delete(this.footers.keys().next().value as string);
    }
    await this.followUps(channelId, card, r, threadTs ?? ts, ts);
    return ts;
  }

  /** Edits a card in place; files it did not have before go into its thread (`threadTs`: when it is a reply). */
  async updateCard(
    channelId: string,
    ts: string,
    card: Card,
    opts: { footer?: string; threadTs?: string } = {},
  ): Promise<void> {
    const r = this.render(card, { footer: opts.footer ?? this.footers.get(ts) });
    await this.api.update(channelId, ts, r);
    await this.followUps(channelId, card, r, opts.threadTs ?? ts, ts);
  }

  private async followUps(channelId: string, card: Card, r: Rendered, threadTs: string, ts: string) {
    for (const t of card.thread ?? []) await this.postCard(channelId, t, threadTs);
    const done = this.uploaded.get(ts) ?? new Set<string>();
    for (const f of r.files) {
      if (done.has(f.name)) continue;
      await this.api.uploadFile(channelId, threadTs, f);
      done.add(f.name);
    }
    if (r.files.length) {
      this.uploaded.set(ts, done);
      if (this.uploaded.size > 2000) this.uploaded.delete(this.uploaded.keys().next().value as string);
    }
  }

  /** Shows a card only to the user (through response_url when there is one). Files cannot go with it. */
  async ephemeral(card: Card, t: ReplyTarget): Promise<void> {
    const c = card.files?.length
      ? {
          ...card,
          blocks: [
            ...card.blocks,
            text(`(${fmt.count(card.files.length, "file")} left out: files cannot go with a reply only you can see.)`),
          ],
        }
      : card;
    const r = this.render(c, { ephemeral: true });
    if (t.respond) {
      await t.respond({ response_type: "ephemeral", replace_original: false, text: r.text, blocks: r.blocks });
      return;
    }
    await this.api.postEphemeral(t.channelId, t.userId, r, t.threadTs);
  }

  /**
   * How the answer to one Slack request goes out (the kernel decides which): a public card as a message (in the
   * target thread, or replacing the progress message), a private one through response_url or chat.postEphemeral.
   * Where the bot cannot post (not invited), the user gets it privately with how to invite the bot.
   */
  reply(t: ReplyTarget, progress?: (m: string) => void): Reply {
    return {
      progress,
      private: async (card) => {
        if (t.progressTs) {
          const note: Card = { blocks: [text(`<@${t.userId}> got the answer privately.`)] };
          await this.updateCard(t.channelId, t.progressTs, note, { threadTs: t.threadTs });
        }
        await this.ephemeral(card, t);
      },
      public: async (card): Promise<MessageRef | null> => {
        try {
          if (t.progressTs) {
            await this.updateCard(t.channelId, t.progressTs, card, { footer: t.footer, threadTs: t.threadTs });
            return { channelId: t.channelId, messageId: t.progressTs, threadId: t.threadTs };
          }
          const ts = await this.postCard(t.channelId, card, t.threadTs, t.footer);
          return { channelId: t.channelId, messageId: ts, threadId: t.threadTs };
        } catch (err) {
          if (!notInChannel(err)) throw err;
          await this.ephemeral(
            {
              ...card,
              blocks: [
                text(
                  "I am not in this channel, so only you see this. Invite me with `/invite @tuneloop` (or add me in the channel's settings), then try again.",
                ),
                ...card.blocks,
              ],
            },
            t,
          );
          return null;
        }
      },
    };
  }

  /**
   * A progress message in a thread: posted at the first report, then edited (the outbox keeps only the newest
   * edit waiting). `ts()` waits for the post, so the final answer can replace it.
   */
  progressIn(
    channelId: string,
    threadTs: string,
  ): { report: (m: string) => void; ts: () => Promise<string | undefined> } {
    let posted: Promise<string | undefined> | null = null;
    let latest = "";
    let done = false;
    return {
      report: (m: string) => {
        if (done) return;
        latest = m;
        const card = (): Card => ({ blocks: [text(`:hourglass_flowing_sand: ${latest}`)] });
        if (!posted) {
          posted = this.postCard(channelId, card(), threadTs).catch((err) => {
            this.app.log.warn({ err }, "slack: progress message failed");
            return undefined;
          });
        } else {
          void posted.then((ts) => (ts ? this.updateCard(channelId, ts, card()).catch(() => {}) : undefined));
        }
      },
      ts: () => {
        done = true;
        return posted ?? Promise.resolve(undefined);
      },
    };
  }
}
