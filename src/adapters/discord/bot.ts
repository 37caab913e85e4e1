/**
 * The Discord bot: a discord.js client on the gateway that runs /tune commands, buttons, autocomplete and dataset
 * files dropped in watched channels, and the core's ChatPort for run cards and their threads.
 *
 * Interactions (https://discord.com/developers/docs/interactions/receiving-and-responding):
 * - every one is answered within 3 s. A command that finishes within `fastReplyMs` is answered directly (so an
 *   error or help can be ephemeral); a slower one is deferred, then its reply edited (progress lines too). After a
 *   defer, everything edits or follows up (never a second reply: "already acknowledged", 40060).
 * - an upload's attachment is downloaded right away (its CDN URL is signed and expires) into a file the bot picks in
 *   its temporary folder (receiveUpload), and removed after. Nothing a member types names a host path: words that
 *   try (--file, --out, in any spelling) are refused before anything is downloaded.
 * - a button runs its command (carried in its custom id) as the person who pressed it, with the same permission
 *   checks; a card of the same subject (the run it belongs to) is edited in place, anything else is a new message,
 *   and an error (a stale button: "already cancelled") is an ephemeral answer.
 * - a delivery seen twice (gateway replay) runs once: interactions and messages are deduplicated by id, and the
 *   interaction id is the request id, which the run service uses as its idempotency key.
 * - the bot token never reaches a message or a log line: every rendered string is scrubbed, and errors are logged
 *   with webhook/interaction tokens cut from their URLs.
 */
import fs from "node:fs";
import { once } from "node:events";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  RESTEvents,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Guild,
  type GuildMember,
  type Interaction,
  type InteractionEditReplyOptions,
  type Message,
  type User,
} from "discord.js";
import type { APIInteractionGuildMember } from "discord.js";
import { type Attachment, receiveUpload } from "../../../commands/attachments.ts";
import { fmt } from "../../core/format.ts";
import { preflight, runCommand, runCommandLine, type Outcome } from "../../../commands/dispatch.ts";
import { kebab, splitWords } from "../../../commands/parse.ts";
import { runCardFor, runVerdictCard } from "../../../commands/run.ts";
import type { Actor, CommandContext, CommandDef } from "../../../commands/types.ts";
import type { App } from "../../app.ts";
import { errorCard, type Card } from "../../core/cards.ts";
import { attachRunNotifier, type NotifierDeps } from "../../core/runs/notifier.ts";
import { STATE_LABEL } from "../../core/runs/states.ts";
import { ErrorCode, TuneError } from "../../errors.ts";
import { scrubSecrets } from "../../log.ts";
import { DiscordChat, DiscordCode, errorCode } from "./chat.ts";
import {
  ATTACHMENT_OPTION,
  chatFields,
  completeKind,
  findDef,
  interactionPath,
  interactionWords,
  type CompleteKind,
  type InteractionOption,
} from "./commands.ts";
import { ButtonCommands, type DiscordMessage } from "./render.ts";
import type { DiscordSettings } from "./settings.ts";

export interface StartOptions {
  /** Answer directly when the command is done within this long, else defer (default 1,000 ms; Discord allows 3 s). */
  fastReplyMs?: number;
  /** Progress edits of a deferred reply at most this often (default 1,500 ms). */
  progressEveryMs?: number;
  /** How long to wait for the gateway's READY (default 30 s). */
  readyTimeoutMs?: number;
  /**
   * The run notifier (run cards edited in place; progress, verdict and charts in the run's thread) is attached here
   * unless `false` (a caller that attaches one for whichever chat runs). Its timing can be set (tests make it eager).
   */
  notifier?: false | Pick<NotifierDeps, "threadEveryMs" | "cardEveryMs">;
}

export interface DiscordBot {
  client: Client;
  chat: DiscordChat;
  stop(): Promise<void>;
}

/** Files worth trying as datasets when dropped in a watched channel (others, e.g. screenshots, are left alone). */
const DATASET_FILE = /\.(jsonl|ndjson|json|txt|csv|tsv|parquet|xlsx|zip|gz)$/i;

/** A bounded set of ids seen (gateway replays deliver an event again). */
class SeenIds {
  private readonly ids = new Set<string>();
  constructor(
    private readonly max = 10_000,
    /** With replicas (Postgres): takes the id in the database; false when another replica took it first. */
    private readonly shared?: (id: string) => boolean,
  ) {}
  /** True the first time an id is offered (to any replica). */
  first(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.shared && !this.shared(id)) return false;
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }
}

/** Cuts interaction and webhook tokens out of a REST URL. */
const safeUrl = (url: unknown) =>
  typeof url === "string" ? url.replace(/\/(webhooks|interactions)\/(\d+)\/[^/?\s)]+/g, "/$1/$2/:token") : undefined;

export async function startDiscord(app: App, settings: DiscordSettings, opts: StartOptions = {}): Promise<DiscordBot> {
  const secrets = [...new Set([settings.token, ...app.config.secrets])];
  const scrub = (s: string) => safeUrl(scrubSecrets(s, secrets)) ?? "";
  const log = app.log.child({ adapter: "discord" });
  const errInfo = (err: unknown) => {
    if (!(err instanceof Error)) return { message: scrub(String(err)) };
    const e = err as Error & { code?: unknown; status?: unknown; method?: unknown; url?: unknown };
    return {
      name: e.name,
      message: scrub(e.message),
      code: e.code,
      status: e.status,
      method: e.method,
      url: safeUrl(e.url),
      stack: scrub(e.stack ?? ""),
    };
  };
  const fastReplyMs = opts.fastReplyMs ?? 1000;
  const progressEveryMs = opts.progressEveryMs ?? 1500;
  const watch = new Set(settings.watchChannels);

  const intents = [GatewayIntentBits.Guilds];
  // Reading attachments of other people's messages needs the privileged Message Content intent.
  if (watch.size) intents.push(GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent);
  const client = new Client({
    intents,
    rest: settings.apiUrl ? { api: settings.apiUrl } : {},
    allowedMentions: { parse: [] },
  });
  const buttons = new ButtonCommands();
  const chat = new DiscordChat({ rest: client.rest, log, secrets, buttons });
  const render = (card: Card): DiscordMessage => chat.render(card);
  const pg = app.pg;
  const seen = new SeenIds(undefined, pg ? (id) => pg.claimDelivery(`discord:${id}`) : undefined);
  const pressing = new Set<string>();
  const inFlight = new Set<Promise<unknown>>();

  // ---------------------------------------------------------------------------------------------------------
  // Who is asking.

  function actor(user: User, member: GuildMember | APIInteractionGuildMember | null, guild: Guild | null): Actor {
    let ids: string[] = [];
    if (member) ids = Array.isArray(member.roles) ? [...member.roles] : [...(member as GuildMember).roles.cache.keys()];
    ids = ids.filter((id) => id !== guild?.id); // @everyone
    // A role's name is kept apart from its id: it matches only entries written role:NAME (src/lib/principals.ts).
    const roles = ids.map((id) => ({ id, name: guild?.roles.cache.get(id)?.name }));
    const display = member && "displayName" in member ? member.displayName : undefined;
    return { id: user.id, name: display || user.globalName || user.username, roles };
  }

  function contextFor(i: Interaction | Message, requestId: string): CommandContext {
    const user = "user" in i && i.user ? i.user : (i as Message).author;
    return {
      app,
      user: actor(user, i.member as GuildMember | APIInteractionGuildMember | null, i.guild),
      channelId: i.channelId!,
      surface: "discord",
      requestId,
      progress: () => {},
    };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Answers to one interaction: reply, or defer then edit; never a second initial response.

  class Answer {
    private chain: Promise<unknown> = Promise.resolve();
    private deferring: Promise<void> | null = null;
    private lastProgress = 0;
    done = false;

    constructor(private readonly i: ChatInputCommandInteraction) {}

    get acknowledged() {
      return this.i.deferred || this.i.replied || this.deferring !== null;
    }

    defer(ephemeral = false): Promise<void> {
      if (!this.deferring) {
        this.deferring = this.i.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {}).then(() => undefined);
        this.chain = this.deferring;
      }
      return this.deferring;
    }

    progress(message: string) {
      const now = Date.now();
      if (this.done || !this.deferring || now - this.lastProgress < progressEveryMs) return;
      this.lastProgress = now;
      this.chain = this.chain
        .then(() => (this.done ? undefined : this.i.editReply({ content: scrub(`⏳ ${message}`).slice(0, 2000) })))
        .catch((err) => log.debug({ err: errInfo(err) }, "progress edit failed"));
    }

    /** The final answer; returns the posted message's id when it is a public message. */
    async final(card: Card): Promise<string | null> {
      this.done = true;
      const msg = render(card);
      const payload = {
        content: msg.content,
        embeds: msg.embeds,
        components: msg.components,
        files: msg.files.map((f) => ({ attachment: f.data, name: f.name })),
        allowedMentions: { parse: [] },
      };
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
          return (await chat.post(this.i.channelId, card)).messageId;
        }
        throw err;
      }
    }
  }

  /** After an answer is posted: remember it, hand its id to the command (a run's card), fill its thread. */
  async function afterPost(
    outcome: Outcome,
    channelId: string,
    messageId: string | null,
    i: ChatInputCommandInteraction | ButtonInteraction,
  ) {
    if (messageId) {
      chat.remember(messageId, outcome.card.title);
      outcome.onPosted?.({ channelId, messageId });
      for (const t of outcome.card.thread ?? []) await chat.post(channelId, t, { threadId: messageId });
    } else {
      for (const t of outcome.card.thread ?? [])
        await i.followUp({ ...toOptions(render(t)), flags: MessageFlags.Ephemeral });
    }
  }

  const toOptions = (msg: DiscordMessage) => ({
    content: msg.content,
    embeds: msg.embeds,
    components: msg.components,
    files: msg.files.map((f) => ({ attachment: f.data, name: f.name })),
    allowedMentions: { parse: [] },
  });

  // ---------------------------------------------------------------------------------------------------------
  // Attachments.

  /** Downloads an attachment from Discord's CDN into a file the bot picks (receiveUpload), within the size limit. */
  async function download(url: string, name: string, size: number): Promise<Attachment> {
    const limit = app.config.limits.maxUploadBytes;
    const tooLarge = (bytes: number) =>
      new TuneError(
        ErrorCode.DatasetTooLarge,
        `The file is ${fmt.mb(bytes)}, over the ${fmt.mb(limit, 0)} upload limit (TUNELOOP_MAX_UPLOAD_MB). Split it, or raise the limit.`,
      );
    if (size > limit) throw tooLarge(size);
    try {
      return await receiveUpload(app.blobs, name, (dest) => fetchTo(dest), "discord");
    } catch (err) {
      if (err instanceof TuneError) throw err;
      throw new TuneError(
        "discord_download_failed",
        `Could not download ${name} from Discord (${(err as Error).message}). Attach the file again.`,
      );
    }
    async function fetchTo(dest: string) {
      const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
      if (!res.ok || !res.body) {
        throw new TuneError(
          "discord_download_failed",
          `Could not download ${name} from Discord (HTTP ${res.status}). Its link may have expired: attach the file again.`,
        );
      }
      let bytes = 0;
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          cb(bytes > limit ? tooLarge(bytes) : null, chunk);
        },
      });
      await pipeline(
        Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
        count,
        fs.createWriteStream(dest),
      );
    }
  }

  /** Downloads the upload, runs the command with it, and removes it once read (before the answer goes out). */
  async function runWithUpload(
    att: { url: string; name: string; size: number },
    words: string[],
    ctx: CommandContext,
  ): Promise<Outcome> {
    let upload: Attachment | null = null;
    try {
      upload = await download(att.url, att.name, att.size);
      return await runCommand(words, { ...ctx, attachment: upload });
    } catch (err) {
      return failed(err);
    } finally {
      upload?.discard();
    }
  }

  const failed = (err: unknown): Outcome => {
    const te = err instanceof TuneError ? err : null;
    if (!te) log.error({ err: errInfo(err) }, "discord handler failed");
    return {
      card: te
        ? errorCard(te.message, te.code)
        : errorCard("Something went wrong on the bot's side; it is in the bot's log."),
      data: null,
      exitCode: te ? 1 : 2,
    };
  };

  // ---------------------------------------------------------------------------------------------------------
  // Slash commands.

  async function onSlash(i: ChatInputCommandInteraction) {
    const answer = new Answer(i);
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
      const ctx = contextFor(i, i.id);
      ctx.progress = (m) => answer.progress(m);
      const att = def.attachment ? i.options.getAttachment(ATTACHMENT_OPTION) : null;
      let outcome: Outcome;
      const refused = att ? preflight(words, ctx) : null;
      if (refused) {
        outcome = refused; // refused before the handler: nothing to download
      } else if (att) {
        await answer.defer();
        outcome = await runWithUpload(att, words, ctx);
      } else {
        const running = runCommand(words, ctx);
        const timer = setTimeout(() => {
          void answer.defer().catch((err) => log.warn({ err: errInfo(err) }, "defer failed"));
        }, fastReplyMs);
        try {
          outcome = await running;
        } finally {
          clearTimeout(timer);
        }
      }
      const messageId = await answer.final(outcome.card);
      await afterPost(outcome, i.channelId, messageId, i);
    } catch (err) {
      log.error({ err: errInfo(err) }, "slash command failed");
      if (!answer.done) await answer.final(failed(err).card).catch(() => {});
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Buttons.

  const subject = (title: string | null | undefined) => (title ?? "").split(" · ")[0].trim();

  async function onButton(i: ButtonInteraction) {
    const command = buttons.command(i.customId);
    if (!command) return; // not one of ours
    const key = `${i.message.id}:${i.customId}`;
    if (pressing.has(key)) {
      await i.reply({ content: "Already on it: that button was just pressed.", flags: MessageFlags.Ephemeral });
      return;
    }
    pressing.add(key);
    try {
      await i.deferUpdate();
      const outcome = await runCommandLine(command, contextFor(i, i.id));
      if (outcome.exitCode !== 0 || outcome.card.ephemeral) {
        await i.followUp({ ...toOptions(render(outcome.card)), flags: MessageFlags.Ephemeral });
        return;
      }
      if (subject(outcome.card.title) && subject(outcome.card.title) === subject(i.message.embeds[0]?.title)) {
        // The same run's card: edited in place, in order with the notifier's edits of it.
        await chat.update(i.channelId, i.message.id, outcome.card).catch(async (err) => {
          log.warn({ err: errInfo(err) }, "in-place edit failed; editing through the interaction");
          await i.editReply(toOptions(render(outcome.card)));
        });
        for (const t of outcome.card.thread ?? []) await chat.post(i.channelId, t, { threadId: i.message.id });
        return;
      }
      const posted = await i.followUp(toOptions(render(outcome.card)));
      await afterPost(outcome, i.channelId, posted.id, i);
    } catch (err) {
      log.error({ err: errInfo(err) }, "button failed");
      const card = failed(err).card;
      await (i.deferred || i.replied
        ? i.followUp({ ...toOptions(render(card)), flags: MessageFlags.Ephemeral })
        : i.reply({ ...toOptions(render(card)), flags: MessageFlags.Ephemeral })
      ).catch(() => {});
    } finally {
      pressing.delete(key);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Autocomplete: at most 25 choices, answered at once (the data is local).

  function suggestions(kind: CompleteKind, typed: string): Array<{ name: string; value: string | number }> {
    const q = typed.trim().toLowerCase();
    const rank = (xs: string[]) =>
      [...new Set(xs)]
        .filter((x) => x.toLowerCase().includes(q))
        .sort(
          (a, b) =>
            Number(!a.toLowerCase().startsWith(q)) - Number(!b.toLowerCase().startsWith(q)) || a.localeCompare(b),
        );
    const asChoices = (xs: string[]) => xs.slice(0, 25).map((x) => ({ name: x.slice(0, 100), value: x.slice(0, 100) }));
    switch (kind) {
      case "dataset": {
        const names = app.datasets.names();
        if (q.includes("@")) {
          const name = q.slice(0, q.indexOf("@"));
          const versions = names.includes(name)
            ? app.datasets.versions(name).map((v) => `${v.name}@v${v.version}`)
            : [];
          return asChoices(rank(versions));
        }
        return asChoices(rank(names));
      }
      case "experiment":
        return asChoices(rank(app.experiments.list().map((e) => e.name)));
      case "run":
        return app.runs
          .list({ limit: 100 })
          .map((r) => ({
            r,
            label: `#${r.id} ${STATE_LABEL[r.state]} · ${app.engine.experimentById(r.experimentId)?.name ?? "?"} · ${app.datasets.refOf(r.datasetVersionId)}`,
          }))
          .filter(
            ({ r, label }) => !q || String(r.id).startsWith(q.replace(/^#/, "")) || label.toLowerCase().includes(q),
          )
          .slice(0, 25)
          .map(({ r, label }) => ({ name: label.slice(0, 100), value: r.id }));
      case "model": {
        const runs = app.runs
          .list({ limit: 50 })
          .filter((r) => r.state === "succeeded")
          .map((r) => `run:${r.id}`);
        const bases = [...new Set(app.runs.list({ limit: 50 }).map((r) => `${r.provider}:${r.baseModel}`))];
        const baselines = app.experiments.list().flatMap((e) => e.baselines);
        return asChoices(rank(["best", ...runs, ...bases, ...baselines]));
      }
      case "target": {
        const runs = app.runs.list({ limit: 50 }).map((r) => `run:${r.id}`);
        return asChoices(rank([...app.experiments.list().map((e) => e.name), ...runs]));
      }
    }
  }

  async function onAutocomplete(i: AutocompleteInteraction) {
    let choices: Array<{ name: string; value: string | number }> = [];
    try {
      const { path, leaf } = interactionPath(i.options.data as readonly InteractionOption[]);
      const def = findDef(path);
      const focused = leaf.find((o) => o.focused);
      const field = def && focused ? chatFields(def).find(([f]) => kebab(f) === focused.name) : undefined;
      const kind = def && field ? completeKind(def as CommandDef, field[0], field[1]) : null;
      if (kind && focused) choices = suggestions(kind, String(focused.value ?? ""));
    } catch (err) {
      log.warn({ err: errInfo(err) }, "autocomplete failed");
    }
    await i.respond(choices.slice(0, 25).map((c) => ({ name: scrub(c.name), value: c.value })));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Files dropped in watched channels.

  async function onDrop(m: Message, att: { name: string; url: string; size: number }, words: string[]) {
    const ctx = contextFor(m, `${m.id}:${att.name}`);
    const refused = preflight(words, ctx);
    if (refused) {
      await chat.post(m.channelId, refused.card, { replyTo: m.id });
      return;
    }
    const { messageId } = await chat.post(
      m.channelId,
      { blocks: [{ type: "text", text: `📥 Reading ${att.name}…` }] },
      { replyTo: m.id },
    );
    let last = 0;
    ctx.progress = (line) => {
      const now = Date.now();
      if (now - last < progressEveryMs) return;
      last = now;
      void chat.update(m.channelId, messageId, { blocks: [{ type: "text", text: `📥 ${line}` }] }).catch(() => {});
    };
    const outcome = await runWithUpload(att, words, ctx);
    await chat.update(m.channelId, messageId, outcome.card);
    outcome.onPosted?.({ channelId: m.channelId, messageId });
    for (const t of outcome.card.thread ?? []) await chat.post(m.channelId, t, { threadId: messageId });
  }

  async function onMessage(m: Message) {
    if (m.author.bot || m.webhookId || !watch.has(m.channelId) || m.attachments.size === 0) return;
    if (!seen.first(`message:${m.id}`)) return;
    const files = [...m.attachments.values()].filter((a) => DATASET_FILE.test(a.name));
    // "/tune dataset upload NAME --drop-bad-rows" as the message's text names the dataset (one file only).
    const text = m.content.trim();
    let words = ["dataset", "upload"];
    if (files.length === 1 && /^\/?tune\s+dataset\s+upload\b/i.test(text)) {
      try {
        words = splitWords(text.replace(/^\//, ""));
      } catch {
        // an unclosed quote: the plain upload below
      }
    }
    for (const a of files) {
      try {
        await onDrop(m, { name: a.name, url: a.url, size: a.size }, words);
      } catch (err) {
        log.error({ err: errInfo(err), channelId: m.channelId }, "dropped file failed");
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Wiring.

  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  client.on(Events.InteractionCreate, (i) => {
    if (!seen.first(`interaction:${i.id}`)) {
      log.info({ interaction: i.id }, "duplicate interaction ignored");
      return;
    }
    if (i.isAutocomplete())
      track(onAutocomplete(i).catch((err) => log.warn({ err: errInfo(err) }, "autocomplete answer failed")));
    else if (i.isChatInputCommand()) track(onSlash(i));
    else if (i.isButton()) track(onButton(i));
  });
  if (watch.size) client.on(Events.MessageCreate, (m) => track(onMessage(m)));
  client.on(Events.Error, (err) => log.error({ err: errInfo(err) }, "discord client error"));
  client.on(Events.Warn, (w) => log.warn(scrub(w)));
  client.on(Events.Debug, (d) => log.trace(scrub(d)));
  let gatewayTrouble: string | null = null;
  client.on(Events.ShardError, (err) => {
    gatewayTrouble = scrub(err.message);
    log.warn({ err: errInfo(err) }, "gateway connection error");
  });
  client.on(Events.ShardDisconnect, (ev) => {
    gatewayTrouble = `the gateway closed the connection with code ${ev.code}`;
    log.error({ code: ev.code }, "gateway connection closed for good");
  });
  client.on(Events.ShardReconnecting, (id) => log.info({ shard: id }, "gateway reconnecting"));
  client.on(Events.ShardResume, (id, replayed) => log.info({ shard: id, replayed }, "gateway session resumed"));
  client.rest.on(RESTEvents.RateLimited, (info) =>
    log.warn(
      { route: info.route, method: info.method, retryAfterMs: info.retryAfter, global: info.global, scope: info.scope },
      "rate limited by Discord; waiting",
    ),
  );

  const stopNotifier =
    opts.notifier === false
      ? () => {}
      : attachRunNotifier(app.runs.events, {
          chat: () => app.chat,
          card: (run) => runCardFor(app, run),
          verdictCard: (run, v) => runVerdictCard(app, run, v),
          onError: (err) => log.warn({ err: errInfo(err) }, "run card or thread update failed"),
          ...opts.notifier,
        });
  app.chat = chat;

  // Ready, or a reason: a connection Discord will not take back (bad intents, bad token) fails at once, and a gateway
  // that never says READY fails after readyTimeoutMs (discord.js's login would wait for ever).
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const abort = new AbortController();
  const ready = once(client, Events.ClientReady, { signal: abort.signal });
  const refused = once(client, Events.ShardDisconnect, { signal: abort.signal }).then(([ev]) => {
    throw new Error(`the gateway closed the connection with code ${(ev as { code: number }).code}`);
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no READY from the gateway within ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
  });
  for (const p of [ready, refused, late]) p.catch(() => {});
  try {
    await Promise.race([client.login(settings.token).then(() => ready), refused, late]);
  } catch (err) {
    stopNotifier();
    if (app.chat === chat) app.chat = undefined;
    await client.destroy().catch(() => {});
    const code = errorCode(err);
    if (code === "TokenInvalid" || (err as { status?: number }).status === 401) {
      throw new TuneError(
        ErrorCode.ConfigInvalid,
        "Discord refused the bot token (DISCORD_TOKEN). Reset it in the Developer Portal (Bot > Reset Token) and update .env.",
      );
    }
    const why = `${(err as Error).message ?? ""} ${gatewayTrouble ?? ""}`;
    if (/disallowed intents|code 4014/i.test(why)) {
      throw new TuneError(
        ErrorCode.ConfigInvalid,
        "Discord refused the Message Content intent that DISCORD_WATCH_CHANNELS needs: turn it on in the Developer Portal (Bot > Privileged Gateway Intents), or clear DISCORD_WATCH_CHANNELS.",
      );
    }
    throw new TuneError(
      "discord_login_failed",
      `Could not connect to Discord: ${scrub(gatewayTrouble ?? (err as Error).message ?? String(err))}`,
    );
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  log.info({ user: client.user?.tag, guilds: client.guilds.cache.size, watching: [...watch] }, "discord bot online");

  return {
    client,
    chat,
    async stop() {
      stopNotifier();
      if (app.chat === chat) app.chat = undefined;
      // Let answers in progress finish (bounded), then leave the gateway.
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 5000).unref())]);
      await client.destroy();
    },
  };
}
