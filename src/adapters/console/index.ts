/**
 * The console as a platform (src/platforms.ts): the chat in this terminal. It ends when the person leaves (Ctrl-D,
 * /quit): then the run in progress is stopped and waited for before the database closes (it resumes at the next
 * start).
 */
import type { App } from "../../app.ts";
import type { PlatformHandle } from "../../platforms.ts";
import { consoleChat } from "./chat.ts";

export function startConsole(app: App): PlatformHandle {
  const done = consoleChat(app, {
    async beforeExit() {
      await app.scheduler?.stop();
      const id = await app.worker.stop();
      return id === null
        ? undefined
        : `Run ${id} was interrupted: it resumes when tuneloop starts again (npm start), or drop it with npx tuneloop run cancel ${id}.`;
    },
  });
  return { done, async stop() {} };
}
