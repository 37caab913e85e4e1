/**
 * The bot as a process of its own, driven over IPC (for tests that must see whether the bot's thread is free while
 * it works): the parent sends `{ id, words }`, this process runs the command as the console would and answers
 * `{ id, exitCode, data, card, ms }`. Settings come from the environment (TUNELOOP_DATA, TUNELOOP_ENDPOINTS...).
 */
import { HostAccess } from "../../commands/attachments.ts";
import { runCommand } from "../../commands/dispatch.ts";
import type { CommandContext } from "../../commands/types.ts";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";

const config = loadConfig(process.env);
const app = createApp(config, createLogger(config));
const ctx: CommandContext = {
  app,
  user: { id: "u1", name: "tester" },
  channelId: "c1",
  surface: "console",
  // The console is a terminal surface: it may name files on this machine (the test uploads with --file).
  host: HostAccess.forTerminal("console"),
  progress: () => {},
};
const send = (m: unknown) => process.send?.(m);

process.on("message", (m: { id: number; words: string[] } | { quit: true }) => {
  if ("quit" in m) {
    void app.close().then(() => process.exit(0));
    return;
  }
  const started = performance.now();
  void runCommand(m.words, ctx).then((out) =>
    send({ id: m.id, exitCode: out.exitCode, data: out.data, card: out.card, ms: performance.now() - started }),
  );
});
send({ ready: true });
