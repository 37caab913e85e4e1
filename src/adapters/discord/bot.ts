/**
 * The Discord bot: a discord.js client on the gateway, wired to the chat kernel (src/chat/kernel.ts). One listener
 * per file in listeners/: slash commands, buttons, autocomplete, files dropped in watched channels, and replies in
 * run threads. Here: the client, its intents, the dedupe of deliveries (gateway replays), logging without tokens,
 * the run notifier, and the login (READY, or a reason).
 *
 * - a delivery seen twice (gateway replay) runs once: interactions and messages are deduplicated by id in the
 *   database, and the interaction id is the request id, which the run service uses as its idempotency key.
 * - the bot token never reaches a message or a log line: every rendered string is scrubbed, and errors are logged
 *   with webhook/interaction tokens cut from their URLs.
 */
import { once } from "node:events";
import { Client, Events, GatewayIntentBits, RESTEvents } from "discord.js";
import type { App } from "../../app.ts";
import type { NotifierDeps } from "../../core/runs/notifier.ts";
import { ErrorCode, TuneError } from "../../errors.ts";
import { DiscordChat, errorCode } from "./chat.ts";
import { DiscordContext } from "./context.ts";
import { onAutocomplete } from "./listeners/autocomplete.ts";
import { onButton } from "./listeners/buttons.ts";
import { onFileDrop } from "./listeners/file-drop.ts";
import { onSlashCommand } from "./listeners/slash-command.ts";
import { onThreadReply } from "./listeners/thread-replies.ts";
import { ButtonCommands } from "./render.ts";
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
  /** Resolves once the answers in progress have finished (or `timeoutMs`): what a test waits on before it asserts
   * that an event did nothing more. */
  idle(timeoutMs?: number): Promise<void>;
}

export async function startDiscord(app: App, settings: DiscordSettings, opts: StartOptions = {}): Promise<DiscordBot> {
  const secrets = [...new Set([settings.token, ...app.config.secrets])];
  const log = app.log.child({ adapter: "discord" });
  const watch = new Set(settings.watchChannels);

  const intents = [GatewayIntentBits.Guilds];
  // Reading attachments and replies in other people's messages needs the privileged Message Content intent.
  if (watch.size) intents.push(GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent);
  const client = new Client({
    intents,
    rest: settings.apiUrl ? { api: settings.apiUrl } : {},
    allowedMentions: { parse: [] },
  });
  // long button commands are kept by the kernel (created with the context below), so they outlive a restart
  const buttons = new ButtonCommands({
    keepButton: (command) => d.kernel.keepButton(command),
    buttonCommand: (key) => d.kernel.buttonCommand(key),
  });
  const chat = new DiscordChat({ rest: client.rest, log, secrets, buttons });
  const d = new DiscordContext(app, chat, buttons, log, secrets, {
    fastReplyMs: opts.fastReplyMs ?? 1000,
    progressEveryMs: opts.progressEveryMs ?? 1500,
  });
  const { kernel } = d;
  const scrub = (s: string) => d.scrub(s);
  const errInfo = (err: unknown) => d.errInfo(err);

  client.on(Events.InteractionCreate, (i) => {
    if (!kernel.first(`interaction:${i.id}`)) {
      log.info({ interaction: i.id }, "duplicate interaction ignored");
      return;
    }
    if (i.isAutocomplete())
      d.track(onAutocomplete(d, i).catch((err) => log.warn({ err: errInfo(err) }, "autocomplete answer failed")));
    else if (i.isChatInputCommand()) d.track(onSlashCommand(d, i));
    else if (i.isButton()) d.track(onButton(d, i));
  });
  if (watch.size)
    client.on(Events.MessageCreate, (m) => {
      if (m.author.bot || m.webhookId) return;
      if (m.channel.isThread()) return onThreadReply(d, m);
      if (!watch.has(m.channelId) || m.attachments.size === 0) return;
      if (!kernel.first(`message:${m.id}`)) return;
      d.track(
        onFileDrop(d, m).catch((err) =>
          log.error({ err: errInfo(err), channelId: m.channelId }, "dropped file failed"),
        ),
      );
    });
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

  const stopNotifier = kernel.attach({ notifier: opts.notifier !== false, ...(opts.notifier || {}) });

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
    idle: (timeoutMs = 60_000) => d.idle(timeoutMs),
    async stop() {
      stopNotifier();
      // Let answers in progress finish (bounded), then leave the gateway.
      await d.idle(5000);
      await client.destroy();
    },
  };
}
