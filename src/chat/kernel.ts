/**
 * The chat kernel: what every platform shares, so an adapter only translates. Inbound, an adapter hands it events in
 * one shape (src/chat/types.ts); the kernel runs one pipeline for each:
 *
 *   dedupe (in the database) -> preflight (command found, options valid, permission; before any download)
 *   -> capped download (into a file the bot picks: commands/attachments.ts) -> dispatch -> deliver (public or
 *   ephemeral, its thread, its files) -> run presence (a run's card kept up to date, its thread the run's thread).
 *
 * Errors become cards in one place (commands/dispatch.ts `failureOutcome`). Outbound, the kernel calls the adapter's
 * operations (post, edit, post ephemeral, thread, mention) and the request's own answer (`Reply`).
 */
import { receiveUpload, type Attachment } from "../../commands/attachments.ts";
import {
  failureOutcome,
  findCommand,
  preflight,
  runCommand,
  runCommandLine,
  type Outcome,
} from "../../commands/dispatch.ts";
import { splitWords } from "../../commands/parse.ts";
import type { CommandContext } from "../../commands/types.ts";
import type { App } from "../app.ts";
import type { Card } from "../core/cards.ts";
import { attachEvalNotifier } from "../core/evals/jobs.ts";
import { attachRunNotifier, type NotifierDeps } from "../core/runs/notifier.ts";
import { queuedEvalCard } from "../views/evals.ts";
import { runCardFor, runVerdictCard } from "../views/runs.ts";
import { buttonKey } from "./buttons.ts";
import { type Choice, completeKindOf, suggestions } from "./complete.ts";
import { tooLarge } from "./files.ts";
import type {
  ButtonEvent,
  ChatAdapter,
  CommandEvent,
  FileDropEvent,
  InboundFile,
  MessageRef,
  Reply,
  ThreadReplyEvent,
} from "./types.ts";

export class ChatKernel {
  /** Messages the kernel posted that are a run's card (message id -> run id), besides the runs' own card messages. */
  private readonly subjects = new Map<string, number>();
  /** Messages known not to be a run's card, and when that was looked up. */
  private readonly misses = new Map<string, number>();

  constructor(
    readonly app: App,
    readonly adapter: ChatAdapter,
  ) {}

  /** Dedupe: true the first time a request key is seen (kept in the database: survives a restart). */
  first(key: string): boolean {
    return this.app.requests.first(`${this.adapter.surface}:${key}`);
  }

  /** A key for a button command too long for the platform's button id, the command kept (src/chat/buttons.ts). */
  keepButton(command: string): string {
    const key = buttonKey(command);
    this.app.buttons.keep(key, command);
    return key;
  }

  /** The command of a button key from keepButton (also one made before a restart), or null. */
  buttonCommand(key: string): string | null {
    return this.app.buttons.command(key);
  }

  context(
    ev: Pick<CommandEvent, "user" | "channelId"> & { requestId?: string },
    progress?: (m: string) => void,
  ): CommandContext {
    const base = {
      app: this.app,
      user: ev.user,
      channelId: ev.channelId,
      requestId: ev.requestId,
      progress: progress ?? (() => {}),
    };
    const { surface, host } = this.adapter;
    // Host access only where the adapter is the terminal's (the console); a chat platform's context has none.
    return surface === "console" ? { ...base, surface, host } : { ...base, surface };
  }

  /** What the dispatcher refuses before any handler runs; null: go ahead. */
  preflight(words: string | string[], ctx: CommandContext): Outcome | null {
    return preflight(words, ctx);
  }

  /** An error from an adapter's own work (a download, a platform call) as an outcome to show. */
  failure(err: unknown): Outcome {
    return failureOutcome(err, this.app.log, this.adapter.name);
  }

  /**
   * Runs a command: preflight, then (with a file) the capped download into a file the bot picks, then dispatch.
   * The upload is removed once the command has read it. Never throws.
   */
  async run(line: string | string[], ctx: CommandContext, file?: InboundFile): Promise<Outcome> {
    if (!file) return typeof line === "string" ? runCommandLine(line, ctx) : runCommand(line, ctx);
    const refused = preflight(line, ctx);
    if (refused) return refused;
    let upload: Attachment | null = null;
    try {
      upload = await this.download(file);
      return await runCommand(typeof line === "string" ? splitWords(line) : line, { ...ctx, attachment: upload });
    } catch (err) {
      return this.failure(err);
    } finally {
      upload?.discard();
    }
  }

  /** Downloads an inbound file within the upload limit into a file the bot picks (receiveUpload). */
  async download(file: InboundFile): Promise<Attachment> {
    const limit = this.app.config.limits.maxUploadBytes;
    if (file.size !== undefined && file.size > limit) throw tooLarge(file.name, file.size, limit);
    return receiveUpload(this.app.blobs, file.name, (dest) => file.fetch(dest, limit), this.adapter.surface);
  }

  /** A typed command (a slash command): run, then delivered. */
  async command(ev: CommandEvent, reply: Reply): Promise<void> {
    try {
      const ctx = this.context(ev, reply.progress);
      const outcome = await this.run(ev.words, ctx, ev.file);
      await this.deliver(outcome, reply, { forcePublic: Boolean(ev.file) });
    } catch (err) {
      await reply.private(this.failure(err).card).catch((e) => this.app.log.warn({ err: e }, "chat: could not answer"));
    }
  }

  /**
   * Files dropped in a channel: each dataset file is run as the command typed with it (default `dataset upload`),
   * refused before its download when the words or the permission do not hold, and answered in the file's thread.
   */
  async fileDrop(ev: FileDropEvent, reply: (file: InboundFile) => Reply): Promise<void> {
    for (const file of ev.files) {
      const r = reply(file);
      try {
        const ctx = this.context({ ...ev, requestId: `${ev.requestId}:${file.id ?? file.name}` }, r.progress);
        const refused = preflight(ev.words, ctx);
        if (refused) {
          await r.private(refused.card);
          continue;
        }
        const outcome = await this.run(ev.words, ctx, file);
        await this.deliver(outcome, r, { forcePublic: true });
      } catch (err) {
        await r.private(this.failure(err).card).catch((e) => this.app.log.warn({ err: e }, "chat: could not answer"));
      }
    }
  }

  /**
   * A button: its command runs as the person who pressed it, with the same checks as typing it. A refusal or a stale
   * button privately; a new run (Re-run) as a new card in the channel; the pressed card's own subject (the same
   * run) edited in place; anything else (a comparison) in the pressed card's thread.
   */
  async button(ev: ButtonEvent, reply: Reply & { edit(card: Card): Promise<void> }): Promise<void> {
    try {
      const outcome = await runCommandLine(ev.command, this.context(ev));
      if (outcome.error || outcome.card.ephemeral) {
        await reply.private(outcome.card);
        return;
      }
      if (outcome.onPosted) {
        await this.deliver(outcome, reply);
        return;
      }
      const pressed = this.subjectOf(ev.channelId, ev.messageId);
      const answer = outcome.card.subject?.kind === "run" ? outcome.card.subject.id : null;
      if (pressed !== null && pressed === answer) {
        const { thread, ...card } = outcome.card;
        await reply.edit(card);
        for (const t of thread ?? []) await this.adapter.post(ev.channelId, t, { threadId: ev.messageId });
        return;
      }
      await this.deliver(outcome, {
        ...reply,
        public: (c) => this.postIn(ev.channelId, c, ev.threadId ?? ev.messageId),
      });
    } catch (err) {
      await reply.private(this.failure(err).card).catch(() => {});
    }
  }

  private async postIn(channelId: string, card: Card, threadId: string): Promise<MessageRef> {
    const { messageId } = await this.adapter.post(channelId, card, { threadId });
    return { channelId, messageId, threadId };
  }

  /**
   * Delivers an outcome: errors and ephemeral cards to the person alone; anything else through `reply.public`, then
   * its thread cards into the message's thread and, for a run's card, its presence.
   */
  async deliver(outcome: Outcome, reply: Reply, opts: { forcePublic?: boolean } = {}): Promise<MessageRef | null> {
    if (outcome.error || (outcome.card.ephemeral && !opts.forcePublic)) {
      await reply.private(outcome.card); // its thread cards go with it where the platform can show them
      return null;
    }
    const { thread, ...card } = outcome.card;
    const ref = await reply.public({ ...card, ephemeral: false });
    if (!ref) return null;
    for (const t of thread ?? [])
      await this.adapter.post(ref.channelId, t, { threadId: ref.threadId ?? ref.messageId });
    this.presence(outcome, ref);
    return ref;
  }

  /**
   * A card just posted: a run's card tells its run where it lives (onPosted), is remembered as the run's, and is
   * edited at once when the run moved on while it was being posted.
   */
  presence(outcome: Outcome, ref: MessageRef): void {
    const subject = outcome.card.subject;
    if (subject?.kind === "run") this.remember(`${ref.channelId}:${ref.messageId}`, subject.id);
    if (!outcome.onPosted || ref.threadId) return;
    outcome.onPosted({ channelId: ref.channelId, messageId: ref.messageId });
    if (subject?.kind !== "run") return;
    const now = this.app.runs.find(subject.id);
    if (!now || now.messageId !== ref.messageId) return;
    const card = runCardFor(this.app, now);
    if (card.title !== outcome.card.title) {
      void this.adapter
        .update(ref.channelId, ref.messageId, card)
        .catch((err) => this.app.log.warn({ err }, "chat: run card refresh failed"));
    }
  }

  /**
   * The run a message is the card of (posted by this process, or stored as the run's card message), or null. A miss
   * is remembered for a minute: every message in every thread asks this.
   */
  subjectOf(channelId: string, messageId: string): number | null {
    const key = `${channelId}:${messageId}`;
    const known = this.subjects.get(key);
    if (known !== undefined) return known;
    const missed = this.misses.get(key);
    if (missed !== undefined && Date.now() - missed < 60_000) return null;
    const run = this.app.runs.byMessage(channelId, messageId);
    if (run) {
      this.remember(key, run.id);
      return run.id;
    }
    this.misses.set(key, Date.now());
    if (this.misses.size > 5000) this.misses.clear();
    return null;
  }

  private remember(key: string, runId: number) {
    this.subjects.set(key, runId);
    this.misses.delete(key);
    if (this.subjects.size > 5000) this.subjects.delete(this.subjects.keys().next().value as string);
  }

  /** A person's reply in a thread: kept as the run's discussion when the thread is a run's. Returns the run id. */
  threadReply(ev: ThreadReplyEvent): number | null {
    const runId = this.subjectOf(ev.channelId, ev.threadId);
    if (runId === null) return null;
    if (!this.first(`reply:${ev.channelId}:${ev.messageId}`)) return runId;
    this.app.runs.addDiscussion(runId, {
      user: ev.user.name,
      userId: ev.user.id,
      text: ev.text,
      messageId: ev.messageId,
      at: ev.at,
      files: ev.files,
    });
    return runId;
  }

  /** Autocomplete: the choices for an option of a command, as the registry declares it. */
  autocomplete(path: string[], field: string, typed: string): Choice[] {
    const found = findCommand(path);
    if (!found || found.rest.length) return [];
    const kind = completeKindOf(found.def, field);
    return kind ? suggestions(this.app, kind, typed) : [];
  }

  /** The overview of a person (Slack App Home; `/tune home` elsewhere). */
  overview(userId: string): Card {
    return this.app.overview(userId);
  }

  /**
   * Makes this adapter the app's chat and keeps run cards and threads current (the run notifier). Returns detach.
   */
  attach(opts: Partial<Pick<NotifierDeps, "threadEveryMs" | "cardEveryMs">> & { notifier?: boolean } = {}): () => void {
    const app = this.app;
    app.chat = this.adapter;
    const stop =
      opts.notifier === false
        ? () => {}
        : attachRunNotifier(app.runs.events, {
            chat: () => app.chat,
            card: (run) => runCardFor(app, run),
            verdictCard: (run, v) => runVerdictCard(app, run, v),
            onError: (err) => app.log.warn({ err }, `${this.adapter.name}: run card or thread update failed`),
            threadEveryMs: opts.threadEveryMs,
            cardEveryMs: opts.cardEveryMs,
          });
    // A queued eval whose command's replica is gone: its card, posted where the command was typed (once).
    const stopEvals =
      opts.notifier === false
        ? () => {}
        : attachEvalNotifier(app.evals.events, {
            chat: () => app.chat,
            card: (ev) => queuedEvalCard(app, ev),
            claim: (ev) => app.engine.claimEvalReply(ev.id, app.clock.now(), { waiter: false }),
            onError: (err) => app.log.warn({ err }, `${this.adapter.name}: posting an eval's card failed`),
          });
    return () => {
      stop();
      stopEvals();
      if (app.chat === this.adapter) app.chat = undefined;
    };
  }
}

/**
 * The command typed with a dropped file ("tune dataset upload x" or "/tune dataset upload x"): the words after tune
 * (`dataset upload` when only "tune" was typed), or null when the text is not a command.
 */
export function typedLine(text: string | undefined): string | null {
  const m = /^\s*\/?tune\b(.*)$/is.exec(text ?? "");
  if (!m) return null;
  return m[1].trim() || "dataset upload";
}

/** typedLine as words (an unclosed quote: the plain upload). */
export function typedWords(text: string | undefined): string[] | null {
  const line = typedLine(text);
  if (line === null) return null;
  try {
    return splitWords(line);
  } catch {
    return ["dataset", "upload"];
  }
}
