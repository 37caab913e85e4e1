/**
 * Replay dedupe for every platform: Slack retries an event it thinks failed (X-Slack-Retry-Num), Discord's gateway
 * replays events after a resume, a Socket Mode envelope can arrive twice. Each inbound request has a key (the
 * platform's event, trigger, interaction or message id); the first delivery claims it in the database
 * (`chat_requests`), so a retry is dropped also after a restart and by another process on the same database.
 */
export interface RequestLog {
  /** True the first time `key` is offered (and records it); false for a key already taken. */
  first(key: string): boolean;
}

/** How long a key is remembered: platforms retry within minutes; a day is ample. */
export const REQUEST_KEY_TTL_MS = 24 * 3600_000;
