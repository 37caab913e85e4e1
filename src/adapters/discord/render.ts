/**
 * Renders a platform-neutral Card as a Discord message: one embed (title, description, fields, colour by tone),
 * buttons for the card's actions, and its files as attachments.
 *
 * Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits and
 * .../resources/message#create-message): content 2,000 characters; embed title 256, description 4,096, 25 fields
 * (name 256, value 1,024), footer 2,048, 6,000 characters across the embeds of a message; 10 attachments; 5 action
 * rows of 5 buttons, custom_id up to 100 characters, label up to 80. What does not fit is cut at a line, and the
 * whole card then comes along as a text file so nothing is lost.
 */
import {
  ButtonStyle,
  ComponentType,
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIEmbed,
  type APIEmbedField,
} from "discord.js";
import { fmt } from "../../core/format.ts";
import type { Block, Card, CardAction, CardFile, Tone } from "../../core/cards.ts";
import { scrubSecrets } from "../../log.ts";
import { buttonKey } from "../../chat/buttons.ts";
import { renderBlock as plainBlock, renderCard as plainCard } from "../../chat/text.ts";

export const LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
  files: 10,
  /** Bots may upload 10 MiB a message in servers without boosts. */
  fileBytes: 10 * 1024 * 1024,
  rows: 5,
  buttonsPerRow: 5,
  customId: 100,
  label: 80,
} as const;

const COLOURS: Record<Tone, number> = { info: 0x5865f2, success: 0x57f287, warning: 0xfee75c, error: 0xed4245 };

export interface MessageFile {
  name: string;
  data: Buffer;
  contentType?: string;
}

export interface DiscordMessage {
  content: string;
  embeds: APIEmbed[];
  components: Array<APIActionRowComponent<APIButtonComponentWithCustomId>>;
  files: MessageFile[];
}

/** Where the commands of long buttons are kept (the chat kernel: in the database, so they outlive a restart). */
export interface LongButtons {
  keepButton(command: string): string;
  buttonCommand(key: string): string | null;
}

/**
 * Button custom ids carry the command (`tune:run confirm 7`). One too long for 100 characters gets a key (`tune#` and
 * a hash of the command) and its command is kept by the kernel, so the button works after a restart too; without a
 * kernel (renderer tests), in memory.
 */
export class ButtonCommands {
  private readonly long = new Map<string, string>();
  static readonly PREFIX = "tune:";

  constructor(private readonly store?: LongButtons) {}

  customId(command: string): string {
    const id = `${ButtonCommands.PREFIX}${command}`;
    if (id.length <= LIMITS.customId) return id;
    const key = this.store?.keepButton(command) ?? buttonKey(command);
    this.long.set(key, command);
    if (this.long.size > 5000) this.long.delete(this.long.keys().next().value as string);
    return key;
  }

  /** The command a button runs, or null for a custom id that is not ours. */
  command(customId: string): string | null {
    if (customId.startsWith(ButtonCommands.PREFIX)) return customId.slice(ButtonCommands.PREFIX.length);
    if (!customId.startsWith("tune#")) return null;
    return this.long.get(customId) ?? this.store?.buttonCommand(customId) ?? null;
  }
}

/** Cuts markdown at a line near `max` characters, closing a code block left open. */
export function clipMarkdown(s: string, max: number): string {
  if (s.length <= max) return s;
  const room = Math.max(0, max - 6);
  let cut = s.slice(0, room);
  const nl = cut.lastIndexOf("\n");
  if (nl > room * 0.6) cut = cut.slice(0, nl);
  const fences = cut.split("```").length - 1;
  if (fences % 2 === 1) cut = `${cut.slice(0, Math.max(0, room - 4))}\n\`\`\``;
  return `${cut}\n…`.slice(0, max);
}

const clip = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

const fence = (s: string) => `\`\`\`\n${s.replace(/```/g, "ˋˋˋ")}\n\`\`\``;

/** One block as Discord markdown (fields are rendered as embed fields elsewhere). */
export function blockMarkdown(b: Block): string {
  switch (b.type) {
    case "text":
      return b.text;
    case "code":
      return fence(b.text);
    case "divider":
      return "─".repeat(24);
    case "list":
      return [b.title ? `**${b.title}**` : null, ...b.items.map((i) => `• ${i}`)].filter((x) => x !== null).join("\n");
    case "table":
      return fence(plainBlock(b));
    case "fields":
      return b.fields.map(([k, v]) => `**${k}**: ${v}`).join("\n");
  }
}

export const safeFileName = (name: string) =>
  (
    name
      .replace(/[\\/]/g, "_")
      .replace(/[^\w.-]+/g, "_")
      .replace(/^\.+/, "") || "file"
  ).slice(0, 100);

const slug = (s: string | undefined) =>
  (s ?? "reply")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 40) || "reply";

const IMAGE = /\.(png|jpe?g|gif|webp)$/i;

function fileData(f: CardFile, secrets: readonly string[]): Buffer {
  return typeof f.content === "string" ? Buffer.from(scrubSecrets(f.content, secrets), "utf8") : Buffer.from(f.content);
}

function buttonRows(
  actions: CardAction[] | undefined,
  buttons: ButtonCommands,
  secrets: readonly string[],
): DiscordMessage["components"] {
  const rows: DiscordMessage["components"] = [];
  const seen = new Set<string>();
  for (const a of actions ?? []) {
    const customId = buttons.customId(a.command);
    if (seen.has(customId)) continue; // custom ids must be unique within a message
    seen.add(customId);
    if (rows.length === 0 || rows[rows.length - 1].components.length >= LIMITS.buttonsPerRow) {
      if (rows.length >= LIMITS.rows) break;
      rows.push({ type: ComponentType.ActionRow, components: [] });
    }
    rows[rows.length - 1].components.push({
      type: ComponentType.Button,
      custom_id: customId,
      label: clip(scrubSecrets(a.label, secrets), LIMITS.label),
      style:
        a.style === "primary" ? ButtonStyle.Primary : a.style === "danger" ? ButtonStyle.Danger : ButtonStyle.Secondary,
    });
  }
  return rows;
}

export interface RenderOptions {
  secrets: readonly string[];
  buttons: ButtonCommands;
}

const embedSize = (e: APIEmbed) =>
  (e.title?.length ?? 0) +
  (e.description?.length ?? 0) +
  (e.footer?.text.length ?? 0) +
  (e.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0);

/** A card as a Discord message, within Discord's limits. */
export function renderMessage(card: Card, opts: RenderOptions): DiscordMessage {
  const scrub = (s: string) => scrubSecrets(s, opts.secrets);
  const components = buttonRows(card.actions, opts.buttons, opts.secrets);
  const notes: string[] = [];
  const files: MessageFile[] = [];
  for (const f of card.files ?? []) {
    const data = fileData(f, opts.secrets);
    if (data.length > LIMITS.fileBytes) {
      notes.push(`${f.name} (${fmt.mb(data.length)}) is over Discord's upload limit and was left out.`);
      continue;
    }
    files.push({ name: safeFileName(f.name), data, contentType: f.mime });
  }

  // A short untitled text card (a thread's progress line) is plain message content.
  const onlyText = !card.title && card.blocks.every((b) => b.type === "text");
  if (onlyText) {
    const content = scrub(card.blocks.map((b) => blockMarkdown(b)).join("\n\n"));
    if (content.length <= LIMITS.content)
      return finish({ content, embeds: [], components, files }, card, notes, false, opts);
  }
  if (!card.title && card.blocks.length === 0)
    return finish({ content: "", embeds: [], components, files }, card, notes, false, opts);

  // Blocks before the first fields block form the description; fields become embed fields; blocks after the
  // fields are fields without a name when they fit one (Discord shows fields below the description).
  const before: string[] = [];
  const fields: APIEmbedField[] = [];
  let overflow = false;
  let afterFields = false;
  for (const b of card.blocks) {
    if (b.type === "fields") {
      afterFields = true;
      for (const [k, v] of b.fields) {
        const name = clip(scrub(k) || "\u200b", LIMITS.fieldName);
        const value = scrub(v) || "-";
        if (value.length > LIMITS.fieldValue) overflow = true;
        fields.push({
          name,
          value: clipMarkdown(value, LIMITS.fieldValue),
          inline: value.length <= 40 && !value.includes("\n"),
        });
      }
      continue;
    }
    const md = scrub(blockMarkdown(b));
    if (afterFields && md.length <= LIMITS.fieldValue) fields.push({ name: "\u200b", value: md || "\u200b" });
    else before.push(md);
  }
  if (fields.length > LIMITS.fields) {
    overflow = true;
    fields.length = LIMITS.fields;
  }
  const title = card.title ? scrub(card.title) : undefined;
  if (title && title.length > LIMITS.title) overflow = true;
  let description = before.join("\n\n");
  if (description.length > LIMITS.description) overflow = true;
  const embed: APIEmbed = {
    title: title ? clip(title, LIMITS.title) : undefined,
    description: description ? clipMarkdown(description, LIMITS.description) : undefined,
    color: card.tone ? COLOURS[card.tone] : undefined,
    fields: fields.length ? fields : undefined,
  };
  const image = files.find((f) => IMAGE.test(f.name));
  if (image) embed.image = { url: `attachment://${image.name}` };
  // 6,000 characters across the message's embeds (footer included, kept in reserve for the notes).
  const budget = LIMITS.embedTotal - 400;
  while (embedSize(embed) > budget) {
    overflow = true;
    if (embed.fields?.length && (embed.description?.length ?? 0) < 1000) embed.fields.pop();
    else if (embed.description) {
      description = clipMarkdown(
        embed.description,
        Math.max(0, embed.description.length - (embedSize(embed) - budget) - 10),
      );
      embed.description = description || undefined;
    } else break;
  }
  return finish({ content: "", embeds: [embed], components, files }, card, notes, overflow, opts);
}

function finish(
  msg: DiscordMessage,
  card: Card,
  notes: string[],
  overflow: boolean,
  opts: RenderOptions,
): DiscordMessage {
  if (overflow) {
    const name = safeFileName(`${slug(card.title)}-full.txt`);
    if (msg.files.length >= LIMITS.files) msg.files.length = LIMITS.files - 1;
    msg.files.push({
      name,
      data: Buffer.from(scrubSecrets(plainCard(card), opts.secrets), "utf8"),
      contentType: "text/plain",
    });
    notes.unshift(`Longer than Discord shows: the whole reply is in ${name}.`);
  }
  if (msg.files.length > LIMITS.files) {
    notes.push(
      `${fmt.count(msg.files.length - LIMITS.files, "more file")} left out (Discord takes ${LIMITS.files} a message).`,
    );
    msg.files.length = LIMITS.files;
  }
  if (notes.length) {
    const text = clip(notes.join("\n"), LIMITS.footer);
    if (msg.embeds[0]) msg.embeds[0].footer = { text };
    else msg.content = clip(msg.content ? `${msg.content}\n\n${text}` : text, LIMITS.content);
  }
  if (!msg.content && !msg.embeds.length && !msg.files.length) msg.content = "\u200b";
  return msg;
}
