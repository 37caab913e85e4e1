/**
 * Renders cards as plain text: the console chat and the CLI print it; Slack and Discord use it for tables, the
 * notification text and the full text of a card too long for one message.
 */
import type { Block, Card } from "../core/cards.ts";

const TONE_MARK: Record<string, string> = { success: "✓", warning: "!", error: "✗", info: "·" };

function pad(s: string, n: number, right: boolean) {
  const len = [...s].length;
  return right ? " ".repeat(Math.max(0, n - len)) + s : s + " ".repeat(Math.max(0, n - len));
}

export function renderBlock(b: Block): string {
  switch (b.type) {
    case "text":
      return b.text;
    case "code":
      return b.text
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n");
    case "divider":
      return "—".repeat(40);
    case "fields": {
      const w = Math.max(...b.fields.map(([k]) => k.length));
      return b.fields.map(([k, v]) => `${pad(k, w, false)}  ${v}`).join("\n");
    }
    case "list":
      return [b.title ? `${b.title}:` : null, ...b.items.map((i) => `  - ${i}`)].filter((x) => x !== null).join("\n");
    case "table": {
      const widths = b.columns.map((c, i) => Math.max([...c].length, ...b.rows.map((r) => [...(r[i] ?? "")].length)));
      const line = (cells: string[]) =>
        cells
          .map((c, i) => pad(c ?? "", widths[i], b.align?.[i] === "right"))
          .join("  ")
          .trimEnd();
      return [line(b.columns), widths.map((w) => "-".repeat(w)).join("  "), ...b.rows.map(line)].join("\n");
    }
  }
}

/**
 * Chat wording that the CLI says its own way: commands are written as the CLI takes them (`npx tuneloop run
 * status 3`, not `/tune run status 3`).
 */
export function cliText(s: string): string {
  return s.replace(/(^|[\s("'`[])\/tune(?= |$)/gm, "$1npx tuneloop");
}

export interface RenderOptions {
  filePaths?: string[];
  withThread?: boolean;
  /** Where each thread reply's files were saved (same order as `card.thread`). */
  threadFilePaths?: string[][];
  /** The CLI: no chat phrasing (an ephemeral reply is simply the reply; commands as the CLI takes them). */
  cli?: boolean;
}

export function renderCard(card: Card, opts: RenderOptions = {}): string {
  const text = renderChatCard(card, opts);
  return opts.cli ? cliText(text) : text;
}

function renderChatCard(card: Card, opts: RenderOptions): string {
  const parts: string[] = [];
  if (card.title)
    parts.push(
      `${card.tone ? `${TONE_MARK[card.tone]} ` : ""}${card.title}${card.ephemeral && !opts.cli ? "  (only you can see this)" : ""}`,
    );
  for (const b of card.blocks) parts.push(renderBlock(b));
  if (card.actions?.length) parts.push(card.actions.map((a) => `[${a.label}: /tune ${a.command}]`).join("  "));
  if (opts.filePaths?.length) parts.push(opts.filePaths.map((p) => `[file] ${p}`).join("\n"));
  if (opts.withThread) {
    for (const [i, t] of (card.thread ?? []).entries()) {
      parts.push(
        `↳ thread\n${renderChatCard(t, { cli: opts.cli, filePaths: opts.threadFilePaths?.[i] })}`
          .split("\n")
          .map((l) => (l ? `    ${l}` : l))
          .join("\n"),
      );
    }
  }
  return parts.join("\n\n");
}
