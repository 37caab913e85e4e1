/**
 * A local fake of the Slack platform, at the protocol level, for end-to-end tests of the Slack adapter:
 *
 * - the Web API (POST https://slack.com/api/<method>, form-encoded or JSON arguments, the token as
 *   `Authorization: Bearer`, HTTP 200 with `{ "ok": false, "error": "..." }` for errors, 429 with `Retry-After`
 *   seconds when rate limited: https://docs.slack.dev/apis/web-api/ and https://docs.slack.dev/apis/web-api/rate-limits),
 *   with the methods the adapter calls, shaped as their reference pages say:
 *   auth.test (https://docs.slack.dev/reference/methods/auth.test), chat.postMessage (.../chat.postMessage: returns
 *   `channel`, `ts`, `message`), chat.update (.../chat.update: `channel`, `ts`, `text`, `message`; `message_not_found`),
 *   chat.postEphemeral (.../chat.postEphemeral: `message_ts`), views.publish (.../views.publish: `view`),
 *   files.info (.../files.info: `file`), files.list (.../files.list: `files`, `paging`),
 *   files.getUploadURLExternal (.../files.getUploadURLExternal: `upload_url`, `file_id`; arguments `filename`,
 *   `length`), the upload URL itself (POST the bytes, answers 200 "OK - <length>"), files.completeUploadExternal
 *   (.../files.completeUploadExternal: `files` [{id, title}], `channel_id`, `thread_ts`; answers `files`),
 *   users.info (.../users.info: `user` with `profile`), usergroups.list (.../usergroups.list: `usergroups` with
 *   `users` when `include_users`), apps.connections.open (.../apps.connections.open: app-level token, `url`);
 * - message limits as Slack enforces them (`blocksProblem`: blocks, sections, headers, buttons and their ids and
 *   values, confirm dialogs; `msg_blocks_too_long` at about 13.2k characters in all, bolt-js #2509), also on
 *   `response_url` posts (HTTP 400 `invalid_blocks`), and `not_in_channel` for channels the bot was not invited to;
 * - file downloads: `url_private_download` needs `Authorization: Bearer <bot token>`; without it, the sign-in page
 *   as HTML with status 200, as Slack does (https://docs.slack.dev/reference/objects/file-object, bolt-js #2585);
 * - `response_url` endpoints (https://docs.slack.dev/interactivity/handling-user-interaction#message_responses);
 * - Socket Mode: apps.connections.open hands out a ws:// URL served here; on connect the server sends
 *   `{"type":"hello"}`, then envelopes `{ envelope_id, type, payload, accepts_response_payload, retry_attempt }`
 *   and reads the client's acks `{ envelope_id, payload? }` (https://docs.slack.dev/apis/events-api/using-socket-mode).
 *
 * It records every call, and signs requests the way Slack does (`v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`
 * with the signing secret, https://docs.slack.dev/authentication/verifying-requests-from-slack).
 */
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

export interface FakeSlackOptions {
  botToken: string;
  appToken?: string;
  botUserId?: string;
  botId?: string;
  /** Channels the bot is not a member of (chat.postMessage answers not_in_channel). */
  notInChannel?: string[];
  users?: Record<string, { name: string; displayName?: string }>;
  usergroups?: Array<{ id: string; handle: string; name?: string; users: string[] }>;
}

export interface ApiCall {
  at: number;
  method: string;
  args: Record<string, unknown>;
  token?: string;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  blocks: unknown[];
  user: string;
  /** Every version of the blocks, the first as posted, then each chat.update. */
  history: unknown[][];
  files?: FakeFile[];
}

export interface FakeFile {
  id: string;
  name: string;
  title: string;
  content: Buffer;
  user: string;
  created: number;
  channels: string[];
  /** Where it was shared: channel -> message ts (and thread). */
  shares: Record<string, Array<{ ts: string; thread_ts?: string }>>;
  mimetype: string;
  declaredLength?: number;
}

export interface Scripted {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface FakeSlack {
  /** Base of the fake, e.g. http://127.0.0.1:1234 */
  url: string;
  /** SLACK_API_URL for the adapter. */
  apiUrl: string;
  calls: ApiCall[];
  messages: FakeMessage[];
  ephemerals: Array<{ at: number; channel: string; user: string; text: string; blocks: unknown[]; thread_ts?: string }>;
  responses: Array<{ at: number; id: string; body: Record<string, unknown> }>;
  homes: Map<string, unknown[]>;
  files: Map<string, FakeFile>;
  downloads: Array<{ at: number; fileId: string; authorized: boolean }>;
  uploads: Array<{ at: number; fileId: string; bytes: number }>;
  /** Replies to send instead of the normal answer, per method, in order (e.g. a 429). */
  script: Map<string, Scripted[]>;
  socket: { connections: number; received: Array<Record<string, unknown>>; send(envelope: unknown): void };
  /** Makes a file shared by a user (not yet in any message), with a download URL. */
  addFile(opts: { name: string; content: string | Buffer; user: string; mimetype?: string }): FakeFile;
  /** The Slack file object the API shows for a file. */
  fileObject(f: FakeFile): Record<string, unknown>;
  responseUrl(): string;
  rateLimitNext(method: string, retryAfterSec: number): void;
  callsOf(method: string): ApiCall[];
  threadOf(channel: string, ts: string): FakeMessage[];
  close(): Promise<void>;
}

let tsCounter = 0;
export function nextTs(): string {
  tsCounter++;
  return `${Math.floor(Date.now() / 1000)}.${String(100000 + tsCounter).slice(-6)}`;
}

function parseArgs(body: Buffer, contentType: string): Record<string, unknown> {
  const raw = body.toString("utf8");
  let args: Record<string, unknown> = {};
  if (contentType.includes("application/json")) args = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  else args = Object.fromEntries(new URLSearchParams(raw));
  for (const k of ["blocks", "view", "files", "attachments"]) {
    if (typeof args[k] === "string") {
      try {
        args[k] = JSON.parse(args[k] as string);
      } catch {
        // left as sent
      }
    }
  }
  return args;
}

/** The first part's bytes of a multipart/form-data body (how @slack/web-api posts to the upload URL), else the body. */
function multipartFile(body: Buffer, contentType: string): Buffer {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!m) return body;
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const start = body.indexOf(boundary);
  if (start < 0) return body;
  const headerEnd = body.indexOf("\r\n\r\n", start);
  const next = body.indexOf(boundary, headerEnd);
  if (headerEnd < 0 || next < 0) return body;
  return body.subarray(headerEnd + 4, next - 2);
}

interface FakeButton {
  type?: string;
  action_id?: string;
  value?: string;
  text?: { text?: string };
  confirm?: {
    title?: { text?: string };
    text?: { text?: string };
    confirm?: { text?: string };
    deny?: { text?: string };
  };
}

/**
 * Why Slack would refuse these blocks, or null. Block Kit's reference (https://docs.slack.dev/reference/block-kit):
 * 50 blocks; a section's text 3,000 characters; a header's 150; a block_id 255; an actions block 25 elements; a
 * button's text 75, action_id 255 (unique within its block), value 2,000; a confirm dialog's title 100, text 300,
 * confirm and deny 30; `msg_blocks_too_long` at about 13.2k characters in all (bolt-js #2509).
 */
export function blocksProblem(blocks: unknown): string | null {
  if (!Array.isArray(blocks)) return null;
  if (blocks.length > 50) return "invalid_blocks";
  const over = (s: string | undefined, n: number) => (s?.length ?? 0) > n;
  for (const b of blocks as Array<{
    type?: string;
    block_id?: string;
    text?: { text?: string };
    elements?: FakeButton[];
  }>) {
    if (b.type === "section" && over(b.text?.text, 3000)) return "invalid_blocks";
    if (b.type === "header" && over(b.text?.text, 150)) return "invalid_blocks";
    if (over(b.block_id, 255)) return "invalid_blocks";
    if (b.type !== "actions") continue;
    if ((b.elements?.length ?? 0) > 25) return "invalid_blocks";
    const ids = new Set<string>();
    for (const e of b.elements ?? []) {
      if (e.type !== "button") continue;
      if (!e.text?.text || over(e.text.text, 75)) return "invalid_blocks";
      if (!e.action_id || over(e.action_id, 255) || ids.has(e.action_id)) return "invalid_blocks";
      ids.add(e.action_id);
      if (over(e.value, 2000)) return "invalid_blocks";
      const c = e.confirm;
      if (
        c &&
        (over(c.title?.text, 100) || over(c.text?.text, 300) || over(c.confirm?.text, 30) || over(c.deny?.text, 30))
      )
        return "invalid_blocks";
    }
  }
  if (JSON.stringify(blocks).length > 13_200) return "msg_blocks_too_long";
  return null;
}

export async function startFakeSlack(opts: FakeSlackOptions): Promise<FakeSlack> {
  const botUserId = opts.botUserId ?? "U0BOT0001";
  const botId = opts.botId ?? "B0BOT0001";
  const notIn = new Set(opts.notInChannel ?? []);
  let fileSeq = 0;
  let respSeq = 0;
  const sockets = new Set<WebSocket>();

  const fake: FakeSlack = {
    url: "",
    apiUrl: "",
    calls: [],
    messages: [],
    ephemerals: [],
    responses: [],
    homes: new Map(),
    files: new Map(),
    downloads: [],
    uploads: [],
    script: new Map(),
    socket: {
      connections: 0,
      received: [],
      send(envelope) {
        for (const s of sockets) s.send(JSON.stringify(envelope));
      },
    },
    addFile({ name, content, user, mimetype }) {
      const id = `F0FILE${String(++fileSeq).padStart(4, "0")}`;
      const f: FakeFile = {
        id,
        name,
        title: name,
        content: Buffer.isBuffer(content) ? content : Buffer.from(content),
        user,
        created: Math.floor(Date.now() / 1000),
        channels: [],
        shares: {},
        mimetype: mimetype ?? "text/plain",
      };
      fake.files.set(id, f);
      return f;
    },
    fileObject(f) {
      return {
        id: f.id,
        created: f.created,
        timestamp: f.created,
        name: f.name,
        title: f.title,
        mimetype: f.mimetype,
        filetype: f.name.split(".").pop() ?? "text",
        pretty_type: "Plain Text",
        user: f.user,
        mode: "hosted",
        editable: false,
        is_external: false,
        external_type: "",
        is_public: true,
        size: f.content.length,
        url_private: `${fake.url}/files-pri/T0TEST-${f.id}/${encodeURIComponent(f.name)}`,
        url_private_download: `${fake.url}/files-pri/T0TEST-${f.id}/download/${encodeURIComponent(f.name)}`,
        permalink: `${fake.url}/files/${f.user}/${f.id}/${encodeURIComponent(f.name)}`,
        channels: f.channels,
        groups: [],
        ims: [],
        shares: { public: f.shares },
        comments_count: 0,
      };
    },
    responseUrl() {
      return `${fake.url}/commands/T0TEST/${++respSeq}/resp${crypto.randomBytes(4).toString("hex")}`;
    },
    rateLimitNext(method, retryAfterSec) {
      const list = fake.script.get(method) ?? [];
      list.push({
        status: 429,
        headers: { "Retry-After": String(retryAfterSec) },
        body: { ok: false, error: "ratelimited" },
      });
      fake.script.set(method, list);
    },
    callsOf: (method) => fake.calls.filter((c) => c.method === method),
    threadOf: (channel, ts) => fake.messages.filter((m) => m.channel === channel && m.thread_ts === ts),
    close: async () => {},
  };

  const api = (method: string, args: Record<string, unknown>, token: string | undefined): unknown => {
    const ok = (extra: Record<string, unknown>) => ({ ok: true, ...extra });
    const err = (error: string) => ({ ok: false, error });
    if (method === "apps.connections.open") {
      if (!opts.appToken || token !== opts.appToken)
        return err(token?.startsWith("xoxb-") ? "not_allowed_token_type" : "invalid_auth");
      return ok({ url: `${fake.url.replace(/^http/, "ws")}/link/?ticket=${crypto.randomUUID()}&app_id=A0TEST` });
    }
    if (!token) return err("not_authed");
    if (token !== opts.botToken) return err("invalid_auth");
    const channel = String(args.channel ?? args.channel_id ?? "");
    switch (method) {
      case "auth.test":
        return ok({
          url: `${fake.url}/`,
          team: "Tuneloop Test",
          user: "tuneloop",
          team_id: "T0TEST",
          user_id: botUserId,
          bot_id: botId,
          is_enterprise_install: false,
        });
      case "chat.postMessage": {
        if (!channel) return err("channel_not_found");
        if (notIn.has(channel)) return err("not_in_channel");
        if (!args.text && !args.blocks) return err("no_text");
        const problem = blocksProblem(args.blocks);
        if (problem) return err(problem);
        const m: FakeMessage = {
          channel,
          ts: nextTs(),
          thread_ts: args.thread_ts ? String(args.thread_ts) : undefined,
          text: String(args.text ?? ""),
          blocks: (args.blocks as unknown[]) ?? [],
          user: botUserId,
          history: [],
        };
        m.history.push(m.blocks);
        fake.messages.push(m);
        return ok({
          channel,
          ts: m.ts,
          message: {
            type: "message",
            text: m.text,
            user: botUserId,
            bot_id: botId,
            ts: m.ts,
            blocks: m.blocks,
            ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
          },
        });
      }
      case "chat.update": {
        const m = fake.messages.find((x) => x.channel === channel && x.ts === String(args.ts));
        if (!m) return err("message_not_found");
        const problem = blocksProblem(args.blocks);
        if (problem) return err(problem);
        m.text = String(args.text ?? m.text);
        if (args.blocks) m.blocks = args.blocks as unknown[];
        m.history.push(m.blocks);
        return ok({
          channel,
          ts: m.ts,
          text: m.text,
          message: { type: "message", text: m.text, user: botUserId, bot_id: botId, blocks: m.blocks },
        });
      }
      case "chat.postEphemeral": {
        if (notIn.has(channel)) return err("not_in_channel");
        const problem = blocksProblem(args.blocks);
        if (problem) return err(problem);
        fake.ephemerals.push({
          at: Date.now(),
          channel,
          user: String(args.user),
          text: String(args.text ?? ""),
          blocks: (args.blocks as unknown[]) ?? [],
          thread_ts: args.thread_ts ? String(args.thread_ts) : undefined,
        });
        return ok({ message_ts: nextTs() });
      }
      case "views.publish": {
        const view = args.view as { type?: string; blocks?: unknown[] } | undefined;
        if (!args.user_id || !view || view.type !== "home") return err("invalid_arguments");
        if ((view.blocks?.length ?? 0) > 100) return err("invalid_arguments");
        fake.homes.set(String(args.user_id), view.blocks ?? []);
        return ok({
          view: {
            id: `V0${crypto.randomBytes(4).toString("hex").toUpperCase()}`,
            team_id: "T0TEST",
            type: "home",
            blocks: view.blocks,
            hash: crypto.randomBytes(6).toString("hex"),
          },
        });
      }
      case "files.info": {
        const f = fake.files.get(String(args.file));
        return f
          ? ok({ file: fake.fileObject(f), comments: [], response_metadata: { next_cursor: "" } })
          : err("file_not_found");
      }
      case "files.list": {
        const count = Number(args.count ?? 100);
        const files = [...fake.files.values()]
          .filter(
            (f) => (!args.user || f.user === args.user) && (!args.channel || f.channels.includes(String(args.channel))),
          )
          .sort((a, b) => b.created - a.created)
          .slice(0, count);
        return ok({
          files: files.map((f) => fake.fileObject(f)),
          paging: { count, total: files.length, page: 1, pages: 1 },
        });
      }
      case "files.getUploadURLExternal": {
        if (!args.filename || !args.length) return err("invalid_arguments");
        const f = fake.addFile({ name: String(args.filename), content: Buffer.alloc(0), user: botUserId });
        f.declaredLength = Number(args.length);
        return ok({ upload_url: `${fake.url}/upload/v1/${f.id}`, file_id: f.id });
      }
      case "files.completeUploadExternal": {
        const list = (args.files as Array<{ id: string; title?: string }>) ?? [];
        const out = [];
        for (const item of list) {
          const f = fake.files.get(item.id);
          if (!f || f.declaredLength === undefined) return err("file_not_found");
          if (f.content.length !== f.declaredLength) return err("file_upload_size_mismatch");
          if (item.title) f.title = item.title;
          if (channel) {
            const m: FakeMessage = {
              channel,
              ts: nextTs(),
              thread_ts: args.thread_ts ? String(args.thread_ts) : undefined,
              text: String(args.initial_comment ?? ""),
              blocks: [],
              user: botUserId,
              history: [],
              files: [f],
            };
            fake.messages.push(m);
            f.channels.push(channel);
            f.shares[channel] = [{ ts: m.ts, ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}) }];
          }
          out.push({ id: f.id, title: f.title, name: f.name });
        }
        return ok({ files: out });
      }
      case "users.info": {
        const u = opts.users?.[String(args.user)];
        if (!u) return err("user_not_found");
        return ok({
          user: {
            id: args.user,
            team_id: "T0TEST",
            name: u.name,
            real_name: u.name,
            profile: { display_name: u.displayName ?? u.name, real_name: u.name },
          },
        });
      }
      case "usergroups.list":
        return ok({
          usergroups: (opts.usergroups ?? []).map((g) => ({
            id: g.id,
            team_id: "T0TEST",
            is_usergroup: true,
            name: g.name ?? g.handle,
            handle: g.handle,
            user_count: g.users.length,
            ...(args.include_users === "true" || args.include_users === true ? { users: g.users } : {}),
          })),
        });
      default:
        return err("unknown_method");
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? "/", fake.url);
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        const text = typeof payload === "string" ? payload : JSON.stringify(payload);
        res.writeHead(status, {
          "content-type": typeof payload === "string" ? "text/plain" : "application/json; charset=utf-8",
          ...headers,
        });
        res.end(text);
      };
      if (req.method === "POST" && url.pathname.startsWith("/api/")) {
        const method = url.pathname.slice(5);
        const args = parseArgs(body, String(req.headers["content-type"] ?? ""));
        const auth = String(req.headers.authorization ?? "");
        const token = auth.startsWith("Bearer ")
          ? auth.slice(7)
          : typeof args.token === "string"
            ? args.token
            : undefined;
        fake.calls.push({ at: Date.now(), method, args, token });
        const scripted = fake.script.get(method)?.shift();
        if (scripted) return send(scripted.status ?? 200, scripted.body ?? { ok: true }, scripted.headers);
        return send(200, api(method, args, token));
      }
      if (req.method === "POST" && url.pathname.startsWith("/upload/v1/")) {
        const f = fake.files.get(url.pathname.split("/").pop() ?? "");
        if (!f) return send(404, "Not Found");
        f.content = multipartFile(body, String(req.headers["content-type"] ?? ""));
        fake.uploads.push({ at: Date.now(), fileId: f.id, bytes: f.content.length });
        return send(200, `OK - ${f.content.length}`);
      }
      if (req.method === "GET" && url.pathname.startsWith("/files-pri/")) {
        const id = url.pathname.split("/")[2]?.replace(/^T0TEST-/, "") ?? "";
        const f = fake.files.get(id);
        const authorized = req.headers.authorization === `Bearer ${opts.botToken}`;
        fake.downloads.push({ at: Date.now(), fileId: id, authorized });
        if (!authorized) {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
          return res.end(
            "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to your workspace</body></html>",
          );
        }
        if (!f) return send(404, "Not Found");
        res.writeHead(200, { "content-type": f.mimetype, "content-length": String(f.content.length) });
        return res.end(f.content);
      }
      if (req.method === "POST" && url.pathname.startsWith("/commands/")) {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
        } catch {
          return send(400, "invalid_payload");
        }
        // a response_url refuses bad blocks with HTTP 400 and the error as the body, like an incoming webhook
        const problem = blocksProblem(parsed.blocks);
        if (problem) return send(400, problem);
        fake.responses.push({ at: Date.now(), id: url.pathname, body: parsed });
        return send(200, "ok");
      }
      send(404, "Not Found");
    });
  });
  const wss = new WebSocketServer({ server, path: "/link/" });
  wss.on("connection", (ws) => {
    sockets.add(ws);
    fake.socket.connections++;
    ws.on("message", (data) => {
      try {
        fake.socket.received.push(JSON.parse(String(data)) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    });
    ws.on("close", () => sockets.delete(ws));
    ws.send(
      JSON.stringify({
        type: "hello",
        num_connections: 1,
        debug_info: { host: "fake-slack", approximate_connection_time: 18060 },
        connection_info: { app_id: "A0TEST" },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.apiUrl = `${fake.url}/api/`;
  fake.close = async () => {
    for (const s of sockets) s.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fake;
}

// ---------------------------------------------------------------------------------------------------------------
// Requests as Slack sends them to the app.

export function slackSignature(secret: string, timestamp: number, body: string): string {
  return `v0=${crypto.createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

export interface SignedOptions {
  contentType?: string;
  /** Seconds since the epoch (default now). */
  timestamp?: number;
  retryNum?: number;
  /** Override the signature (a forged request). */
  signature?: string;
}

/** POSTs a body to the app the way Slack does: signed, with the timestamp header (and retry headers when asked). */
export async function postSigned(
  url: string,
  secret: string,
  body: string,
  o: SignedOptions = {},
): Promise<{ status: number; text: string; ms: number }> {
  const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    "content-type": o.contentType ?? "application/x-www-form-urlencoded",
    "x-slack-request-timestamp": String(ts),
    "x-slack-signature": o.signature ?? slackSignature(secret, ts, body),
    "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
  };
  if (o.retryNum !== undefined) {
    headers["x-slack-retry-num"] = String(o.retryNum);
    headers["x-slack-retry-reason"] = "http_timeout";
  }
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - t0 };
}

/** A slash command's form body (https://docs.slack.dev/interactivity/implementing-slash-commands#app_command_handling). */
export function slashCommandBody(p: {
  text: string;
  userId: string;
  userName?: string;
  channelId: string;
  responseUrl: string;
  triggerId?: string;
  command?: string;
}): string {
  return new URLSearchParams({
    token: "deprecated-verification-token",
    team_id: "T0TEST",
    team_domain: "tuneloop-test",
    channel_id: p.channelId,
    channel_name: "ml",
    user_id: p.userId,
    user_name: p.userName ?? p.userId.toLowerCase(),
    command: p.command ?? "/tune",
    text: p.text,
    api_app_id: "A0TEST",
    is_enterprise_install: "false",
    response_url: p.responseUrl,
    trigger_id: p.triggerId ?? `${Date.now()}.${crypto.randomInt(1e9)}.${crypto.randomBytes(16).toString("hex")}`,
  }).toString();
}

/** An Events API envelope (https://docs.slack.dev/apis/events-api/#callback-field). */
export function eventEnvelope(
  event: Record<string, unknown>,
  eventId = `Ev0${crypto.randomBytes(5).toString("hex").toUpperCase()}`,
): Record<string, unknown> {
  return {
    token: "deprecated-verification-token",
    team_id: "T0TEST",
    api_app_id: "A0TEST",
    event: { event_ts: event.ts ?? nextTs(), ...event },
    type: "event_callback",
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      { enterprise_id: null, team_id: "T0TEST", user_id: "U0BOT0001", is_bot: true, is_enterprise_install: false },
    ],
    is_ext_shared_channel: false,
  };
}

/** A `message` event with subtype `file_share` (https://docs.slack.dev/reference/events/message/file_share). */
export function fileShareEvent(
  fake: FakeSlack,
  f: FakeFile,
  p: { channel: string; user: string; text?: string; thread_ts?: string },
): Record<string, unknown> {
  const ts = nextTs();
  f.channels.push(p.channel);
  f.shares[p.channel] = [{ ts, ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}) }];
  return {
    type: "message",
    subtype: "file_share",
    text: p.text ?? "",
    files: [fake.fileObject(f)],
    upload: false,
    user: p.user,
    display_as_bot: false,
    ts,
    ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}),
    channel: p.channel,
    channel_type: "channel",
  };
}

/** A block_actions payload for a button in a message (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload). */
export function blockActionBody(p: {
  userId: string;
  userName?: string;
  channelId: string;
  message: FakeMessage;
  actionId: string;
  responseUrl: string;
}): string {
  const button = (
    p.message.blocks as Array<{
      type: string;
      elements?: Array<{ action_id: string; value: string; text: { text: string } }>;
    }>
  )
    .flatMap((b) => (b.type === "actions" ? (b.elements ?? []) : []))
    .find((e) => e.action_id === p.actionId);
  if (!button) throw new Error(`no button ${p.actionId} on message ${p.message.ts}`);
  const payload = {
    type: "block_actions",
    user: {
      id: p.userId,
      username: p.userName ?? p.userId.toLowerCase(),
      name: p.userName ?? p.userId.toLowerCase(),
      team_id: "T0TEST",
    },
    api_app_id: "A0TEST",
    token: "deprecated-verification-token",
    container: { type: "message", message_ts: p.message.ts, channel_id: p.channelId, is_ephemeral: false },
    trigger_id: `${Date.now()}.${crypto.randomInt(1e9)}.${crypto.randomBytes(16).toString("hex")}`,
    team: { id: "T0TEST", domain: "tuneloop-test" },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: p.channelId, name: "ml" },
    message: {
      type: "message",
      user: p.message.user,
      ts: p.message.ts,
      text: p.message.text,
      blocks: p.message.blocks,
      ...(p.message.thread_ts ? { thread_ts: p.message.thread_ts } : {}),
    },
    state: { values: {} },
    response_url: p.responseUrl,
    actions: [
      {
        action_id: button.action_id,
        block_id: "tune_actions",
        text: { type: "plain_text", text: button.text.text, emoji: true },
        value: button.value,
        type: "button",
        action_ts: nextTs(),
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/**
 * Waits until `check` returns a truthy value (polling), or fails after `ms`: a generous floor of 2 minutes whatever a
 * caller asks (a busy machine is slow, not broken; a deadline only decides how long a real failure takes to show).
 */
export async function waitFor<T>(what: string, check: () => T | undefined | null | false, ms = 120_000): Promise<T> {
  ms = Math.max(ms, 120_000);
  const until = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
