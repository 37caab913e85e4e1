/**
 * App Home: when someone opens the bot's Home tab, it shows their overview (computed by the core: their recent runs,
 * every experiment's best score against its baseline, this month's spend), published with views.publish.
 */
import type { App as BoltApp } from "@slack/bolt";
import type { SlackContext } from "../context.ts";

export function registerAppHome(bolt: BoltApp, s: SlackContext): void {
  bolt.event("app_home_opened", async ({ event }) => {
    if (event.tab && event.tab !== "home") return;
    s.track(() => s.api.publishHome(event.user, s.render(s.kernel.overview(event.user)).blocks));
  });
}
