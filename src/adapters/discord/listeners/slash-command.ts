/**
 * `/tune <group> <command>`: every interaction is answered within 3 s. A command that finishes within `fastReplyMs`
 * is answered directly (so an error or help can be ephemeral); a slower one is deferred, then its reply edited
 * (progress lines too). After a defer, everything edits or follows up (never a second reply: "already
 * acknowledged", 40060). A command with a file is checked first (words, permission), then deferred while the kernel
 * downloads the attachment; nothing a member types names a host path.
 */
import { type ChatInputCommandInteraction, type InteractionEditReplyOptions, MessageFlags } from "discord.js";
import type { Reply } from "../../../chat/types.ts";
import { errorCard, type Card } from "../../../core/cards.ts";
import { DiscordCode, errorCode } from "../chat.ts";
import { ATTACHMENT_OPTION, findDef, interactionPath, interactionWords, type InteractionOption } from "../commands.ts";
import { type DiscordContext, discordFile } from "../context.ts";

/** Answers to one interaction: reply, or defer then edit; never a second initial response. */
class Answer {
  private chain: Promise<unknown> = Promise.resolve();
  private deferring: Promise<void> | null = null;
  private lastProgress = 0;
  done = false;

  constructor(
    private readonly d: DiscordContext,
    private readonly i: ChatInputCommandInteraction,
  ) {}

  get acknowledged() {
    return this.i.deferred || this.i.replied || this.deferring !== null;
  }

  defer(ephemeral = false): Promise<void> {
    if (this.done && !this.deferring) return Promise.resolve(); // answered already: nothing to defer
    if (!this.deferring) {
      this.deferring = this.i.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {}).then(() => undefined);
      this.chain = this.deferring;
    }
    return this.deferring;
  }

  progress(message: string) {
    const now = Date.now();
    if (this.done || !this.deferring || now - this.lastProgress < this.d.timing.progressEveryMs) return;
    this.lastProgress = now;
    this.chain = this.chain
      .then(() => (this.done ? undefined : this.i.editReply({ content: this.d.scrub(`⏳ ${message}`).slice(0, 2000) })))
      .catch((err) => this.d.log.debug({ err: this.d.errInfo(err) }, "progress edit failed"));
  }

  /** The final answer; returns the posted message's id when it is a public message. */
  async final(card: Card): Promise<string | null> {
    this.done = true;
    const payload = this.d.options(card);
    if (!this.acknowledged) {
      const res = await this.i.reply({
        ...payload,
        flags: card.ephemeral ? MessageFlags.Ephemeral : undefined,
        withResponse: true,
      });
      return card.ephemeral ? null : (res.resource?.message?.id ?? null);
    }
    await this.chain.catch(() => {});
    try {
      const edited = await this.i.editReply({ ...payload, attachments: [] } as InteractionEditReplyOptions);
      return this.i.ephemeral ? null : edited.id;
    } catch (err) {
      // The interaction token lasts 15 minutes: a longer command's answer becomes a new message.
      const code = errorCode(err);
      if (
        (code === DiscordCode.InvalidWebhookToken || code === DiscordCode.UnknownWebhook) &&
        !card.ephemeral &&
        this.i.channelId
      ) {
        return (await this.d.chat.post(this.i.channelId, card)).messageId;
      }
      throw err;
    }
  }

  /** This interaction's answer as the kernel's Reply. */
  reply(): Reply {
    return {
      progress: (m) => this.progress(m),
      private: async ({ thread, ...card }) => {
        if (this.done) await this.i.followUp({ ...this.d.options(card), flags: MessageFlags.Ephemeral });
        else await this.final({ ...card, ephemeral: true });
        for (const t of thread ?? []) await this.i.followUp({ ...this.d.options(t), flags: MessageFlags.Ephemeral });
      },
      public: async (card) => {
        const messageId = await this.final(card);
        if (!messageId) return null;
        this.d.chat.remember(messageId, card.title); // a thread started from it is named after it
        return { channelId: this.i.channelId, messageId };
      },
    };
  }
}

export async function onSlashCommand(d: DiscordContext, i: ChatInputCommandInteraction): Promise<void> {
  const answer = new Answer(d, i);
  try {
    const { path, leaf } = interactionPath(i.options.data as readonly InteractionOption[]);
    const def = findDef(path);
    if (!def) {
      await answer.final(
        errorCard(
          `This server's /tune is older than the bot: "/tune ${path.join(" ")}" is gone. An admin runs npm run discord:deploy.`,
          "unknown_command",
        ),
      );
      return;
    }
    const words = interactionWords(def, leaf);
    const user = d.actor(i.user, i.member, i.guild);
    const request = { user, channelId: i.channelId, requestId: i.id };
    const att = def.attachment ? i.options.getAttachment(ATTACHMENT_OPTION) : null;
    const reply = answer.reply();
    if (att) {
      // Refused before the handler: nothing to download (and the refusal can still be ephemeral).
      const refused = d.kernel.preflight(words, d.kernel.context(request));
      if (refused) {
        await d.kernel.deliver(refused, reply);
        return;
      }
      await answer.defer();
      const file = discordFile({ id: att.id, url: att.url, name: att.name, size: att.size });
      await d.kernel.command({ kind: "command", ...request, words, file }, reply);
      return;
    }
    const timer = setTimeout(() => {
      void answer.defer().catch((err) => d.log.warn({ err: d.errInfo(err) }, "defer failed"));
    }, d.timing.fastReplyMs);
    try {
      await d.kernel.command({ kind: "command", ...request, words }, reply);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    d.log.error({ err: d.errInfo(err) }, "slash command failed");
    if (!answer.done) await answer.final(d.kernel.failure(err).card).catch(() => {});
  }
}
