/**
 * The contract between the chat kernel (src/chat/kernel.ts) and a platform adapter (src/adapters/<platform>/).
 *
 * Outbound, an adapter provides `ChatAdapter`: post a card (in a channel or a message's thread; its files uploaded
 * with it), edit a card in place, post a card only one person sees, and its mention syntax. It is also the core's
 * ChatPort (run cards and threads kept current by the run notifier).
 *
 * Inbound, an adapter turns platform events into the events below, and gives each request a `Reply`: how the answer
 * to that request goes out (Slack: a response_url or a progress message; Discord: the interaction's reply).
 */
import type { HostAccess } from "../../commands/attachments.ts";
import type { Actor, Surface } from "../../commands/types.ts";
import type { Card } from "../core/cards.ts";
import type { ChatPort } from "../core/ports.ts";

export interface ChatAdapter extends ChatPort {
  /** The command context's surface ("slack", "discord", "console"). */
  readonly surface: Exclude<Surface, "cli">;
  /**
   * The right to name host paths: only the console (the person at the machine) has it. A chat platform's adapter
   * never does, so nothing its members type reaches the host's disk (commands/attachments.ts).
   */
  readonly host?: HostAccess;
  /** The platform's name for people and logs ("Slack", "Discord"). */
  readonly name: string;
  /** Posts a card (in the thread of `threadId` when given); its thread cards and files go with it. */
  post(channelId: string, card: Card, opts?: { threadId?: string }): Promise<{ messageId: string }>;
  /** Edits a card in place (files it did not have before go into its thread). */
  update(channelId: string, messageId: string, card: Card): Promise<void>;
  /** Shows a card to one person only (files cannot go with it). */
  postEphemeral(channelId: string, userId: string, card: Card, opts?: { threadId?: string }): Promise<void>;
  /** How a person is mentioned in a message (`<@U123>` on Slack and Discord). */
  mention(userId: string): string;
}

/** Where a message was posted. `threadId`: it is a reply in that thread (a run card there is not the run's card). */
export interface MessageRef {
  channelId: string;
  messageId: string;
  threadId?: string;
}

/** How the answer to one request goes out. */
export interface Reply {
  /** A public answer; null when it could not be posted publicly (the adapter then said so privately). */
  public(card: Card): Promise<MessageRef | null>;
  /** An answer only the person who asked sees (with its thread cards, where the platform can show them). */
  private(card: Card): Promise<void>;
  /** Progress of long work (coalesced by the adapter into edits). */
  progress?: (line: string) => void;
}

/** A file a person gave with a request: its name, the size the platform claims, and how to fetch its bytes. */
export interface InboundFile {
  id?: string;
  name: string;
  size?: number;
  /** Writes the file's bytes to `dest`, failing once they pass `limit` (src/chat/files.ts `saveCapped`). */
  fetch(dest: string, limit: number): Promise<void>;
}

interface Request {
  user: Actor;
  channelId: string;
  /** The platform's id of this request (a retried delivery reuses it): the dedupe key and the idempotency key. */
  requestId: string;
}

/** A command typed (a slash command), possibly with a file. */
export interface CommandEvent extends Request {
  kind: "command";
  /** The words after /tune (a string: the line as typed, split by the dispatcher). */
  words: string | string[];
  file?: InboundFile;
}

/** Files dropped in a channel, with the command typed with them (default `dataset upload`). */
export interface FileDropEvent extends Request {
  kind: "file";
  words: string | string[];
  files: InboundFile[];
}

/** A button pressed on a card: its command, the card's message and the thread it sits in. */
export interface ButtonEvent extends Request {
  kind: "button";
  command: string;
  messageId: string;
  threadId?: string;
}

/** A person's message in a thread (a run's thread makes it the run's discussion). */
export interface ThreadReplyEvent {
  kind: "reply";
  user: Actor;
  channelId: string;
  /** The thread's parent message. */
  threadId: string;
  messageId: string;
  text: string;
  files: string[];
  at: Date;
}

/** Suggestions for an option being typed. */
export interface AutocompleteEvent {
  kind: "autocomplete";
  user: Actor;
  path: string[];
  field: string;
  typed: string;
}

/** Someone opened the overview (Slack's App Home). */
export interface OverviewEvent {
  kind: "overview";
  user: Actor;
}

export type ChatEvent =
  | CommandEvent
  | FileDropEvent
  | ButtonEvent
  | ThreadReplyEvent
  | AutocompleteEvent
  | OverviewEvent;
