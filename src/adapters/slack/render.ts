/**
 * Cards -> Block Kit. Slack rejects a message with more than 50 blocks, a section text over 3,000 characters, or
 * (measured, bolt-js #2509) about 13.2k characters in all: this renderer never produces such a message. Content
 * that does not fit is cut at a block boundary with a note, and the whole reply goes along as a text file.
 * Every string is scrubbed of secrets and escaped for mrkdwn (`&`, `<`, `>`), keeping Slack's own tokens
 * (`<@U…>`, `<#C…>`, `<!here>`, `<https://…|…>`).
 */
import type { types } from "@slack/bolt";
import { fmt } from "../../core/format.ts";
import type { Block, Card, CardAction, CardFile } from "../../core/cards.ts";
import { scrubSecrets } from "../../log.ts";
import { renderBlock, renderCard as renderPlain } from "../../chat/text.ts";

export type SlackBlock = types.KnownBlock;

export const LIMITS = {
  blocks: 50,
  sectionChars: 3000,
  headerChars: 150,
  buttonChars: 75,
  contextChars: 2000,
  /** Slack answers msg_blocks_too_long at about 13.2k; we count the blocks' JSON and stay below this. */
  messageChars: 12_000,
  fallbackChars: 300,
};

export interface RenderOptions {
  secrets: readonly string[];
  /** Ephemeral replies cannot carry files: a cut reply says how to get the rest instead. */
  ephemeral?: boolean;
  /** A context line under the card (e.g. who ran which command). Already mrkdwn. */
  footer?: string;
  limits?: Partial<typeof LIMITS>;
}

export interface Rendered {
  /** Notification / fallback text. */
  text: string;
  blocks: SlackBlock[];
  /** The card's files, plus the full text when the card was cut. */
  files: CardFile[];
  truncated: boolean;
}

const TONE_EMOJI: Record<string, string> = {
  success: ":white_check_mark:",
  warning: ":warning:",
  error: ":x:",
  info: "",
};

/**
 * Slack markup that survives escaping: channel references (`<#C…>`, which permission messages use) and links.
 * Everything else is escaped, so text that echoes what someone typed can never ping `<!here>`, `<!channel>` or a
 * user group.
 */
const SLACK_TOKEN = /<(?:#[CG][A-Z0-9]+(?:\|[^<>]*)?|(?:https?|mailto):[^<>\s]*)>/g;

export function escapeMrkdwn(s: string): string {
  let out = "";
  let last = 0;
  for (const m of s.matchAll(SLACK_TOKEN)) {
    out += escapeAll(s.slice(last, m.index)) + m[0];
    last = (m.index ?? 0) + m[0].length;
  }
  return out + escapeAll(s.slice(last));
}

/** Escapes all of `s` for mrkdwn (for text that must not contain any markup). */
export const escapeAll = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Cuts `s` into pieces of at most `max` characters, at line ends where it can. */
export function chunkText(s: string, max: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (rest.length > max) {
    let cut = rest.lastIndexOf("\n", max);
    if (cut < max / 2) cut = max;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, "");
  }
  if (rest.length || !out.length) out.push(rest);
  return out;
}

const clip = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

const section = (text: string): SlackBlock => ({ type: "section", text: { type: "mrkdwn", text } });

/** mrkdwn pieces of one card block, each within a section's limit (escaped already). */
function blockPieces(b: Block, max: number, clean: (s: string) => string): SlackBlock[] {
  // A fence inside the text (a model's answer) would end the code block early: it becomes look-alike ticks.
  const code = (raw: string) =>
    chunkText(clean(raw.replace(/```/g, "ˋˋˋ")), max - 8).map((c) => section("```" + c + "```"));
  switch (b.type) {
    case "divider":
      return [{ type: "divider" }];
    case "text":
      return chunkText(clean(b.text), max).map(section);
    case "code":
      return code(b.text);
    case "table":
      return code(renderBlock(b));
    case "fields": {
      const lines = b.fields.map(([k, v]) => `*${clean(k)}*: ${clean(v)}`);
      return chunkText(lines.join("\n"), max).map(section);
    }
    case "list": {
      const items = b.items.map((i) => `• ${clean(i).replace(/\n/g, "\n   ")}`);
      const body = `${b.title ? `*${clean(b.title)}*\n` : ""}${items.join("\n")}`;
      return chunkText(body, max).map(section);
    }
  }
}

function actionsBlock(
  actions: CardAction[],
  clean: (s: string) => string,
  plain: (s: string) => string,
  max: number,
): SlackBlock {
  return {
    type: "actions",
    block_id: "tune_actions",
    elements: actions.slice(0, 25).map((a) => ({
      type: "button" as const,
      action_id: `tune:${a.id}`.slice(0, 255),
      text: { type: "plain_text" as const, text: clip(plain(a.label), max), emoji: true },
      value: a.command.slice(0, 2000),
      ...(a.style ? { style: a.style } : {}),
      ...(a.style === "danger"
        ? {
            confirm: {
              title: { type: "plain_text" as const, text: "Are you sure?" },
              text: { type: "mrkdwn" as const, text: clip(clean(`This runs /tune ${a.command}.`), 300) },
              confirm: { type: "plain_text" as const, text: clip(plain(a.label), 30) },
              deny: { type: "plain_text" as const, text: "Keep it" },
              style: "danger" as const,
            },
          }
        : {}),
    })),
  };
}

export function renderCard(card: Card, opts: RenderOptions): Rendered {
  const L = { ...LIMITS, ...opts.limits };
  const clean = (s: string) => escapeMrkdwn(scrubSecrets(s, opts.secrets));
  // plain_text (header, button labels) is not mrkdwn: scrubbed, not escaped.
  const plain = (s: string) => scrubSecrets(s, opts.secrets);
  const size = (b: SlackBlock) => JSON.stringify(b).length;

  const head: SlackBlock[] = [];
  if (card.title) {
    const emoji = card.tone ? TONE_EMOJI[card.tone] : "";
    head.push({
      type: "header",
      text: {
        type: "plain_text",
        text: clip(`${emoji ? `${emoji} ` : ""}${plain(card.title)}`, L.headerChars),
        emoji: true,
      },
    });
  }
  const tail: SlackBlock[] = [];
  if (card.actions?.length) tail.push(actionsBlock(card.actions, clean, plain, L.buttonChars));
  if (opts.footer)
    tail.push({
      type: "context",
      elements: [{ type: "mrkdwn", text: clip(scrubSecrets(opts.footer, opts.secrets), L.contextChars) }],
    });

  const body = card.blocks.flatMap((b) => blockPieces(b, L.sectionChars, clean));
  const noteReserve = 1;
  const fixed = [...head, ...tail];
  let chars = fixed.reduce((n, b) => n + size(b), 0);
  const budgetBlocks = L.blocks - fixed.length - noteReserve;
  const budgetChars = L.messageChars - 400; // room for the note
  const kept: SlackBlock[] = [];
  let truncated = false;
  for (const b of body) {
    const n = size(b);
    if (kept.length + 1 > budgetBlocks || chars + n > budgetChars) {
      truncated = true;
      break;
    }
    kept.push(b);
    chars += n;
  }
  const files: CardFile[] = [...(card.files ?? [])];
  if (truncated) {
    const full = scrubSecrets(renderPlain({ ...card, actions: undefined }), opts.secrets);
    const name = `${slug(card.title ?? "reply")}-full.txt`;
    const shown = kept.length;
    const note = opts.ephemeral
      ? `_Cut here: ${fmt.count(body.length - shown, "more part")}, ${fmt.count(full.length, "character")} in all. Run the command in a channel to get the whole reply as a file._`
      : `_Cut here: ${fmt.count(body.length - shown, "more part")}. The whole reply (${fmt.count(full.length, "character")}) is attached as \`${name}\`._`;
    kept.push({ type: "context", elements: [{ type: "mrkdwn", text: note }] });
    if (!opts.ephemeral)
      files.push({ name, content: full, mime: "text/plain", title: `${card.title ?? "Reply"} (full text)` });
  }
  const firstText = card.blocks.find((b) => b.type === "text") as { text: string } | undefined;
  const fallback = clip(clean([card.title, firstText?.text].filter(Boolean).join(": ") || "tuneloop"), L.fallbackChars);
  return { text: fallback, blocks: [...head, ...kept, ...tail], files, truncated };
}

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-|-$/g, "")
      .slice(0, 40) || "reply"
  );
}

/** Characters Slack counts against a message (our conservative measure: the blocks' JSON). */
export const messageSize = (blocks: SlackBlock[]) => JSON.stringify(blocks).length;
