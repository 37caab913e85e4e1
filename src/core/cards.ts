/**
 * The platform-neutral reply model. Handlers build Cards; the console, Slack and Discord adapters render them
 * (plain text, Block Kit, embeds), each respecting its platform's limits.
 */

export type Tone = "info" | "success" | "warning" | "error";

export type Block =
  | { type: "text"; text: string }
  | { type: "fields"; fields: Array<[label: string, value: string]> }
  | { type: "table"; columns: string[]; rows: string[][]; align?: Array<"left" | "right"> }
  | { type: "list"; title?: string; items: string[] }
  | { type: "code"; text: string }
  | { type: "divider" };

export interface CardFile {
  /** A file name only (no directories); adapters upload it or, in the console, write it to the data folder. */
  name: string;
  content: string | Uint8Array;
  mime?: string;
  title?: string;
  /** Where the file is already kept in the data folder (the console prints this path instead of writing a copy). */
  path?: string;
}

/**
 * A button. Pressing it runs `command` (words after /tune) as the person who pressed it, with the same permission
 * checks as typing it; a stale button (the run moved on) gets the command's own answer, e.g. "already cancelled".
 */
export interface CardAction {
  /** Stable id within the card (platform custom ids are built from it). */
  id: string;
  label: string;
  command: string;
  style?: "primary" | "danger";
}

/**
 * What a card is about, said explicitly by whoever builds it: a run's card (`{ kind: "run", id }`) is kept up to date
 * in chat, its thread is the run's thread, and a button pressed on it edits it in place. Never guessed from a title.
 */
export type CardSubject = { kind: "run"; id: number };

export interface Card {
  title?: string;
  subject?: CardSubject;
  tone?: Tone;
  blocks: Block[];
  files?: CardFile[];
  /** Shown only to the person who ran the command (errors are always ephemeral). */
  ephemeral?: boolean;
  /** Messages that belong in the reply's thread (details that would crowd the channel). */
  thread?: Card[];
  actions?: CardAction[];
}

export const text = (t: string): Block => ({ type: "text", text: t });
export const fields = (f: Array<[string, string]>): Block => ({ type: "fields", fields: f });
export const list = (items: string[], title?: string): Block => ({ type: "list", items, title });
export const table = (columns: string[], rows: string[][], align?: Array<"left" | "right">): Block => ({
  type: "table",
  columns,
  rows,
  align,
});

export function errorCard(message: string, code?: string): Card {
  return {
    title: "Error",
    tone: "error",
    ephemeral: true,
    blocks: [text(code ? `${message}\n(code: ${code})` : message)],
  };
}

/** Numbers, money, durations, times and plurals: one module for every reply (src/core/format.ts). */
export { fmt } from "./format.ts";
