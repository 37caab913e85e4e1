/**
 * What every Slack listener shares: the API, the renderer with the secrets to scrub, the memory of requests
 * already taken (Slack retries events it thinks failed), which thread belongs to which run, the files people
 * shared lately, and how a command's outcome is delivered (public card, thread, files, or an ephemeral reply).
 */
import type { RespondFn } from "@slack/bolt";
import { fmt } from "../../core/format.ts";
import type { Outcome } from "../../../commands/dispatch.ts";
import type { Attachment, CommandContext } from "../../../commands/types.ts";
import { runCardFor } from "../../../commands/run.ts";
import type { App } from "../../app.ts";
import { text, type Card } from "../../core/cards.ts";
import type { ChatPort } from "../../core/ports.ts";
import { notInChannel, type SlackApi, type SlackFile } from "./api.ts";
import { renderCard, type Rendered } from "./render.ts";

/** Keys seen lately (event ids, trigger ids), so a retried delivery does nothing the second time. */
export class Seen {
  private readonly keys = new Map<string, number>();
  constructor(
    private readonly ttlMs = 3_600_000,
    private readonly max = 10_000,
    /** With replicas (Postgres): takes the key in the database; false when another replica took it first. */
    private readonly shared?: (key: string) => boolean,
  ) {}

  /** True when `key` was seen already (here, or by another replica); records it otherwise. */
  check(key: string): boolean {
    const now = Date.now();
    const at = this.keys.get(key);
    if (at !== undefined && now - at < this.ttlMs) return true;
    if (this.shared && !this.shared(key)) {
      this.keys.set(key, now);
      return true;
    }
    this.keys.set(key, now);
    if (this.keys.size > this.max) {
      for (const [k, t] of this.keys) {
        if (this.keys.size <= this.max * 0.9 && now - t < this.ttlMs) break;
        this.keys.delete(k);
      }
    }
    return false;
  }
}

/** Which run a message (its card) belongs to: thread ts -> run id, from the runs' stored message ids. */
export class RunThreads {
  private readonly known = new Map<string, number | null>();
  private readonly missAt = new Map<string, number>();
  constructor(private readonly app: App) {}

  note(channelId: string, ts: string, runId: number) {
    this.known.set(`${channelId}:${ts}`, runId);
    this.missAt.delete(`${channelId}:${ts}`);
  }

  runOf(channelId: string, ts: string): number | null {
    const key = `${channelId}:${ts}`;
    const k = this.known.get(key);
    if (k) return k;
    const miss = this.missAt.get(key);
    if (miss && Date.now() - miss < 60_000) return null;
    const run = this.app.engine.listRuns({ limit: 1000 }).find((r) => r.messageId === ts && r.channelId === channelId);
    if (run) {
      this.known.set(key, run.id);
      return run.id;
    }
    this.missAt.set(key, Date.now());
    if (this.missAt.size > 5000) this.missAt.clear();
    return null;
  }
}

export interface SharedFile {
  file: SlackFile;
  channelId: string;
  userId: string;
  /** The thread the answer about this file goes into (the file's message, or the thread it was shared in). */
  threadTs: string;
  at: number;
}

/** Files people shared lately, so `/tune dataset upload` (which Slack sends without a thread) can find its file. */
export class RecentFiles {
  private readonly byKey = new Map<string, SharedFile[]>();
  remember(f: SharedFile) {
    const key = `${f.channelId}:${f.userId}`;
    const list = [f, ...(this.byKey.get(key) ?? []).filter((x) => x.file.id !== f.file.id)].slice(0, 5);
    this.byKey.set(key, list);
  }
  latest(channelId: string, userId: string, maxAgeMs = 30 * 60_000): SharedFile | null {
    return (
      (this.byKey.get(`${channelId}:${userId}`) ?? []).find(
        (f) => Date.now() - f.at < maxAgeMs && isDatasetFile(f.file),
      ) ?? null
    );
  }
}

const DATASET_EXT = /\.(jsonl|json|ndjson)$/i;
export const isDatasetFile = (f: SlackFile) =>
  DATASET_EXT.test(f.name ?? "") || f.filetype === "json" || f.filetype === "jsonl";

/** Normalises what Slack does to typed text: curly quotes, `&amp;` escapes, `<https://…|label>` links. */
export function commandText(raw: string): string {
  return raw
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/<((?:https?|mailto):[^|>]+)\|[^>]*>/g, "$1")
    .replace(/<((?:https?|mailto):[^>]+)>/g, "$1")
    .replace(/<([@#!][A-Z0-9^]+)\|[^>]*>/gi, "<$1>")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .trim();
}

export interface ReplyTarget {
  channelId: string;
  userId: string;
  /** Post into this thread rather than the channel. */
  threadTs?: string;
  /** Ephemeral answers go through the request's response_url when there is one (works where the bot is not a member). */
  respond?: RespondFn;
  /** A progress message to turn into the final answer. */
  progressTs?: string;
  /** A context line under a public card, e.g. who ran which command. */
  footer?: string;
}

export class SlackContext {
  readonly seen: Seen;
  readonly runThreads: RunThreads;
  readonly files = new RecentFiles();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly uploaded = new Map<string, Set<string>>();
  /** The footer a message was posted with, kept through its edits (a run card keeps "who ran what"). */
  private readonly footers = new Map<string, string>();
  readonly port: ChatPort;

  constructor(
    readonly app: App,
    readonly api: SlackApi,
    readonly secrets: readonly string[],
    readonly botUserId: string,
  ) {
    this.runThreads = new RunThreads(app);
    const pg = app.pg;
    this.seen = new Seen(undefined, undefined, pg ? (key) => pg.claimDelivery(`slack:${key}`) : undefined);
    this.port = {
      post: async (channelId, card, opts) => ({ messageId: await this.postCard(channelId, card, opts?.threadId) }),
      update: (channelId, messageId, card) => this.updateCard(channelId, messageId, card),
    };
  }

  render(card: Card, opts: { ephemeral?: boolean; footer?: string } = {}): Rendered {
    return renderCard(card, { secrets: this.secrets, ...opts });
  }

  /**
   * Runs work that continues after the ack, and keeps it so stop() can wait for it. Never rejects. The work starts
   * on a later turn of the event loop (setImmediate), after pending I/O: requests that arrived in the same burst
   * are acked before the commands compete for the main thread.
   */
  track(work: () => Promise<unknown>): void {
    const q = new Promise<void>((r) => setImmediate(r))
      .then(work)
      .catch((err) => this.app.log.error({ err }, "slack: handler failed"));
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q));
  }

  async idle(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.inflight.size && Date.now() < until) {
      await Promise.race([
        Promise.all([...this.inflight]),
        new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())).unref()),
      ]);
    }
  }

  async commandContext(
    user: { id: string; name?: string },
    channelId: string,
    extra: { attachment?: Attachment; requestId?: string; progress?: (m: string) => void } = {},
  ): Promise<CommandContext> {
    const p = this.app.config.permissions;
    const [name, roles] = await Promise.all([
      this.api.userName(user.id, user.name),
      p.spenders.length || p.admins.length ? this.api.userGroups(user.id) : Promise.resolve([]),
    ]);
    return {
      app: this.app,
      user: { id: user.id, name, roles },
      channelId,
      surface: "slack",
      attachment: extra.attachment,
      requestId: extra.requestId,
      progress: extra.progress ?? (() => {}),
    };
  }

  /** Posts a card (its thread cards and files into its thread); returns its ts. */
  async postCard(channelId: string, card: Card, threadTs?: string, footer?: string): Promise<string> {
    const r = this.render(card, { footer });
    const ts = await this.api.postMessage(channelId, r, threadTs);
    if (footer) {
      this.footers.set(ts, footer);
      if (this.footers.size > 2000) this.footers.delete(this.footers.keys().next().value as string);
    }
    await this.followUps(channelId, card, r, threadTs ?? ts, ts);
    return ts;
  }

  /** Edits a card in place; files it did not have before go into its thread (`threadTs`: when it is a reply). */
  async updateCard(
    channelId: string,
    ts: string,
    card: Card,
    opts: { footer?: string; threadTs?: string } = {},
  ): Promise<void> {
    const r = this.render(card, { footer: opts.footer ?? this.footers.get(ts) });
    await this.api.update(channelId, ts, r);
    await this.followUps(channelId, card, r, opts.threadTs ?? ts, ts);
  }

  private async followUps(channelId: string, card: Card, r: Rendered, threadTs: string, ts: string) {
    for (const t of card.thread ?? []) await this.postCard(channelId, t, threadTs);
    const done = this.uploaded.get(ts) ?? new Set<string>();
    for (const f of r.files) {
      if (done.has(f.name)) continue;
      await this.api.uploadFile(channelId, threadTs, f);
      done.add(f.name);
    }
    if (r.files.length) {
      this.uploaded.set(ts, done);
      if (this.uploaded.size > 2000) this.uploaded.delete(this.uploaded.keys().next().value as string);
    }
  }

  /** Shows a card only to the user (through response_url when there is one). Files cannot go with it. */
  async ephemeral(card: Card, t: ReplyTarget): Promise<void> {
    const c = card.files?.length
      ? {
          ...card,
          blocks: [
            ...card.blocks,
            text(`(${fmt.count(card.files.length, "file")} left out: files cannot go with a reply only you can see.)`),
          ],
        }
      : card;
    const r = this.render(c, { ephemeral: true });
    if (t.respond) {
      await t.respond({ response_type: "ephemeral", replace_original: false, text: r.text, blocks: r.blocks });
      return;
    }
    await this.api.postEphemeral(t.channelId, t.userId, r, t.threadTs);
  }

  /**
   * Delivers a command's outcome: errors and ephemeral cards to the user alone; other cards as a message (in the
   * target thread, or replacing the progress message), with their thread cards and files. A run's card tells its
   * run where it lives (onPosted). Where the bot cannot post (not invited), the user gets it privately with how
   * to invite the bot.
   */
  async deliver(outcome: Outcome, t: ReplyTarget, opts: { forcePublic?: boolean } = {}): Promise<string | undefined> {
    const card = outcome.card;
    const isPrivate = Boolean(outcome.error) || (card.ephemeral && !opts.forcePublic);
    if (isPrivate) {
      if (t.progressTs) {
        const note: Card = { blocks: [text(`<@${t.userId}> got the answer privately.`)] };
        await this.updateCard(t.channelId, t.progressTs, note, { threadTs: t.threadTs });
      }
      await this.ephemeral(card, t);
      return undefined;
    }
    let ts: string;
    try {
      if (t.progressTs) {
        await this.updateCard(
          t.channelId,
          t.progressTs,
          { ...card, ephemeral: false },
          { footer: t.footer, threadTs: t.threadTs },
        );
        ts = t.progressTs;
      } else {
        ts = await this.postCard(t.channelId, { ...card, ephemeral: false }, t.threadTs, t.footer);
      }
    } catch (err) {
      if (!notInChannel(err)) throw err;
      await this.ephemeral(
        {
          ...card,
          blocks: [
            text(
              "I am not in this channel, so only you see this. Invite me with `/invite @tuneloop` (or add me in the channel's settings), then try again.",
            ),
            ...card.blocks,
          ],
        },
        t,
      );
      return undefined;
    }
    if (outcome.onPosted && !t.threadTs) {
      outcome.onPosted({ channelId: t.channelId, messageId: ts });
      this.afterRunPosted(outcome, t.channelId, ts);
    }
    return ts;
  }

  /** A run card just posted: remember its thread, and edit it at once if the run moved on while we posted. */
  private afterRunPosted(outcome: Outcome, channelId: string, ts: string) {
    const posted = (outcome.data as { run?: { id?: number; state?: string } } | null)?.run;
    if (!posted?.id) return;
    this.runThreads.note(channelId, ts, posted.id);
    const now = this.app.engine.runById(posted.id);
    if (now && now.state !== posted.state && now.messageId === ts) {
      this.track(() => this.updateCard(channelId, ts, runCardFor(this.app, now)));
    }
  }

  /**
   * A progress message in a thread: posted at the first report, then edited (the outbox keeps only the newest
   * edit waiting). `ts()` waits for the post, so the final answer can replace it.
   */
  progressIn(
    channelId: string,
    threadTs: string,
  ): { report: (m: string) => void; ts: () => Promise<string | undefined> } {
    let posted: Promise<string | undefined> | null = null;
    let latest = "";
    let done = false;
    return {
      report: (m: string) => {
        if (done) return;
        latest = m;
        const card = (): Card => ({ blocks: [text(`:hourglass_flowing_sand: ${latest}`)] });
        if (!posted) {
          posted = this.postCard(channelId, card(), threadTs).catch((err) => {
            this.app.log.warn({ err }, "slack: progress message failed");
            return undefined;
          });
        } else {
          void posted.then((ts) => (ts ? this.updateCard(channelId, ts, card()).catch(() => {}) : undefined));
        }
      },
      ts: () => {
        done = true;
        return posted ?? Promise.resolve(undefined);
      },
    };
  }
}
