/**
 * What every Discord listener shares: the kernel, the REST chat (posts, edits, threads), who is asking, the
 * scrubbing of secrets and tokens from what is logged, and the work in flight (stop() waits for it).
 */
import type { APIInteractionGuildMember, Guild, GuildMember, User } from "discord.js";
import type { Actor } from "../../../commands/types.ts";
import { ChatKernel } from "../../chat/kernel.ts";
import { saveCapped } from "../../chat/files.ts";
import type { ChatAdapter, InboundFile } from "../../chat/types.ts";
import { TuneError } from "../../errors.ts";
import type { App } from "../../app.ts";
import { text, type Card } from "../../core/cards.ts";
import type { Logger } from "../../log.ts";
import { scrubSecrets } from "../../log.ts";
import type { DiscordChat } from "./chat.ts";
import type { ButtonCommands, DiscordMessage } from "./render.ts";

/** Cuts interaction and webhook tokens out of a REST URL. */
export const safeUrl = (url: unknown) =>
  typeof url === "string" ? url.replace(/\/(webhooks|interactions)\/(\d+)\/[^/?\s)]+/g, "/$1/$2/:token") : undefined;

export interface DiscordTiming {
  /** Answer directly when the command is done within this long, else defer. */
  fastReplyMs: number;
  /** Progress edits at most this often. */
  progressEveryMs: number;
}

export class DiscordContext implements ChatAdapter {
  readonly surface = "discord" as const;
  readonly name = "Discord";
  readonly kernel: ChatKernel;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    readonly app: App,
    readonly chat: DiscordChat,
    readonly buttons: ButtonCommands,
    readonly log: Logger,
    readonly secrets: readonly string[],
    readonly timing: DiscordTiming,
  ) {
    this.kernel = new ChatKernel(app, this);
  }

  // The kernel's outbound operations (ChatAdapter), on the REST chat.
  post(channelId: string, card: Card, opts?: { threadId?: string; replyTo?: string }) {
    return this.chat.post(channelId, card, opts);
  }

  update(channelId: string, messageId: string, card: Card) {
    return this.chat.update(channelId, messageId, card);
  }

  /**
   * Discord has ephemeral messages only as answers to an interaction: elsewhere (a file dropped in a channel) the
   * card is posted with a mention of the person it is for.
   */
  async postEphemeral(channelId: string, userId: string, card: Card, opts?: { threadId?: string }) {
    await this.chat.post(channelId, { ...card, blocks: [text(this.mention(userId)), ...card.blocks] }, opts);
  }

  mention(userId: string): string {
    return `<@${userId}>`;
  }

  render(card: Card): DiscordMessage {
    return this.chat.render(card);
  }

  /** A message's options for discord.js (replies, follow-ups, edits). */
  options(card: Card) {
    const msg = this.render(card);
    return {
      content: msg.content,
      embeds: msg.embeds,
      components: msg.components,
      files: msg.files.map((f) => ({ attachment: f.data, name: f.name })),
      allowedMentions: { parse: [] },
    };
  }

  scrub(s: string): string {
    return safeUrl(scrubSecrets(s, this.secrets)) ?? "";
  }

  /** An error as a log field, scrubbed of the token and of interaction tokens in URLs. */
  errInfo(err: unknown) {
    if (!(err instanceof Error)) return { message: this.scrub(String(err)) };
    const e = err as Error & { code?: unknown; status?: unknown; method?: unknown; url?: unknown };
    return {
      name: e.name,
      message: this.scrub(e.message),
      code: e.code,
      status: e.status,
      method: e.method,
      url: safeUrl(e.url),
      stack: this.scrub(e.stack ?? ""),
    };
  }

  /** Who is asking: their display name and roles (a role's name matches only entries written role:NAME). */
  actor(user: User, member: GuildMember | APIInteractionGuildMember | null, guild: Guild | null): Actor {
    let ids: string[] = [];
    if (member) ids = Array.isArray(member.roles) ? [...member.roles] : [...(member as GuildMember).roles.cache.keys()];
    ids = ids.filter((id) => id !== guild?.id); // @everyone
    const roles = ids.map((id) => ({ id, name: guild?.roles.cache.get(id)?.name }));
    const display = member && "displayName" in member ? member.displayName : undefined;
    return { id: user.id, name: display || user.globalName || user.username, roles };
  }

  /** Keeps work that runs after an event so stop() can wait for it. */
  track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Waits for the work in flight (bounded). */
  async idle(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
}

/**
 * An attachment as the kernel's inbound file: fetched from Discord's CDN at once (its URL is signed and expires),
 * streamed through the upload limit.
 */
export function discordFile(att: { id?: string; url: string; name: string; size: number }): InboundFile {
  return {
    id: att.id,
    name: att.name,
    size: att.size,
    async fetch(dest, limit) {
      try {
        const res = await fetch(att.url, { signal: AbortSignal.timeout(120_000) });
        if (!res.ok || !res.body) {
          throw new TuneError(
            "discord_download_failed",
            `Could not download ${att.name} from Discord (HTTP ${res.status}). Its link may have expired: attach the file again.`,
          );
        }
        await saveCapped(res.body, dest, limit, att.name);
      } catch (err) {
        if (err instanceof TuneError) throw err;
        throw new TuneError(
          "discord_download_failed",
          `Could not download ${att.name} from Discord (${(err as Error).message}). Attach the file again.`,
        );
      }
    },
  };
}
