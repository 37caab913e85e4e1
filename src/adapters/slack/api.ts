/**
 * The Web API calls the adapter makes, all in one place: writes into channels go through the per-channel outbox;
 * other calls wait out a 429's Retry-After themselves. The client rejects rate-limited calls at once
 * (`rejectRateLimitedCalls`) so that a 429 holds one channel, not every call the bot makes.
 */
import { webApi } from "@slack/bolt";
import { saveCapped, tooLarge } from "../../chat/files.ts";
import type { CardFile } from "../../core/cards.ts";
import { TuneError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { nextRetryMs, retryAfterHeader } from "../../lib/retry.ts";
import { boltLogger } from "./logger.ts";
import { Outbox, withRateLimitRetry } from "./outbox.ts";
import type { Rendered, SlackBlock } from "./render.ts";
import type { SlackSettings } from "./settings.ts";

/** The parts of a Slack file object the adapter reads (https://docs.slack.dev/reference/objects/file-object). */
export interface SlackFile {
  id: string;
  name?: string;
  title?: string;
  size?: number;
  mimetype?: string;
  filetype?: string;
  user?: string;
  url_private?: string;
  url_private_download?: string;
  file_access?: string;
  timestamp?: number;
  created?: number;
  shares?: {
    public?: Record<string, Array<{ ts: string; thread_ts?: string }>>;
    private?: Record<string, Array<{ ts: string; thread_ts?: string }>>;
  };
}

const TTL_MS = 5 * 60_000;

/** A Slack user group as permissions see it: its id, and its handle as the name. */
export interface UserGroup {
  id: string;
  name?: string;
}

export class SlackApi {
  readonly client: webApi.WebClient;
  readonly outbox: Outbox;
  private readonly names = new Map<string, { name: string; at: number }>();
  private groups: { at: number; byUser: Map<string, UserGroup[]> } | null = null;
  private groupsLoading: Promise<Map<string, UserGroup[]>> | null = null;

  constructor(
    private readonly settings: SlackSettings,
    private readonly log: Logger,
    secrets: readonly string[],
  ) {
    this.client = new webApi.WebClient(settings.botToken, {
      slackApiUrl: settings.apiUrl,
      logger: boltLogger(log, secrets),
      rejectRateLimitedCalls: true,
      retryConfig: { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 5000 },
      timeout: 30_000,
    });
    this.outbox = new Outbox({
      intervalMs: settings.outboxIntervalMs ?? 1000,
      onRateLimited: (channel, sec) =>
        log.warn({ channel, retryAfterSec: sec }, "slack rate limit: holding the channel"),
    });
  }

  private retry<T>(fn: () => Promise<T>): Promise<T> {
    return withRateLimitRetry(fn, 5, (sec) => this.log.warn({ retryAfterSec: sec }, "slack rate limit: waiting"));
  }

  async authTest(): Promise<{ userId: string; botId: string; teamId?: string; team?: string }> {
    const r = await this.client.auth.test();
    return { userId: String(r.user_id ?? ""), botId: String(r.bot_id ?? ""), teamId: r.team_id, team: r.team };
  }

  async postMessage(channel: string, r: Rendered, threadTs?: string): Promise<string> {
    const res = await this.outbox.send(channel, () =>
      this.client.chat.postMessage({
        channel,
        text: r.text,
        blocks: r.blocks,
        thread_ts: threadTs,
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    return String(res.ts);
  }

  async update(channel: string, ts: string, r: Rendered): Promise<void> {
    await this.outbox.send(
      channel,
      () => this.client.chat.update({ channel, ts, text: r.text, blocks: r.blocks }),
      `update:${ts}`,
    );
  }

  async postEphemeral(channel: string, user: string, r: Rendered, threadTs?: string): Promise<void> {
    await this.retry(() =>
      this.client.chat.postEphemeral({ channel, user, text: r.text, blocks: r.blocks, thread_ts: threadTs }),
    );
  }

  /** files.uploadV2: files.getUploadURLExternal -> POST to the upload URL -> files.completeUploadExternal (into the thread). */
  async uploadFile(channel: string, threadTs: string | undefined, file: CardFile): Promise<void> {
    const data = typeof file.content === "string" ? Buffer.from(file.content, "utf8") : Buffer.from(file.content);
    await this.outbox.send(channel, () =>
      this.client.filesUploadV2({
        channel_id: channel,
        ...(threadTs ? { thread_ts: threadTs } : {}),
        file: data,
        filename: file.name,
        title: file.title ?? file.name,
      } as webApi.FilesUploadV2Arguments),
    );
  }

  async publishHome(userId: string, blocks: SlackBlock[]): Promise<void> {
    await this.retry(() => this.client.views.publish({ user_id: userId, view: { type: "home", blocks } }));
  }

  async fileInfo(id: string): Promise<SlackFile> {
    const r = await this.retry(() => this.client.files.info({ file: id }));
    return r.file as SlackFile;
  }

  /** The user's latest files in a channel (newest first). */
  async recentFiles(channel: string, user: string, count = 5): Promise<SlackFile[]> {
    const r = await this.retry(() => this.client.files.list({ channel, user, count }));
    return ((r.files ?? []) as SlackFile[]).sort(
      (a, b) => (b.created ?? b.timestamp ?? 0) - (a.created ?? a.timestamp ?? 0),
    );
  }

  /**
   * Downloads a file's bytes to `dest` with the bot token (url_private_download needs `Authorization: Bearer`;
   * without it Slack answers with its login page). Refuses files over `maxBytes` before and while reading.
   */
  async download(file: SlackFile, dest: string, maxBytes: number, attempt = 0): Promise<void> {
    const name = file.name ?? file.id;
    if (file.size !== undefined && file.size > maxBytes) throw tooLarge(name, file.size, maxBytes);
    const url = file.url_private_download ?? file.url_private;
    if (!url)
      throw new TuneError(
        "slack_file_unavailable",
        `Slack gave no download link for ${name}. Share the file in the channel again.`,
      );
    const res = await fetch(url, {
      headers: { Authorization: `Bearer ${this.settings.botToken}` },
      redirect: "follow",
    });
    const retryMs =
      res.status === 429
        ? nextRetryMs(
            attempt,
            { status: 429, retryAfter: retryAfterHeader(res.headers) },
            { maxRetries: 3, capMs: 15_000 },
          )
        : null;
    if (retryMs !== null) {
      await res.body?.cancel().catch(() => {});
      await new Promise((r) => setTimeout(r, retryMs));
      return this.download(file, dest, maxBytes, attempt + 1);
    }
    if (!res.ok || !res.body) {
      throw new TuneError(
        "slack_download_failed",
        `Downloading ${name} from Slack failed (HTTP ${res.status}). Share the file again; if it keeps failing, check the bot's files:read scope.`,
      );
    }
    if ((res.headers.get("content-type") ?? "").startsWith("text/html")) {
      await res.body.cancel().catch(() => {});
      throw new TuneError(
        "slack_download_login_page",
        `Slack answered with its sign-in page instead of ${name}: the bot lacks the files:read scope, or the file is not shared where the bot is. Reinstall the app with files:read (docs/slack.md), then share the file again.`,
      );
    }
    await saveCapped(res.body, dest, maxBytes, name);
  }

  /** A person's display name (cached); their id when Slack does not say. */
  async userName(userId: string, hint?: string): Promise<string> {
    if (hint) {
      this.names.set(userId, { name: hint, at: Date.now() });
      return hint;
    }
    const c = this.names.get(userId);
    if (c && Date.now() - c.at < TTL_MS * 12) return c.name;
    try {
      const r = await this.retry(() => this.client.users.info({ user: userId }));
      const u = r.user;
      const name = u?.profile?.display_name || u?.name || u?.real_name || userId;
      this.names.set(userId, { name, at: Date.now() });
      return name;
    } catch (err) {
      this.log.debug({ err, userId }, "users.info failed; using the id");
      return userId;
    }
  }

  /**
   * The user groups a person belongs to: each group's id, and its handle as the name (a handle is chosen by people,
   * so it matches only permission entries written role:HANDLE or @HANDLE, never an id). Cached 5 minutes; none
   * when the scope is missing.
   */
  async userGroups(userId: string): Promise<UserGroup[]> {
    if (this.groups && Date.now() - this.groups.at < TTL_MS) return this.groups.byUser.get(userId) ?? [];
    this.groupsLoading ??= this.loadGroups().finally(() => {
      this.groupsLoading = null;
    });
    return (await this.groupsLoading).get(userId) ?? [];
  }

  private async loadGroups(): Promise<Map<string, UserGroup[]>> {
    const byUser = new Map<string, UserGroup[]>();
    try {
      const r = await this.retry(() => this.client.usergroups.list({ include_users: true }));
      for (const g of r.usergroups ?? []) {
        if (!g.id) continue;
        const group: UserGroup = { id: g.id, ...(g.handle ? { name: g.handle } : {}) };
        for (const u of g.users ?? []) byUser.set(u, [...(byUser.get(u) ?? []), group]);
      }
    } catch (err) {
      this.log.debug({ err }, "usergroups.list failed; permissions by user id only");
    }
    this.groups = { at: Date.now(), byUser };
    return byUser;
  }
}

/** Slack error codes that mean the bot cannot write where it was asked to. */
export function notInChannel(err: unknown): boolean {
  const code = (err as { data?: { error?: string } })?.data?.error;
  return code === "not_in_channel" || code === "channel_not_found" || code === "is_archived";
}

export function slackErrorCode(err: unknown): string | undefined {
  return (err as { data?: { error?: string } })?.data?.error;
}
