/**
 * The console chat: a terminal stand-in for a Slack/Discord channel. People type the same `/tune ...` commands,
 * attach files by path (`/attach PATH`, or `--file PATH` on the command), and see the bot's replies and threads
 * as it would post them: each message with its id, thread replies indented under their parent with the thread id.
 * At a terminal, commands run concurrently (a long upload does not block the next command); piped input runs in
 * order. Ctrl-D or /quit exits cleanly.
 */
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { type Attachment, HostAccess } from "../../../commands/attachments.ts";
import type { App } from "../../app.ts";
import { ChatKernel } from "../../chat/kernel.ts";
import type { ChatAdapter } from "../../chat/types.ts";
import type { Card } from "../../core/cards.ts";
import { scrubSecrets } from "../../log.ts";
import { saveCardFiles } from "./files.ts";
import { renderCard } from "./render.ts";

export interface ConsoleChatOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  channelId?: string;
  /** Called when the person leaves (Ctrl-D, /quit), after their commands finish: stops the work in flight; a line it
   * returns is said before "bye". */
  beforeExit?: () => Promise<string | undefined>;
  /** The run notifier's timing (its default: progress in a run's thread every 30 s, card edits every 3 s). */
  notifier?: { threadEveryMs?: number; cardEveryMs?: number };
}

const indent = (s: string, n: number) =>
  s
    .split("\n")
    .map((l) => (l ? " ".repeat(n) + l : l))
    .join("\n");

export function consoleChat(app: App, opts: ConsoleChatOptions = {}): Promise<void> {
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const channelId = opts.channelId ?? "console";
  const interactive = Boolean((input as { isTTY?: boolean }).isTTY);
  const rl = readline.createInterface({ input, output: interactive ? output : undefined, terminal: interactive });
  let nextId = 1;
  let staged: Attachment | undefined;
  const pending = new Set<Promise<void>>();
  const user = { id: "console", name: app.config.consoleUser };
  // The console is the person at the machine: they name files on it (/attach PATH, --file PATH, --out PATH).
  const host = HostAccess.forTerminal("console");

  const write = (s: string) => {
    output.write(`${scrubSecrets(s, app.config.secrets)}\n`);
    if (interactive) rl.prompt(true);
  };

  /** The title each posted message shows now (a run card's title carries its state). */
  const titles = new Map<string, string | undefined>();

  /** One short line of text (a progress line, a state sentence): printed on the thread marker's line. */
  const oneLine = (card: Card) =>
    !card.title &&
    !card.files?.length &&
    !card.thread?.length &&
    card.blocks.length === 1 &&
    card.blocks[0].type === "text"
      ? card.blocks[0].text
      : null;

  /** Posts a card as the bot would: a message with an id; its thread replies indented below it. */
  const post = (card: Card, threadOf?: string): string => {
    const id = `m${nextId++}`;
    const files = saveCardFiles(app.config.dataDir, card.files);
    const body = renderCard(card, { filePaths: files });
    titles.set(id, card.title);
    const line = oneLine(card);
    if (threadOf && line !== null && !line.includes("\n")) write(`    ↳ thread ${threadOf} · ${id} · ${line}`);
    else if (threadOf) write(indent(`↳ thread ${threadOf} · ${id}\n${indent(body, 2)}`, 4));
    else write(`\ntuneloop · ${id}\n${indent(body, 2)}`);
    for (const t of card.thread ?? []) post(t, threadOf ?? id);
    return id;
  };

  // The console is the bot's channel: runs post their progress and verdicts here (the kernel attaches it).
  const adapter: ChatAdapter = {
    surface: "console",
    name: "the console",
    host,
    async post(_channel, card, o) {
      return { messageId: post(card, o?.threadId) };
    },
    async postEphemeral(_channel, _user, card, o) {
      post({ ...card, ephemeral: true }, o?.threadId);
    },
    mention: (userId) => `@${userId}`,
    // A terminal cannot redraw a message in place. A run's card is edited every few seconds with its progress,
    // which its thread already tells line by line, so an edit is printed (the whole card) only when its title, which
    // carries the run's state, changes.
    async update(_channel, messageId, card) {
      if (titles.has(messageId) && titles.get(messageId) === card.title) return;
      titles.set(messageId, card.title);
      const files = saveCardFiles(app.config.dataDir, card.files);
      write(`\ntuneloop · ${messageId} (edited)\n${indent(renderCard(card, { filePaths: files }), 2)}`);
    },
  };
  const kernel = new ChatKernel(app, adapter);
  const detach = kernel.attach(opts.notifier);

  const handle = async (line: string) => {
    const trimmed = line.trim();
    if (!trimmed) return;
    if (trimmed === "/quit" || trimmed === "/exit") {
      rl.close();
      return;
    }
    if (trimmed.startsWith("/attach")) {
      const p = trimmed
        .slice("/attach".length)
        .trim()
        .replace(/^["']|["']$/g, "");
      if (!p) return void write("Usage: /attach PATH (the next command that takes a file uses it)");
      const abs = path.resolve(p);
      if (!fs.existsSync(abs)) return void write(`No file at ${abs}.`);
      staged = host.attach(abs);
      return void write(`📎 ${staged.filename} attached; it goes with your next /tune command.`);
    }
    if (trimmed === "/help" || trimmed === "help") return void handle("/tune help");
    if (!trimmed.startsWith("/tune") && !trimmed.startsWith("tune ")) {
      return void write("(Not a command. Type /tune help, /attach PATH, or /quit.)");
    }
    const attachment = staged;
    staged = undefined;
    const progress = (m: string) => write(`  … ${m}`);
    const ctx = kernel.context({ user, channelId }, progress);
    const outcome = await kernel.run(trimmed, { ...ctx, attachment });
    // A terminal has no private replies: everything is printed, an ephemeral card marked "(only you can see this)".
    await kernel.deliver(outcome, {
      public: async (card) => ({ channelId, messageId: post(card) }),
      private: async (card) => void post(card),
    });
  };

  return new Promise((resolve) => {
    if (interactive) {
      output.write(
        `tuneloop console chat · data in ${app.config.dataDir}\nType /tune help for commands, /attach PATH to attach a file, /quit or Ctrl-D to leave.\n`,
      );
      rl.setPrompt(`${user.name}> `);
      rl.prompt();
    }
    // A person at a terminal may type on while a long command runs, so commands run concurrently there;
    // piped input (a script) runs in order, one command after the other.
    let queue: Promise<void> = Promise.resolve();
    const run = async (line: string) => {
      if (!interactive && line.trim()) output.write(`${user.name}> ${line.trim()}\n`);
      await handle(line).catch((err) => write(`internal error: ${err instanceof Error ? err.message : String(err)}`));
    };
    rl.on("line", (line) => {
      let p: Promise<void>;
      if (interactive) p = run(line);
      else {
        queue = queue.then(() => run(line));
        p = queue;
      }
      pending.add(p);
      void p.finally(() => pending.delete(p));
    });
    rl.on("close", async () => {
      while (pending.size) await Promise.all([...pending]);
      const last = await opts.beforeExit?.().catch((err: unknown) => `(stopping: ${(err as Error).message})`);
      if (last) output.write(`${scrubSecrets(last, app.config.secrets)}\n`);
      // /quit leaves stdin open: let go of it so the process can end.
      (input as { destroy?: () => void }).destroy?.();
      detach();
      output.write("bye\n");
      resolve();
    });
  });
}
