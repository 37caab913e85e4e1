/**
 * The core's ChatPort on Discord's REST API (through discord.js's REST client, which waits out 429s):
 * - post: a message in a channel, or in the thread of a parent message. The first post into a parent's thread
 *   starts it (POST /channels/{channel}/messages/{message}/threads, archived after a day of quiet); the parent ->
 *   thread mapping is cached. A thread started from a message has the message's id, so after a restart Discord's
 *   "thread already created" (160004) leads to it; where no thread can start (the parent is itself in a thread,
 *   or the bot lacks Create Public Threads) the post becomes a reply to the parent.
 * - update: edits a message in place (its embed and buttons). Edits of one message run one at a time, in order,
 *   and an edit still waiting is replaced by a newer one: the last state always wins.
 */
import { Routes, type REST, type RESTPostAPIChannelMessageResult } from "discord.js";
import type { Card } from "../../core/cards.ts";
import type { ChatPort } from "../../core/ports.ts";
import type { Logger } from "../../log.ts";
import { renderMessage, type ButtonCommands, type DiscordMessage } from "./render.ts";

export const THREAD_ARCHIVE_MINUTES = 1440;

/** Discord's JSON error codes this adapter reacts to. */
export const DiscordCode = {
  UnknownMessage: 10008,
  UnknownInteraction: 10062,
  UnknownWebhook: 10015,
  MissingAccess: 50001,
  MissingPermissions: 50013,
  InvalidWebhookToken: 50027,
  WrongChannelType: 50024,
  AlreadyAcknowledged: 40060,
  ThreadAlreadyCreated: 160004,
} as const;

export const errorCode = (err: unknown): number | string | undefined =>
  err && typeof err === "object" && "code" in err ? (err as { code: number | string }).code : undefined;

/** The request body and files of a message for discord.js's REST client. */
export function restBody(msg: DiscordMessage, extra: Record<string, unknown> = {}) {
  return {
    body: {
      content: msg.content,
      embeds: msg.embeds,
      components: msg.components,
      attachments: msg.files.map((f, i) => ({ id: i, filename: f.name })),
      allowed_mentions: { parse: [] },
      ...extra,
    },
    files: msg.files.map((f, i) => ({ key: `files[${i}]`, name: f.name, data: f.data, contentType: f.contentType })),
  };
}

interface Target {
  channelId: string;
  /** Post as a reply to this message (no thread could be started). */
  replyTo?: string;
}

export interface DiscordChatOptions {
  rest: REST;
  log: Logger;
  secrets: readonly string[];
  buttons: ButtonCommands;
}

export class DiscordChat implements ChatPort {
  private readonly threads = new Map<string, Promise<Target>>();
  /** Channels known to be threads (started here, or where a button was pressed): a card there has no thread of its own. */
  private readonly threadChannels = new Set<string>();
  private readonly titles = new Map<string, string>();
  private readonly edits = new Map<
    string,
    { pending: { channelId: string; card: Card } | null; chain: Promise<void>; users: number }
  >();

  constructor(private readonly opts: DiscordChatOptions) {}

  render(card: Card): DiscordMessage {
    return renderMessage(card, { secrets: this.opts.secrets, buttons: this.opts.buttons });
  }

  /** Remembers a message's card title (a thread started from it is named after it). */
  remember(messageId: string, title: string | undefined): void {
    if (!title) return;
    this.titles.set(messageId, title);
    if (this.titles.size > 5000) this.titles.delete(this.titles.keys().next().value as string);
  }

  /** Notes that a channel is a thread (Discord cannot start a thread from a message inside one). */
  knowThread(channelId: string): void {
    this.threadChannels.add(channelId);
    if (this.threadChannels.size > 5000)
      this.threadChannels.delete(this.threadChannels.values().next().value as string);
  }

  /**
   * Posts a card. `threadId`: in the thread of that message; when the channel is a thread already (a card pressed
   * inside a run's thread), in that same thread.
   */
  async post(
    channelId: string,
    card: Card,
    opts: { threadId?: string; replyTo?: string } = {},
  ): Promise<{ messageId: string }> {
    const target: Target =
      opts.threadId && !this.threadChannels.has(channelId)
        ? await this.threadFor(channelId, opts.threadId)
        : { channelId, replyTo: opts.replyTo };
    const msg = this.render(card);
    const extra = target.replyTo
      ? { message_reference: { message_id: target.replyTo, fail_if_not_exists: false } }
      : {};
    const res = (await this.opts.rest.post(
      Routes.channelMessages(target.channelId),
      restBody(msg, extra),
    )) as RESTPostAPIChannelMessageResult;
    this.remember(res.id, card.title);
    // A card's thread: in a thread already, its cards follow in the same one.
    for (const t of card.thread ?? []) {
      if (opts.threadId) await this.post(channelId, t, { threadId: opts.threadId });
      else await this.post(channelId, t, { threadId: res.id });
    }
    return { messageId: res.id };
  }

  async update(channelId: string, messageId: string, card: Card): Promise<void> {
    let e = this.edits.get(messageId);
    if (!e) {
      e = { pending: null, chain: Promise.resolve(), users: 0 };
      this.edits.set(messageId, e);
    }
    const entry = e;
    entry.pending = { channelId, card };
    entry.users++;
    const run = entry.chain.then(async () => {
      const job = entry.pending;
      if (!job) return; // a later edit already carried a newer card
      entry.pending = null;
      const msg = this.render(job.card);
      await this.opts.rest.patch(Routes.channelMessage(job.channelId, messageId), restBody(msg));
      this.remember(messageId, job.card.title);
    });
    entry.chain = run.catch(() => {});
    try {
      await run;
    } finally {
      if (--entry.users === 0) this.edits.delete(messageId);
    }
  }

  private threadFor(channelId: string, parentId: string): Promise<Target> {
    let p = this.threads.get(parentId);
    if (!p) {
      p = this.startThread(channelId, parentId);
      this.threads.set(parentId, p);
      p.catch(() => this.threads.delete(parentId));
      if (this.threads.size > 5000) this.threads.delete(this.threads.keys().next().value as string);
    }
    return p;
  }

  private async startThread(channelId: string, parentId: string): Promise<Target> {
    const title = this.titles.get(parentId);
    const name = (title?.split(" · ")[0].trim() || "tuneloop").slice(0, 100);
    try {
      const thread = (await this.opts.rest.post(Routes.threads(channelId, parentId), {
        body: { name, auto_archive_duration: THREAD_ARCHIVE_MINUTES },
      })) as { id: string };
      this.knowThread(thread.id);
      return { channelId: thread.id };
    } catch (err) {
      const code = errorCode(err);
      if (code === DiscordCode.ThreadAlreadyCreated) return { channelId: parentId };
      if (
        code === DiscordCode.WrongChannelType ||
        code === DiscordCode.MissingPermissions ||
        code === DiscordCode.MissingAccess
      ) {
        this.opts.log.warn(
          { channelId, code },
          "could not start a thread; replying in the channel instead (the bot needs Create Public Threads)",
        );
        return { channelId, replyTo: parentId };
      }
      throw err;
    }
  }
}
