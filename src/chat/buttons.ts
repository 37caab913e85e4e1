/**
 * Commands of buttons whose platform id cannot carry them. A button's command travels in its id where it fits (Slack's
 * value takes 2,000 characters; Discord's custom_id only 100); a longer one gets a key, `tune#` and a hash of the
 * command, and the command is kept in the database (`chat_buttons`), so the button still works after a restart and
 * in another process on the same database.
 */
import crypto from "node:crypto";

export interface ButtonStore {
  /** Keeps `command` under `key` (the same command always has the same key). */
  keep(key: string, command: string): void;
  /** The command kept under `key`, or null. */
  command(key: string): string | null;
}

/** The key of a command too long for a button id: stable, so a card rendered twice gets the same id. */
export const buttonKey = (command: string) =>
  `tune#${crypto.createHash("sha256").update(command).digest("hex").slice(0, 24)}`;
