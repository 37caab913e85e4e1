/**
 * Bolt's and the Web API client's logs go into the bot's log (pino), one level lower than they ask for: Bolt is
 * chatty at info. The pino stream scrubs known secrets; the Slack tokens are scrubbed here as well, so a token never
 * reaches a log line even when the settings did not come from the environment the logger was built from.
 */
import { LogLevel, type Logger as BoltLogger } from "@slack/bolt";
import type { Logger } from "../../log.ts";
import { scrubSecrets } from "../../log.ts";

export function boltLogger(log: Logger, secrets: readonly string[]): BoltLogger {
  let level: LogLevel = LogLevel.WARN;
  let name = "slack";
  const line = (msg: unknown[]) =>
    scrubSecrets(
      msg.map((m) => (m instanceof Error ? (m.stack ?? m.message) : typeof m === "string" ? m : safeJson(m))).join(" "),
      secrets,
    );
  return {
    debug: (...msg: unknown[]) => log.trace({ module: name }, line(msg)),
    info: (...msg: unknown[]) => log.debug({ module: name }, line(msg)),
    warn: (...msg: unknown[]) => log.warn({ module: name }, line(msg)),
    error: (...msg: unknown[]) => log.error({ module: name }, line(msg)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: (n: string) => {
      name = n;
    },
  };
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x);
  } catch {
    return String(x);
  }
}
