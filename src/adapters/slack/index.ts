/**
 * tuneloop as a Slack app: Bolt in HTTP mode (HTTPReceiver on PORT, events at /slack/events, every request's
 * signature and timestamp verified: Bolt refuses one stamped over 5 minutes ago, and refuseFutureRequests one
 * stamped over 5 minutes ahead, which Bolt lets through) or in Socket Mode (SLACK_APP_TOKEN). `startSlack` makes Slack the app's chat
 * port, keeps run cards and threads current (the run notifier), and registers one listener per kind of request.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { App as BoltApp, HTTPReceiver, LogLevel, SocketModeReceiver, type Receiver } from "@slack/bolt";
import type { App } from "../../app.ts";
import { ErrorCode, TuneError } from "../../errors.ts";
import { SlackApi, slackErrorCode } from "./api.ts";
import { SlackContext } from "./context.ts";
import { registerActions } from "./listeners/actions.ts";
import { registerAppHome } from "./listeners/app-home.ts";
import { registerFileShares } from "./listeners/file-share.ts";
import { registerSlashCommand } from "./listeners/slash-command.ts";
import { registerThreadReplies } from "./listeners/thread-replies.ts";
import { boltLogger } from "./logger.ts";
import { slackSecrets, type SlackSettings } from "./settings.ts";

export { slackSettings, type SlackSettings } from "./settings.ts";

export interface SlackHandle {
  /** HTTP mode: the port the receiver listens on. */
  port?: number;
  mode: "http" | "socket";
  /** Stops taking requests, lets started work finish (up to a few seconds), detaches from the app. */
  stop(): Promise<void>;
}

/** How far a request's timestamp may be from now, either way (Slack's rule; Bolt checks only the past). */
export const MAX_REQUEST_SKEW_SEC = 5 * 60;

/**
 * Refuses, with 401 as Bolt refuses a stale one, a request whose X-Slack-Request-Timestamp lies more than 5 minutes
 * in the future: signed with a leaked or guessed clock, it could otherwise be replayed until that time comes.
 */
export function refuseFutureRequests(receiver: HTTPReceiver, log: App["log"]): HTTPReceiver {
  const next = receiver.requestListener;
  receiver.requestListener = (req, res) => {
    const ts = Number(req.headers["x-slack-request-timestamp"]);
    if (Number.isFinite(ts) && ts > Math.floor(Date.now() / 1000) + MAX_REQUEST_SKEW_SEC) {
      log.warn({ timestamp: ts, url: req.url }, "slack: request stamped in the future refused");
      req.resume();
      res.writeHead(401).end();
      return;
    }
    next(req, res);
  };
  return receiver;
}

export async function startSlack(app: App, settings: SlackSettings): Promise<SlackHandle> {
  const secrets = [...new Set([...app.config.secrets, ...slackSecrets(settings)])];
  const api = new SlackApi(settings, app.log, secrets);
  let me: Awaited<ReturnType<SlackApi["authTest"]>>;
  try {
    me = await api.authTest();
  } catch (err) {
    const code = slackErrorCode(err);
    throw new TuneError(
      ErrorCode.ConfigInvalid,
      code
        ? `Slack refused SLACK_BOT_TOKEN (${code}). Copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page, and reinstall the app if its scopes changed.`
        : `Could not reach Slack's Web API at ${settings.apiUrl} (${err instanceof Error ? err.message : String(err)}). Check the network, or SLACK_API_URL.`,
    );
  }

  const logger = boltLogger(app.log, secrets);
  const socketReceiver =
    settings.mode === "socket"
      ? new SocketModeReceiver({
          appToken: settings.appToken as string,
          logger,
          logLevel: LogLevel.WARN,
          installerOptions: { clientOptions: { slackApiUrl: settings.apiUrl } },
        })
      : null;
  const receiver: Receiver =
    socketReceiver ??
    refuseFutureRequests(
      new HTTPReceiver({
        signingSecret: settings.signingSecret as string,
        endpoints: "/slack/events",
        port: settings.port,
        logger,
        logLevel: LogLevel.WARN,
        processBeforeResponse: false,
      }),
      app.log,
    );
  const bolt = new BoltApp({
    token: settings.botToken,
    botId: me.botId,
    botUserId: me.userId,
    receiver,
    logger,
    logLevel: LogLevel.WARN,
    ignoreSelf: true,
    // No conversation store: nothing here reads it, and it is one more step before every ack.
    convoStore: false,
    clientOptions: { slackApiUrl: settings.apiUrl, rejectRateLimitedCalls: true },
  });
  bolt.error(async (err) => {
    app.log.warn({ err }, "slack: listener error");
  });

  const s = new SlackContext(app, api, secrets, me.userId);
  registerSlashCommand(bolt, s);
  registerFileShares(bolt, s);
  registerThreadReplies(bolt, s);
  registerActions(bolt, s);
  registerAppHome(bolt, s);

  const detach = s.kernel.attach();

  let port: number | undefined;
  try {
    if (settings.mode === "socket") {
      await bolt.start();
    } else {
      const server = (await bolt.start(settings.port)) as Server;
      port = (server.address() as AddressInfo).port;
    }
  } catch (err) {
    detach();
    throw err;
  }
  app.log.info({ mode: settings.mode, port, team: me.team, botUserId: me.userId }, "slack: connected");

  let stopped = false;
  return {
    port,
    mode: settings.mode,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (socketReceiver) {
        // Bolt's stop() does not wait for the socket's close handshake: wait for it here (bounded).
        await Promise.race([socketReceiver.client.disconnect(), new Promise((r) => setTimeout(r, 5000).unref())]);
      } else {
        await bolt.stop().catch((err: unknown) => app.log.warn({ err }, "slack: stopping the receiver failed"));
      }
      await s.idle(10_000);
      detach();
      await api.outbox.close(5_000);
    },
  };
}
