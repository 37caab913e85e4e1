import { eq, lt } from "drizzle-orm";
import { REQUEST_KEY_TTL_MS } from "../../../src/chat/dedupe.ts";
import type { PgDb } from "../client.ts";
import { chatButtons, chatRequests } from "../schema.ts";

/**
 * The chat requests already taken on Postgres (the contract of db/repos/chat.ts): one INSERT ... ON CONFLICT DO
 * NOTHING, so of two replicas handed the same Slack retry or Discord replay at once, exactly one takes it.
 */
export function pgChatRequests(db: PgDb) {
  let claims = 0;
  return {
    async first(key: string, now: Date): Promise<boolean> {
      const taken = await db.insert(chatRequests).values({ key, at: now }).onConflictDoNothing().returning();
      if (++claims % 500 === 0)
        await db.delete(chatRequests).where(lt(chatRequests.at, new Date(now.getTime() - REQUEST_KEY_TTL_MS)));
      return taken.length === 1;
    },
  };
}

/** Long button commands on Postgres (the contract of chatButtonStore in db/repos/chat.ts). */
export function pgChatButtons(db: PgDb) {
  return {
    async keep(key: string, command: string, now: Date): Promise<void> {
      await db.insert(chatButtons).values({ key, command, at: now }).onConflictDoNothing();
    },
    async command(key: string): Promise<string | null> {
      const [row] = await db.select().from(chatButtons).where(eq(chatButtons.key, key)).limit(1);
      return row?.command ?? null;
    },
  };
}
