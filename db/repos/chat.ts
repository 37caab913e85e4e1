import { eq, lt } from "drizzle-orm";
import type { ButtonStore } from "../../src/chat/buttons.ts";
import { REQUEST_KEY_TTL_MS, type RequestLog } from "../../src/chat/dedupe.ts";
import type { Clock } from "../../src/core/ports.ts";
import type { Db } from "../client.ts";
import { chatButtons, chatRequests } from "../schema.ts";

/** The chat requests already taken (src/chat/dedupe.ts): one row per key, pruned after a day. */
export function chatRequestLog(db: Db, clock: Clock): RequestLog {
  let claims = 0;
  return {
    first(key) {
      const now = clock.now();
      const res = db.insert(chatRequests).values({ key, at: now }).onConflictDoNothing().run();
      if (++claims % 500 === 0) {
        db.delete(chatRequests)
          .where(lt(chatRequests.at, new Date(now.getTime() - REQUEST_KEY_TTL_MS)))
          .run();
      }
      return res.changes === 1;
    },
  };
}

/** Commands of buttons too long for their platform id (src/chat/buttons.ts): one row per command, kept. */
export function chatButtonStore(db: Db, clock: Clock): ButtonStore {
  return {
    keep(key, command) {
      db.insert(chatButtons).values({ key, command, at: clock.now() }).onConflictDoNothing().run();
    },
    command(key) {
      return db.select().from(chatButtons).where(eq(chatButtons.key, key)).get()?.command ?? null;
    },
  };
}
