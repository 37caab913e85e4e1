/**
 * An in-memory chat platform: the kernel's ChatAdapter with every message kept in a list (channel, thread, card,
 * edits, who an ephemeral one was for). The parity tests (test/chat/parity.test.ts) run the kernel against it the
 * way a platform adapter does, so what the kernel decides is seen apart from any platform's rendering.
 */
import type { ChatAdapter, MessageRef, Reply } from "../../src/chat/types.ts";
import type { Card } from "../../src/core/cards.ts";

export interface MemoryMessage {
  id: string;
  channelId: string;
  threadId?: string;
  card: Card;
  /** Earlier versions (each edit keeps the one before). */
  versions: Card[];
  /** Set for a message only this person sees. */
  onlyFor?: string;
}

export class MemoryChat implements ChatAdapter {
  readonly surface = "slack" as const;
  readonly name = "memory";
  readonly messages: MemoryMessage[] = [];
  private next = 1;

  async post(channelId: string, card: Card, opts: { threadId?: string } = {}) {
    const id = `m${this.next++}`;
    this.messages.push({ id, channelId, threadId: opts.threadId, card, versions: [] });
    // A card's own thread cards follow it into its thread (as Slack and Discord do).
    for (const t of card.thread ?? []) await this.post(channelId, t, { threadId: opts.threadId ?? id });
    return { messageId: id };
  }

  async update(_channelId: string, messageId: string, card: Card) {
    const m = this.messages.find((x) => x.id === messageId);
    if (!m) throw new Error(`no message ${messageId}`);
    m.versions.push(m.card);
    m.card = card;
  }

  async postEphemeral(channelId: string, userId: string, card: Card, opts: { threadId?: string } = {}) {
    this.messages.push({
      id: `e${this.next++}`,
      channelId,
      threadId: opts.threadId,
      card,
      versions: [],
      onlyFor: userId,
    });
  }

  mention(userId: string) {
    return `<@${userId}>`;
  }

  /** A request's answer on this platform: public cards as messages, private ones as ephemeral messages. */
  reply(channelId: string, userId: string, threadId?: string): Reply {
    return {
      public: async (card): Promise<MessageRef> => {
        const { messageId } = await this.post(channelId, card, { threadId });
        return { channelId, messageId, threadId };
      },
      private: (card) => this.postEphemeral(channelId, userId, card, { threadId }),
    };
  }

  get(id: string): MemoryMessage | undefined {
    return this.messages.find((m) => m.id === id);
  }

  thread(id: string): MemoryMessage[] {
    return this.messages.filter((m) => m.threadId === id);
  }
}
