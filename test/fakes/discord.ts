/**
 * A protocol-level fake of Discord on loopback: the REST API (v10) and the gateway websocket, enough for a real
 * discord.js client to log in, receive interactions and messages, and answer them. Shapes and rules follow
 * Discord's API documentation:
 * - Gateway (https://discord.com/developers/docs/events/gateway, .../events/gateway-events): HELLO (op 10,
 *   `heartbeat_interval`), HEARTBEAT (op 1) -> HEARTBEAT_ACK (op 11), IDENTIFY (op 2) -> READY (`session_id`,
 *   `resume_gateway_url`, `user`, `guilds` unavailable, `application`) then GUILD_CREATE; RESUME (op 6, `token`,
 *   `session_id`, `seq`) on the resume URL -> the missed dispatches replayed, then RESUMED; an unknown session ->
 *   INVALID_SESSION (op 9). Close 4004 for a bad token. Dispatches carry a sequence number `s`.
 * - Get Gateway Bot (.../topics/gateway#get-gateway-bot): `{ url, shards, session_start_limit }`.
 * - Interactions (.../interactions/receiving-and-responding): the interaction object (type 2 command, 3 component,
 *   4 autocomplete), POST /interactions/{id}/{token}/callback with types 4, 5, 6, 7, 8 (`?with_response=true`
 *   returns the callback response object), at most one callback and within 3 s (else 10062 "Unknown interaction";
 *   a second one 40060 "Interaction has already been acknowledged"); then /webhooks/{application}/{token}/messages/
 *   @original (GET, PATCH, DELETE) and follow-ups POST /webhooks/{application}/{token}.
 * - Messages (.../resources/message): create and edit, JSON or multipart/form-data with `payload_json` and
 *   `files[n]`, `attachments` to keep or drop files on edit; embed limits (title 256, description 4,096, 25 fields of
 *   256/1,024, footer 2,048, 6,000 in total), content 2,000, 10 embeds, 5 action rows of 5 buttons, custom_id 100,
 *   label 80: a payload over them gets 50035 "Invalid Form Body". Ephemeral messages (flag 64) are not reachable
 *   through channel routes (10008). Attachments are served from a CDN route with signed, expiring URLs
 *   (`ex`, `is`, `hm`; "This content is no longer available." after expiry).
 * - Threads (.../resources/channel#start-thread-from-message): POST /channels/{channel}/messages/{message}/threads;
 *   the thread's id is the message's; 160004 when the message has one already, 50024 inside a thread.
 * - Application commands (.../interactions/application-commands): PUT (bulk overwrite), validated against the
 *   documented limits (names, descriptions, 25 options/choices, nesting, 8,000 characters).
 * - Rate limits (.../topics/rate-limits): a scripted 429 with `Retry-After`, `X-RateLimit-*` headers and
 *   `{ message, retry_after, global }`.
 * - JSON error codes (.../topics/opcodes-and-status-codes#json).
 */
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

export interface FakeUser {
  id: string;
  username: string;
  global_name: string | null;
  discriminator: string;
  avatar: null;
  bot?: boolean;
}

export interface FakeMember {
  user: FakeUser;
  roles: string[];
}

export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type?: string;
}

export interface FakeMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  author: FakeUser;
  content: string;
  embeds: Array<
    Record<string, unknown> & {
      title?: string;
      description?: string;
      fields?: Array<{ name: string; value: string }>;
      footer?: { text: string };
    }
  >;
  components: Array<{
    type: number;
    components: Array<{ type: number; custom_id?: string; label?: string; style?: number }>;
  }>;
  attachments: FakeAttachment[];
  flags: number;
  type: number;
  timestamp: string;
  edited_timestamp: string | null;
  tts: false;
  mention_everyone: false;
  mentions: [];
  mention_roles: [];
  pinned: false;
  webhook_id?: string;
  application_id?: string;
  message_reference?: { message_id: string; channel_id?: string; guild_id?: string };
  thread?: FakeChannel;
  /** Every version of the message, the first one included (for "edited in place" checks). */
  versions?: Array<{
    content: string;
    embeds: FakeMessage["embeds"];
    components: FakeMessage["components"];
    attachments: string[];
  }>;
}

export interface FakeChannel {
  id: string;
  type: number;
  guild_id: string;
  name: string;
  position: number;
  permission_overwrites: [];
  parent_id?: string;
  owner_id?: string;
  thread_metadata?: { archived: boolean; auto_archive_duration: number; archive_timestamp: string; locked: boolean };
  message_count?: number;
  member_count?: number;
}

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  query: string;
  authorization?: string;
  json?: Record<string, unknown> & { [k: string]: unknown };
  files: Array<{ field: string; name: string; data: Buffer; contentType: string }>;
  status: number;
}

export interface FakeInteraction {
  id: string;
  token: string;
  type: number;
  channelId: string;
  createdAt: number;
  payload: Record<string, unknown>;
  /** The first callback: its type and when it came (ms after the interaction was dispatched). */
  ack?: { type: number; afterMs: number; data?: Record<string, unknown> };
  /** Callbacks refused (late or a second one), with Discord's code. */
  refused: Array<{ code: number; type: number }>;
  originalId?: string;
  componentMessageId?: string;
  choices?: Array<{ name: string; value: string | number }>;
}

export interface GatewayFrame {
  at: number;
  dir: "in" | "out";
  path: string;
  op: number;
  t?: string | null;
  s?: number | null;
  d?: unknown;
}

export interface FakeDiscordOptions {
  token?: string;
  heartbeatIntervalMs?: number;
  /** How long attachment URLs stay valid (Discord: about a day). */
  attachmentTtlMs?: number;
  /** The interaction response window (Discord: 3 s). */
  ackWindowMs?: number;
  /** Intents the application may not use (privileged ones not switched on in the portal): IDENTIFY with one closes 4014. */
  disallowedIntents?: number;
}

const DISCORD_EPOCH = 1420070400000n;
const API = "/api/v10";
const EPHEMERAL = 64;
const LOADING = 128;
const INTENT_GUILD_MESSAGES = 1 << 9;
const INTENT_MESSAGE_CONTENT = 1 << 15;
const NAME_RE = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: unknown,
  ) {
    super(message);
  }
}

interface Session {
  id: string;
  seq: number;
  events: Array<{ s: number; t: string; d: unknown }>;
  socket: WebSocket | null;
  intents: number;
}

export class FakeDiscord {
  readonly token: string;
  readonly applicationId: string;
  readonly guildId: string;
  readonly channelId: string;
  readonly watchChannelId: string;
  readonly bot: FakeUser;
  readonly roles: Array<{ id: string; name: string }>;
  apiUrl = "";
  origin = "";
  readonly requests: RecordedRequest[] = [];
  readonly gateway: GatewayFrame[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly channels = new Map<string, FakeChannel>();
  readonly interactions = new Map<string, FakeInteraction>();
  readonly rateLimited: Array<{ at: number; method: string; path: string }> = [];
  commands: Array<Record<string, unknown>> = [];
  commandsScope: string | null = null;
  identify: { intents: number; at: number } | null = null;

  private server: http.Server;
  private wss: WebSocketServer;
  private sockets = new Set<WebSocket>();
  private session: Session | null = null;
  private counter = 0n;
  private readonly cdn = new Map<string, { data: Buffer; contentType: string }>();
  private readonly cdnSecret = crypto.randomBytes(16);
  private readonly scripted: Array<{ method: string; path: RegExp; times: number; retryAfter: number }> = [];
  private readonly opts: Required<FakeDiscordOptions>;

  constructor(opts: FakeDiscordOptions = {}) {
    this.opts = {
      token:
        opts.token ??
        `${Buffer.from("100000000000000001").toString("base64")}.fake.${crypto.randomBytes(20).toString("base64url")}`,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 41_250,
      attachmentTtlMs: opts.attachmentTtlMs ?? 24 * 3600_000,
      ackWindowMs: opts.ackWindowMs ?? 3000,
      disallowedIntents: opts.disallowedIntents ?? 0,
    };
    this.token = this.opts.token;
    this.applicationId = "100000000000000001";
    this.guildId = this.snowflake();
    this.channelId = this.snowflake();
    this.watchChannelId = this.snowflake();
    this.bot = {
      id: this.applicationId,
      username: "tuneloop",
      global_name: null,
      discriminator: "0",
      avatar: null,
      bot: true,
    };
    this.roles = [
      { id: this.guildId, name: "@everyone" },
      { id: this.snowflake(), name: "trainers" },
      { id: this.snowflake(), name: "admins" },
    ];
    for (const [id, name] of [
      [this.channelId, "ml"],
      [this.watchChannelId, "datasets"],
    ]) {
      this.channels.set(id, { id, type: 0, guild_id: this.guildId, name, position: 0, permission_overwrites: [] });
    }
    this.server = http.createServer((req, res) => void this.onHttp(req, res));
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on("upgrade", (req, socket, head) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (
        !["/gateway", "/resume"].includes(url.pathname) ||
        url.searchParams.get("v") !== "10" ||
        url.searchParams.get("encoding") !== "json"
      ) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws, url.pathname));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.origin = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.origin}/api`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  snowflake(): string {
    this.counter++;
    return String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) + (this.counter & 0xfffn) + 1n);
  }

  // -------------------------------------------------------------------------------------------------------------
  // People.

  user(name: string, roleNames: string[] = []): FakeMember {
    const id = String(200000000000000000n + BigInt(crypto.createHash("sha256").update(name).digest().readUInt32BE(0)));
    return {
      user: {
        id,
        username: name,
        global_name: name[0].toUpperCase() + name.slice(1),
        discriminator: "0",
        avatar: null,
      },
      roles: roleNames.map((n) => {
        const r = this.roles.find((x) => x.name === n);
        if (!r) throw new Error(`no role ${n}`);
        return r.id;
      }),
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Scripting.

  /** The next `times` requests matching answer 429 with Retry-After `retryAfter` seconds. */
  rateLimit(method: string, path: RegExp, opts: { times?: number; retryAfter?: number } = {}) {
    this.scripted.push({
      method: method.toUpperCase(),
      path,
      times: opts.times ?? 1,
      retryAfter: opts.retryAfter ?? 1,
    });
  }

  /** Closes every gateway connection from the server side (4000: unknown error, which clients resume after). */
  disconnect(code = 4000) {
    for (const s of this.sockets) s.close(code, "fake: connection dropped");
  }

  /** Sends (or, while disconnected, buffers for the resume) a dispatch event. */
  dispatch(t: string, d: unknown) {
    const session = this.session;
    if (!session) throw new Error("no gateway session: log in first");
    const s = ++session.seq;
    session.events.push({ s, t, d });
    if (session.socket && session.socket.readyState === session.socket.OPEN)
      this.send(session.socket, "/gateway", { op: 0, t, s, d });
  }

  /** A file in the CDN, as Discord's attachment object (the URL is signed and expires). */
  addAttachment(
    channelId: string,
    filename: string,
    content: string | Buffer,
    contentType = "application/octet-stream",
    opts: { ttlMs?: number } = {},
  ): FakeAttachment {
    const id = this.snowflake();
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const path = `/attachments/${channelId}/${id}/${filename}`;
    this.cdn.set(path, { data, contentType });
    const url = this.signed(path, opts.ttlMs ?? this.opts.attachmentTtlMs);
    return {
      id,
      filename,
      size: data.length,
      url,
      proxy_url: url.replace("/attachments/", "/proxy/attachments/"),
      content_type: contentType,
    };
  }

  private signed(path: string, ttlMs: number): string {
    const is = Math.floor(Date.now() / 1000);
    const ex = Math.floor((Date.now() + ttlMs) / 1000);
    const hm = crypto.createHmac("sha256", this.cdnSecret).update(`${path}:${ex}:${is}`).digest("hex");
    return `${this.origin}${path}?ex=${ex.toString(16)}&is=${is.toString(16)}&hm=${hm}&`;
  }

  private interactionBase(
    type: number,
    member: FakeMember,
    channelId: string,
    extra: Record<string, unknown>,
  ): FakeInteraction {
    const id = this.snowflake();
    const token = `aW50ZXJhY3Rpb246${crypto.randomBytes(24).toString("base64url")}`;
    const channel = this.channels.get(channelId);
    const payload = {
      id,
      application_id: this.applicationId,
      type,
      token,
      version: 1,
      guild_id: this.guildId,
      channel_id: channelId,
      channel: channel
        ? {
            id: channel.id,
            type: channel.type,
            guild_id: this.guildId,
            name: channel.name,
            parent_id: channel.parent_id,
          }
        : undefined,
      member: this.memberPayload(member),
      app_permissions: "2248473465835073",
      locale: "en-US",
      guild_locale: "en-US",
      entitlements: [],
      authorizing_integration_owners: { "0": this.guildId },
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
      ...extra,
    };
    const inter: FakeInteraction = { id, token, type, channelId, createdAt: Date.now(), payload, refused: [] };
    this.interactions.set(id, inter);
    return inter;
  }

  private memberPayload(m: FakeMember) {
    return {
      user: m.user,
      roles: m.roles,
      nick: null,
      avatar: null,
      joined_at: "2024-01-01T00:00:00.000Z",
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      permissions: "2248473465835073",
      communication_disabled_until: null,
    };
  }

  /** The nested options of `/tune <command words>` typed from the deployed command (unknown ones throw). */
  private commandOptions(words: string[], values: Record<string, unknown>, focused?: string) {
    const tune = this.commands.find((c) => c.name === "tune") as
      | { id: string; options: Array<Record<string, unknown>> }
      | undefined;
    if (!tune) throw new Error("deploy the commands to the fake first");
    let level = tune.options as Array<{ name: string; type: number; options?: unknown[] }>;
    const chain: Array<{ name: string; type: number }> = [];
    for (const w of words) {
      const o = level.find((x) => x.name === w && (x.type === 1 || x.type === 2));
      if (!o) throw new Error(`/tune has no ${words.join(" ")}`);
      chain.push({ name: o.name, type: o.type });
      level = (o.options ?? []) as typeof level;
    }
    const leaf = Object.entries(values).map(([name, value]) => {
      const def = level.find((x) => x.name === name);
      if (!def)
        throw new Error(`/tune ${words.join(" ")} has no option ${name} (has: ${level.map((x) => x.name).join(", ")})`);
      return { name, type: def.type, value, ...(focused === name ? { focused: true } : {}) };
    });
    let options: unknown[] = leaf;
    for (const c of [...chain].reverse()) options = [{ name: c.name, type: c.type, options }];
    return { id: tune.id, options };
  }

  /** Dispatches an INTERACTION_CREATE for `/tune <command>` with the given options (and attachment). */
  slash(
    member: FakeMember,
    command: string,
    values: Record<string, string | number | boolean> = {},
    opts: { channelId?: string; attachment?: FakeAttachment; dispatch?: boolean } = {},
  ): FakeInteraction {
    const words = command.split(" ");
    const all: Record<string, unknown> = { ...values };
    if (opts.attachment) all.file = opts.attachment.id;
    const { id, options } = this.commandOptions(words, all);
    const data: Record<string, unknown> = { id, name: "tune", type: 1, guild_id: this.guildId, options };
    if (opts.attachment) data.resolved = { attachments: { [opts.attachment.id]: opts.attachment } };
    const inter = this.interactionBase(2, member, opts.channelId ?? this.channelId, { data });
    if (opts.dispatch !== false) this.dispatch("INTERACTION_CREATE", inter.payload);
    return inter;
  }

  autocomplete(
    member: FakeMember,
    command: string,
    values: Record<string, string | number>,
    focused: string,
  ): FakeInteraction {
    const { id, options } = this.commandOptions(command.split(" "), values, focused);
    const inter = this.interactionBase(4, member, this.channelId, {
      data: { id, name: "tune", type: 1, guild_id: this.guildId, options },
    });
    this.dispatch("INTERACTION_CREATE", inter.payload);
    return inter;
  }

  /** Presses a button of a message (by its label, as the message shows now). */
  press(member: FakeMember, messageId: string, label: string): FakeInteraction {
    const msg = this.messages.get(messageId);
    if (!msg) throw new Error(`no message ${messageId}`);
    const button = msg.components.flatMap((r) => r.components).find((b) => b.label === label);
    if (!button?.custom_id)
      throw new Error(
        `message ${messageId} has no button "${label}" (has: ${msg.components.flatMap((r) => r.components.map((b) => b.label)).join(", ")})`,
      );
    return this.pressId(member, messageId, button.custom_id);
  }

  /** Presses a button by custom id: also one the message no longer shows (a client with a stale view). */
  pressId(member: FakeMember, messageId: string, customId: string): FakeInteraction {
    const msg = this.messages.get(messageId);
    if (!msg) throw new Error(`no message ${messageId}`);
    const inter = this.interactionBase(3, member, msg.channel_id, {
      message: this.wire(msg),
      data: { custom_id: customId, component_type: 2 },
    });
    inter.componentMessageId = msg.id;
    this.dispatch("INTERACTION_CREATE", inter.payload);
    return inter;
  }

  /** Someone posts a message (with files) in a channel: MESSAGE_CREATE, as the bot's intents let it see it. */
  post(member: FakeMember, channelId: string, content: string, attachments: FakeAttachment[] = []): FakeMessage {
    const msg = this.newMessage(channelId, member.user, { content, attachments }, 0);
    this.messages.set(msg.id, msg);
    this.dispatchMessage(msg, member);
    return msg;
  }

  /** Re-sends an earlier dispatch (a duplicate delivery). */
  redeliver(inter: FakeInteraction) {
    this.dispatch("INTERACTION_CREATE", inter.payload);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Queries for tests.

  /** Open gateway connections. */
  get connected(): number {
    return this.sockets.size;
  }

  messagesIn(channelId: string): FakeMessage[] {
    return [...this.messages.values()]
      .filter((m) => m.channel_id === channelId)
      .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  threadOf(messageId: string): FakeChannel | undefined {
    return this.messages.get(messageId)?.thread;
  }

  original(inter: FakeInteraction): FakeMessage | undefined {
    return inter.originalId ? this.messages.get(inter.originalId) : undefined;
  }

  /** Follow-ups of an interaction (messages posted through its webhook after the first answer). */
  followUps(inter: FakeInteraction): FakeMessage[] {
    return [...this.messages.values()].filter(
      (m) => (m as FakeMessage & { followUpOf?: string }).followUpOf === inter.id,
    );
  }

  /** The text of a message: content, embed title, description, fields and footer. */
  static text(m: FakeMessage | undefined): string {
    if (!m) return "";
    const e = m.embeds.map((x) =>
      [x.title, x.description, ...(x.fields ?? []).map((f) => `${f.name}: ${f.value}`), x.footer?.text]
        .filter(Boolean)
        .join("\n"),
    );
    return [m.content, ...e].filter(Boolean).join("\n");
  }

  /** Polls `check` until truthy; the deadline is generous (a busy machine is slow, not broken). */
  async waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = 120_000): Promise<T> {
    timeoutMs = Math.max(timeoutMs, 120_000);
    const t0 = Date.now();
    for (;;) {
      const v = check();
      if (v) return v;
      if (Date.now() - t0 > timeoutMs) throw new Error(`fake discord: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Gateway.

  private send(ws: WebSocket, path: string, frame: { op: number; t?: string | null; s?: number | null; d: unknown }) {
    this.gateway.push({
      at: Date.now(),
      dir: "out",
      path,
      op: frame.op,
      t: frame.t ?? null,
      s: frame.s ?? null,
      d: frame.d,
    });
    ws.send(JSON.stringify({ t: null, s: null, ...frame }));
  }

  private onSocket(ws: WebSocket, path: string) {
    this.sockets.add(ws);
    ws.on("close", () => {
      this.sockets.delete(ws);
      if (this.session?.socket === ws) this.session.socket = null;
    });
    this.send(ws, path, { op: 10, d: { heartbeat_interval: this.opts.heartbeatIntervalMs } });
    ws.on("message", (raw) => {
      let frame: { op: number; d: Record<string, unknown> | number | null };
      try {
        frame = JSON.parse(String(raw));
      } catch {
        ws.close(4002, "Error while decoding payload.");
        return;
      }
      this.gateway.push({ at: Date.now(), dir: "in", path, op: frame.op, d: frame.d });
      const d = (frame.d ?? {}) as Record<string, unknown>;
      switch (frame.op) {
        case 1:
          this.send(ws, path, { op: 11, d: null });
          break;
        case 2: {
          if (d.token !== this.token) {
            ws.close(4004, "Authentication failed.");
            return;
          }
          const intents = Number(d.intents ?? 0);
          if (intents & this.opts.disallowedIntents) {
            ws.close(4014, "Disallowed intent(s).");
            return;
          }
          this.identify = { intents, at: Date.now() };
          this.session = { id: crypto.randomBytes(16).toString("hex"), seq: 0, events: [], socket: ws, intents };
          this.dispatch("READY", {
            v: 10,
            user: { ...this.bot, verified: true, mfa_enabled: false, flags: 0 },
            guilds: [{ id: this.guildId, unavailable: true }],
            session_id: this.session.id,
            resume_gateway_url: `${this.origin.replace("http", "ws")}/resume`,
            shard: [0, 1],
            application: { id: this.applicationId, flags: 0 },
            private_channels: [],
          });
          this.dispatch("GUILD_CREATE", this.guildPayload());
          break;
        }
        case 6: {
          const s = this.session;
          if (d.token !== this.token) {
            ws.close(4004, "Authentication failed.");
            return;
          }
          if (!s || d.session_id !== s.id) {
            this.send(ws, path, { op: 9, d: false });
            return;
          }
          s.socket = ws;
          const from = Number(d.seq ?? 0);
          for (const e of s.events.filter((x) => x.s > from)) this.send(ws, path, { op: 0, t: e.t, s: e.s, d: e.d });
          this.dispatch("RESUMED", null);
          break;
        }
        default:
          break;
      }
    });
  }

  private guildPayload() {
    return {
      id: this.guildId,
      name: "tuneloop tests",
      icon: null,
      owner_id: "1",
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      preferred_locale: "en-US",
      public_updates_channel_id: null,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      features: [],
      emojis: [],
      stickers: [],
      roles: this.roles.map((r, i) => ({
        id: r.id,
        name: r.name,
        color: 0,
        hoist: false,
        icon: null,
        unicode_emoji: null,
        position: i,
        permissions: "0",
        managed: false,
        mentionable: false,
        flags: 0,
      })),
      channels: [...this.channels.values()].filter((c) => c.type === 0),
      // the active threads (Guild Create: "All active threads in the guild that current user has permission to view")
      threads: [...this.channels.values()].filter((c) => c.type === 11 && !c.thread_metadata?.archived),
      members: [this.memberPayload({ user: this.bot, roles: [] })],
      member_count: 3,
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      joined_at: "2024-01-01T00:00:00.000Z",
      large: false,
      unavailable: false,
    };
  }

  private dispatchMessage(msg: FakeMessage, member?: FakeMember) {
    const intents = this.session?.intents ?? 0;
    if (!(intents & INTENT_GUILD_MESSAGES) || msg.flags & EPHEMERAL) return;
    const wire = this.wire(msg);
    // Without the Message Content intent the bot sees no content, embeds, attachments or components of other
    // people's messages (unless it is mentioned).
    if (!(intents & INTENT_MESSAGE_CONTENT) && msg.author.id !== this.bot.id)
      Object.assign(wire, { content: "", embeds: [], attachments: [], components: [] });
    this.dispatch("MESSAGE_CREATE", {
      ...wire,
      member: member ? { ...this.memberPayload(member), user: undefined } : undefined,
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // REST.

  private async onHttp(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://x");
    const rec: RecordedRequest = {
      at: Date.now(),
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search,
      authorization: req.headers.authorization,
      files: [],
      status: 0,
    };
    const reply = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      if (payload === undefined) {
        res.writeHead(status, headers);
        res.end();
      } else {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(payload));
      }
    };
    try {
      if (url.pathname.startsWith("/attachments/")) {
        this.serveCdn(url, res, rec);
        return;
      }
      if (!url.pathname.startsWith(API)) throw new HttpError(404, 0, "404: Not Found");
      this.requests.push(rec);
      await this.parseBody(req.headers["content-type"] ?? "", body, rec);
      const route = decodeURIComponent(url.pathname.slice(API.length));
      const limit = this.scripted.find((s) => s.times > 0 && s.method === rec.method && s.path.test(route));
      if (limit) {
        limit.times--;
        this.rateLimited.push({ at: Date.now(), method: rec.method, path: route });
        reply(
          429,
          { message: "You are being rate limited.", retry_after: limit.retryAfter, global: false },
          {
            "retry-after": String(Math.ceil(limit.retryAfter)),
            "x-ratelimit-limit": "5",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset-after": String(limit.retryAfter),
            "x-ratelimit-bucket": "fake-bucket",
            "x-ratelimit-scope": "user",
          },
        );
        return;
      }
      const out = this.route(rec, route, url);
      reply(out.status, out.body);
    } catch (err) {
      if (err instanceof HttpError)
        reply(err.status, { message: err.message, code: err.code, ...(err.errors ? { errors: err.errors } : {}) });
      else reply(500, { message: `fake discord: ${(err as Error).stack}`, code: 0 });
    }
  }

  private serveCdn(url: URL, res: http.ServerResponse, rec: RecordedRequest) {
    const file = this.cdn.get(url.pathname);
    const ex = Number.parseInt(url.searchParams.get("ex") ?? "", 16);
    const is = Number.parseInt(url.searchParams.get("is") ?? "", 16);
    const hm = crypto.createHmac("sha256", this.cdnSecret).update(`${url.pathname}:${ex}:${is}`).digest("hex");
    rec.status = file && hm === url.searchParams.get("hm") && ex * 1000 > Date.now() ? 200 : 404;
    this.requests.push(rec);
    if (rec.status !== 200 || !file) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("This content is no longer available.");
      return;
    }
    res.writeHead(200, { "content-type": file.contentType, "content-length": String(file.data.length) });
    res.end(file.data);
  }

  private async parseBody(contentType: string, body: Buffer, rec: RecordedRequest) {
    if (!body.length) return;
    if (contentType.startsWith("application/json")) {
      rec.json = JSON.parse(body.toString("utf8"));
      return;
    }
    if (contentType.startsWith("multipart/form-data")) {
      const form = await new Response(body, { headers: { "content-type": contentType } }).formData();
      for (const [field, value] of form.entries()) {
        if (field === "payload_json") rec.json = JSON.parse(String(value));
        else if (typeof value !== "string")
          rec.files.push({
            field,
            name: value.name,
            data: Buffer.from(await value.arrayBuffer()),
            contentType: value.type,
          });
      }
      return;
    }
    throw new HttpError(400, 50109, "The request body contains invalid JSON.");
  }

  private requireBot(rec: RecordedRequest) {
    if (rec.authorization !== `Bot ${this.token}`) throw new HttpError(401, 0, "401: Unauthorized");
  }

  private route(rec: RecordedRequest, route: string, url: URL): { status: number; body?: unknown } {
    const { method } = rec;
    /** The route's parameters when the method and path match. */
    const on = (verb: string | null, re: RegExp) => (verb === null || verb === method ? re.exec(route) : null);
    const atCommands = on("PUT", /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/);
    const atCallback = on("POST", /^\/interactions\/(\d+)\/([^/]+)\/callback$/);
    const atWebhook = on(null, /^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/(@original|\d+))?$/);
    const atChannel = on("GET", /^\/channels\/(\d+)$/);
    const atCreate = on("POST", /^\/channels\/(\d+)\/messages$/);
    const atMessage = on(null, /^\/channels\/(\d+)\/messages\/(\d+)$/);
    const atThread = on("POST", /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/);
    if (method === "GET" && route === "/gateway/bot") {
      this.requireBot(rec);
      return {
        status: 200,
        body: {
          url: `${this.origin.replace("http", "ws")}/gateway`,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
        },
      };
    }
    if (method === "GET" && route === "/users/@me") {
      this.requireBot(rec);
      return { status: 200, body: this.bot };
    }
    if (atCommands) {
      const p = atCommands;
      this.requireBot(rec);
      if (p[1] !== this.applicationId) throw new HttpError(403, 50001, "Missing Access");
      if (p[2] && p[2] !== this.guildId) throw new HttpError(403, 50001, "Missing Access");
      const list = (rec.json as unknown as Array<Record<string, unknown>>) ?? [];
      const problems = list.flatMap((c) => commandProblems(c));
      if (problems.length) throw new HttpError(400, 50035, "Invalid Form Body", problems);
      this.commands = list.map((c) => ({
        ...c,
        id: this.snowflake(),
        application_id: this.applicationId,
        guild_id: p[2],
        version: this.snowflake(),
      }));
      this.commandsScope = p[2] ? `guild:${p[2]}` : "global";
      return { status: 200, body: this.commands };
    }
    if (atCallback) return this.callback(atCallback[1], atCallback[2], rec, url);
    if (atWebhook) return this.webhook(atWebhook[1], atWebhook[2], atWebhook[3], rec);
    if (atChannel) {
      const p = atChannel;
      this.requireBot(rec);
      const ch = this.channels.get(p[1]);
      if (!ch) throw new HttpError(404, 10003, "Unknown Channel");
      return { status: 200, body: ch };
    }
    if (atCreate) {
      const p = atCreate;
      this.requireBot(rec);
      const ch = this.channels.get(p[1]);
      if (!ch) throw new HttpError(404, 10003, "Unknown Channel");
      const msg = this.newMessage(ch.id, this.bot, this.messageFields(rec, undefined, ch.id), 0);
      const ref = rec.json?.message_reference as { message_id?: string } | undefined;
      if (ref?.message_id) {
        msg.type = 19;
        msg.message_reference = { message_id: ref.message_id, channel_id: ch.id, guild_id: this.guildId };
      }
      this.check(msg);
      this.messages.set(msg.id, msg);
      if (ch.message_count !== undefined) ch.message_count++;
      this.dispatchMessage(msg);
      return { status: 200, body: this.wire(msg) };
    }
    if (atMessage) {
      const p = atMessage;
      this.requireBot(rec);
      const msg = this.messages.get(p[2]);
      if (!msg || msg.channel_id !== p[1] || msg.flags & EPHEMERAL) throw new HttpError(404, 10008, "Unknown Message");
      if (method === "GET") return { status: 200, body: this.wire(msg) };
      if (method === "PATCH") {
        if (msg.author.id !== this.bot.id)
          throw new HttpError(403, 50005, "Cannot edit a message authored by another user");
        this.edit(msg, rec);
        return { status: 200, body: this.wire(msg) };
      }
    }
    if (atThread) {
      const p = atThread;
      this.requireBot(rec);
      const ch = this.channels.get(p[1]);
      const msg = this.messages.get(p[2]);
      if (!ch) throw new HttpError(404, 10003, "Unknown Channel");
      if (ch.type !== 0) throw new HttpError(400, 50024, "Cannot execute action on this channel type");
      if (!msg || msg.channel_id !== ch.id || msg.flags & EPHEMERAL) throw new HttpError(404, 10008, "Unknown Message");
      if (msg.thread) throw new HttpError(400, 160004, "A thread has already been created for this message");
      const name = String(rec.json?.name ?? "");
      const archive = Number(rec.json?.auto_archive_duration ?? 4320);
      if (name.length < 1 || name.length > 100)
        throw new HttpError(400, 50035, "Invalid Form Body", { name: "1-100 characters" });
      if (![60, 1440, 4320, 10080].includes(archive))
        throw new HttpError(400, 50035, "Invalid Form Body", { auto_archive_duration: "60, 1440, 4320 or 10080" });
      const thread: FakeChannel = {
        id: msg.id,
        type: 11,
        guild_id: this.guildId,
        name,
        position: 0,
        permission_overwrites: [],
        parent_id: ch.id,
        owner_id: this.bot.id,
        thread_metadata: {
          archived: false,
          auto_archive_duration: archive,
          archive_timestamp: new Date().toISOString(),
          locked: false,
        },
        message_count: 0,
        member_count: 1,
      };
      this.channels.set(thread.id, thread);
      msg.thread = thread;
      this.dispatch("THREAD_CREATE", { ...thread, newly_created: true });
      return { status: 201, body: thread };
    }
    throw new HttpError(404, 0, `404: Not Found (${method} ${route})`);
  }

  private callback(id: string, token: string, rec: RecordedRequest, url: URL): { status: number; body?: unknown } {
    const inter = this.interactions.get(id);
    const type = Number(rec.json?.type);
    if (!inter || inter.token !== token) throw new HttpError(404, 10062, "Unknown interaction");
    const afterMs = Date.now() - inter.createdAt;
    if (inter.ack) {
      inter.refused.push({ code: 40060, type });
      throw new HttpError(400, 40060, "Interaction has already been acknowledged.");
    }
    if (afterMs > this.opts.ackWindowMs) {
      inter.refused.push({ code: 10062, type });
      throw new HttpError(404, 10062, "Unknown interaction");
    }
    const data = (rec.json?.data ?? {}) as Record<string, unknown>;
    inter.ack = { type, afterMs, data };
    let message: FakeMessage | undefined;
    switch (type) {
      case 4:
      case 5: {
        const flags = Number(data.flags ?? 0) & EPHEMERAL;
        const fields =
          type === 4 ? this.messageFields({ ...rec, json: data }, undefined, inter.channelId) : { content: "" };
        message = this.newMessage(inter.channelId, this.bot, fields, 20, flags | (type === 5 ? LOADING : 0));
        message.webhook_id = this.applicationId;
        message.application_id = this.applicationId;
        this.check(message);
        this.messages.set(message.id, message);
        inter.originalId = message.id;
        this.dispatchMessage(message);
        break;
      }
      case 6:
        inter.originalId = inter.componentMessageId;
        break;
      case 7: {
        const msg = inter.componentMessageId ? this.messages.get(inter.componentMessageId) : undefined;
        if (!msg) throw new HttpError(400, 50035, "Invalid Form Body");
        this.edit(msg, { ...rec, json: data });
        inter.originalId = msg.id;
        message = msg;
        break;
      }
      case 8: {
        const choices = (data.choices ?? []) as Array<{ name: string; value: string | number }>;
        if (inter.type !== 4)
          throw new HttpError(400, 50035, "Invalid Form Body", {
            type: "autocomplete results answer autocomplete interactions only",
          });
        if (
          choices.length > 25 ||
          choices.some((c) => !c.name || c.name.length > 100 || (typeof c.value === "string" && c.value.length > 100))
        ) {
          throw new HttpError(400, 50035, "Invalid Form Body", {
            choices: "at most 25, names and values 1-100 characters",
          });
        }
        inter.choices = choices;
        break;
      }
      default:
        throw new HttpError(400, 50035, "Invalid Form Body", { type: `unsupported callback type ${type}` });
    }
    if (url.searchParams.get("with_response") === "true") {
      return {
        status: 200,
        body: {
          interaction: {
            id: inter.id,
            type: inter.type,
            activity_instance_id: null,
            response_message_id: inter.originalId ?? null,
            response_message_loading: type === 5,
            response_message_ephemeral: Boolean(message && message.flags & EPHEMERAL),
          },
          resource: message ? { type, message: this.wire(message) } : { type },
        },
      };
    }
    return { status: 204 };
  }

  private webhook(
    appId: string,
    token: string,
    messageId: string | undefined,
    rec: RecordedRequest,
  ): { status: number; body?: unknown } {
    const inter = [...this.interactions.values()].find((x) => x.token === token);
    if (appId !== this.applicationId || !inter) throw new HttpError(404, 10015, "Unknown Webhook");
    if (!inter.ack) throw new HttpError(404, 10015, "Unknown Webhook"); // nothing to edit or follow before the first answer
    if (!messageId) {
      if (rec.method !== "POST") throw new HttpError(405, 0, "405: Method Not Allowed");
      const fields = this.messageFields(rec, undefined, inter.channelId);
      const msg = this.newMessage(inter.channelId, this.bot, fields, 20, Number(rec.json?.flags ?? 0) & EPHEMERAL);
      msg.webhook_id = this.applicationId;
      (msg as FakeMessage & { followUpOf?: string }).followUpOf = inter.id;
      this.check(msg);
      this.messages.set(msg.id, msg);
      this.dispatchMessage(msg);
      return { status: 200, body: this.wire(msg) };
    }
    const id = messageId === "@original" ? inter.originalId : messageId;
    const msg = id ? this.messages.get(id) : undefined;
    if (!msg) throw new HttpError(404, 10008, "Unknown Message");
    if (rec.method === "GET") return { status: 200, body: this.wire(msg) };
    if (rec.method === "DELETE") {
      this.messages.delete(msg.id);
      return { status: 204 };
    }
    if (rec.method === "PATCH") {
      this.edit(msg, rec);
      msg.flags &= ~LOADING;
      return { status: 200, body: this.wire(msg) };
    }
    throw new HttpError(405, 0, "405: Method Not Allowed");
  }

  // -------------------------------------------------------------------------------------------------------------
  // Messages.

  private messageFields(
    rec: RecordedRequest,
    existing: FakeMessage | undefined,
    channelId = existing?.channel_id ?? "0",
  ): Partial<FakeMessage> {
    const j = (rec.json ?? {}) as Record<string, unknown>;
    const out: Partial<FakeMessage> = {};
    if (j.content !== undefined) out.content = String(j.content ?? "");
    if (j.embeds !== undefined) out.embeds = (j.embeds ?? []) as FakeMessage["embeds"];
    if (j.components !== undefined) out.components = (j.components ?? []) as FakeMessage["components"];
    const files = rec.files.map((f) => {
      const idx = Number(/^files\[(\d+)\]$/.exec(f.field)?.[1] ?? -1);
      const att = this.addAttachment(channelId, f.name, f.data, f.contentType || "application/octet-stream");
      return { idx, att };
    });
    if (j.attachments !== undefined) {
      const wanted = (j.attachments ?? []) as Array<{ id: string | number; filename?: string }>;
      const kept: FakeAttachment[] = [];
      for (const w of wanted) {
        const old = existing?.attachments.find((a) => a.id === String(w.id));
        if (old) kept.push(old);
        else {
          const f = files.find((x) => x.idx === Number(w.id));
          if (!f)
            throw new HttpError(400, 50035, "Invalid Form Body", {
              attachments: `no files[${w.id}] for attachment ${w.id}`,
            });
          kept.push({ ...f.att, filename: w.filename ?? f.att.filename });
        }
      }
      out.attachments = kept;
    } else if (files.length) {
      out.attachments = [...(existing?.attachments ?? []), ...files.map((f) => f.att)];
    }
    return out;
  }

  private newMessage(
    channelId: string,
    author: FakeUser,
    fields: Partial<FakeMessage>,
    type: number,
    flags = 0,
  ): FakeMessage {
    const msg: FakeMessage = {
      id: this.snowflake(),
      channel_id: channelId,
      guild_id: this.guildId,
      author,
      content: "",
      embeds: [],
      components: [],
      attachments: [],
      flags,
      type,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      pinned: false,
      ...fields,
    };
    msg.versions = [this.snapshot(msg)];
    return msg;
  }

  private edit(msg: FakeMessage, rec: RecordedRequest) {
    const fields = this.messageFields(rec, msg);
    const next = { ...msg, ...fields };
    this.check(next);
    Object.assign(msg, fields, { edited_timestamp: new Date().toISOString() });
    msg.versions?.push(this.snapshot(msg));
  }

  private snapshot(m: FakeMessage) {
    return {
      content: m.content,
      embeds: structuredClone(m.embeds),
      components: structuredClone(m.components),
      attachments: m.attachments.map((a) => a.filename),
    };
  }

  /** Refuses a message outside Discord's limits, as Discord does (50035 Invalid Form Body). */
  private check(m: Pick<FakeMessage, "content" | "embeds" | "components" | "attachments"> & { flags?: number }) {
    const problems = messageProblems(m).filter((x) => !(m.flags && m.flags & LOADING && x.startsWith("empty message")));
    if (problems.length) throw new HttpError(400, 50035, "Invalid Form Body", problems);
  }

  private wire(m: FakeMessage) {
    const { versions: _v, ...rest } = m as FakeMessage & { followUpOf?: string };
    delete (rest as { followUpOf?: string }).followUpOf;
    return rest;
  }
}

/** Every way a message breaks Discord's documented limits. */
export function messageProblems(m: Pick<FakeMessage, "content" | "embeds" | "components" | "attachments">): string[] {
  const p: string[] = [];
  if ((m.content ?? "").length > 2000) p.push(`content: ${m.content.length} characters (2,000)`);
  if (!m.content && !m.embeds.length && !m.components.length && !m.attachments.length) p.push("empty message (50006)");
  if (m.embeds.length > 10) p.push(`${m.embeds.length} embeds (10)`);
  let total = 0;
  for (const e of m.embeds) {
    const fields = e.fields ?? [];
    if ((e.title?.length ?? 0) > 256) p.push("embed title over 256");
    if ((e.description?.length ?? 0) > 4096) p.push("embed description over 4,096");
    if (fields.length > 25) p.push(`${fields.length} embed fields (25)`);
    for (const f of fields) {
      if (!f.name || f.name.length > 256) p.push("embed field name empty or over 256");
      if (!f.value || f.value.length > 1024) p.push("embed field value empty or over 1,024");
    }
    if ((e.footer?.text.length ?? 0) > 2048) p.push("embed footer over 2,048");
    total +=
      (e.title?.length ?? 0) +
      (e.description?.length ?? 0) +
      (e.footer?.text.length ?? 0) +
      fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
  }
  if (total > 6000) p.push(`embeds hold ${total} characters (6,000)`);
  if (m.components.length > 5) p.push(`${m.components.length} action rows (5)`);
  const ids = new Set<string>();
  for (const row of m.components) {
    if (row.type !== 1) p.push("a top-level component that is not an action row");
    if (row.components.length > 5) p.push(`${row.components.length} buttons in a row (5)`);
    for (const b of row.components) {
      if (b.custom_id !== undefined) {
        if (b.custom_id.length < 1 || b.custom_id.length > 100) p.push("custom_id 1-100 characters");
        if (ids.has(b.custom_id)) p.push(`duplicate custom_id ${b.custom_id}`);
        ids.add(b.custom_id);
      }
      if ((b.label?.length ?? 0) > 80) p.push("button label over 80");
    }
  }
  if (m.attachments.length > 10) p.push(`${m.attachments.length} attachments (10)`);
  return p;
}

/** Every way an application command breaks Discord's documented limits. */
export function commandProblems(cmd: Record<string, unknown>): string[] {
  const p: string[] = [];
  let chars = 0;
  const named = (where: string, o: Record<string, unknown>) => {
    const name = String(o.name ?? "");
    const desc = String(o.description ?? "");
    chars += name.length + desc.length;
    if (!NAME_RE.test(name) || name !== name.toLowerCase()) p.push(`${where}: bad name "${name}"`);
    if (desc.length < 1 || desc.length > 100) p.push(`${where}: description of ${desc.length} characters`);
  };
  const walk = (where: string, options: Array<Record<string, unknown>>, depth: number) => {
    if (options.length > 25) p.push(`${where}: ${options.length} options`);
    let optional = false;
    const names = new Set<string>();
    for (const o of options) {
      const at = `${where} ${o.name}`;
      named(at, o);
      if (names.has(String(o.name))) p.push(`${at}: duplicate`);
      names.add(String(o.name));
      const type = Number(o.type);
      if (type === 1 || type === 2) {
        if (type === 2 && depth > 0) p.push(`${at}: groups nest one level`);
        if (type === 1 && depth > 1) p.push(`${at}: too deep`);
        walk(at, (o.options ?? []) as Array<Record<string, unknown>>, depth + 1);
        continue;
      }
      if (o.required && optional) p.push(`${at}: required after optional`);
      if (!o.required) optional = true;
      const choices = (o.choices ?? []) as Array<{ name: string; value: string | number }>;
      if (choices.length > 25) p.push(`${at}: ${choices.length} choices`);
      if (choices.length && o.autocomplete) p.push(`${at}: choices with autocomplete`);
      for (const c of choices) {
        chars += c.name.length + String(c.value).length;
        if (!c.name || c.name.length > 100) p.push(`${at}: choice name`);
      }
    }
  };
  named("/", cmd);
  walk(`/${cmd.name}`, (cmd.options ?? []) as Array<Record<string, unknown>>, 0);
  if (chars > 8000) p.push(`/${cmd.name}: ${chars} characters`);
  return p;
}

export async function startFakeDiscord(opts: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  return new FakeDiscord(opts).start();
}
