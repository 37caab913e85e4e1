/** A tuneloop app (fake trainer) behind the real Bolt receiver, talking to the fake Slack: what each e2e test needs. */
import path from "node:path";
import type { App } from "../../../src/app.ts";
import { slackSettings, startSlack, type SlackHandle } from "../../../src/adapters/slack/index.ts";
import type { EndpointConfig } from "../../../src/providers/openai-compatible.ts";
import { engineApp } from "../../engine/engine-helpers.ts";
import type { FakeTrainer } from "../../fakes/providers.ts";
import {
  blockActionBody,
  eventEnvelope,
  type FakeMessage,
  type FakeSlack,
  type FakeSlackOptions,
  postSigned,
  type SignedOptions,
  slashCommandBody,
  startFakeSlack,
  waitFor,
} from "../../fakes/slack.ts";
import { tmpDir } from "../../helpers.ts";

export const BOT_TOKEN = "xoxb-1234567890-0987654321-FAKEbotTOKENvalue";
export const SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
export const APP_TOKEN = "xapp-1-A0TEST-1234567890-FAKEappTOKENvalue";

export interface Harness {
  app: App;
  fake: FakeSlack;
  slack: SlackHandle;
  /** http://127.0.0.1:<port>/slack/events (HTTP mode) */
  events: string;
  logFile: string;
  slash(
    text: string,
    p: { user: string; userName?: string; channel: string; triggerId?: string } & SignedOptions,
  ): Promise<{ status: number; ms: number; responseUrl: string }>;
  event(
    ev: Record<string, unknown>,
    o?: SignedOptions & { eventId?: string },
  ): Promise<{ status: number; eventId: string }>;
  press(
    message: FakeMessage,
    actionId: string,
    p: { user: string; channel: string },
  ): Promise<{ status: number; responseUrl: string }>;
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    env?: Record<string, string>;
    endpoints?: EndpointConfig[];
    trainer?: FakeTrainer;
    /** What the tuned local model answers (engineApp's default: every colour right). */
    answers?: (prompt: string) => string;
    fake?: Partial<FakeSlackOptions>;
    outboxIntervalMs?: number;
    socket?: boolean;
  } = {},
): Promise<Harness> {
  const fake = await startFakeSlack({ botToken: BOT_TOKEN, appToken: APP_TOKEN, ...opts.fake });
  const logFile = path.join(tmpDir("slack-log"), "tuneloop.log");
  const { app } = await engineApp({
    env: { LOG_LEVEL: "debug", TUNELOOP_LOG_FILE: logFile, ...opts.env },
    endpoints: opts.endpoints,
    trainer: opts.trainer,
    answers: opts.answers,
  });
  const settings = slackSettings({
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    PORT: "0",
    ...(opts.socket ? { SLACK_APP_TOKEN: APP_TOKEN } : {}),
  });
  if (!settings) throw new Error("no settings");
  const slack = await startSlack(app, { ...settings, outboxIntervalMs: opts.outboxIntervalMs ?? 20 });
  const events = `http://127.0.0.1:${slack.port}/slack/events`;
  return {
    app,
    fake,
    slack,
    events,
    logFile,
    async slash(text, p) {
      const responseUrl = fake.responseUrl();
      const body = slashCommandBody({
        text,
        userId: p.user,
        userName: p.userName ?? opts.fake?.users?.[p.user]?.name,
        channelId: p.channel,
        responseUrl,
        triggerId: p.triggerId,
      });
      const r = await postSigned(events, SIGNING_SECRET, body, p);
      return { status: r.status, ms: r.ms, responseUrl };
    },
    async event(ev, o = {}) {
      const env = eventEnvelope(ev, o.eventId);
      const r = await postSigned(events, SIGNING_SECRET, JSON.stringify(env), {
        ...o,
        contentType: "application/json",
      });
      return { status: r.status, eventId: String(env.event_id) };
    },
    async press(message, actionId, p) {
      const responseUrl = fake.responseUrl();
      const body = blockActionBody({
        userId: p.user,
        userName: opts.fake?.users?.[p.user]?.name,
        channelId: p.channel,
        message,
        actionId,
        responseUrl,
      });
      const r = await postSigned(events, SIGNING_SECRET, body);
      return { status: r.status, responseUrl };
    },
    async close() {
      await slack.stop();
      await app.close();
      await fake.close();
    },
  };
}

/** All text of Block Kit blocks (sections, fields, context, headers, buttons), for assertions. */
export function blocksText(blocks: unknown): string {
  const out: string[] = [];
  const walk = (x: unknown) => {
    if (Array.isArray(x)) for (const y of x) walk(y);
    else if (x && typeof x === "object") {
      for (const [k, v] of Object.entries(x)) {
        if ((k === "text" || k === "value") && typeof v === "string") out.push(v);
        else walk(v);
      }
    }
  };
  walk(blocks);
  return out.join("\n");
}

export function responsesTo(fake: FakeSlack, responseUrl: string) {
  const id = new URL(responseUrl).pathname;
  return fake.responses.filter((r) => r.id === id);
}

/** The first post to a response_url (waits for it). */
export async function firstResponse(h: Harness, responseUrl: string, what = "response_url post") {
  const list = await waitFor(what, () => {
    const r = responsesTo(h.fake, responseUrl);
    return r.length ? r : null;
  });
  return list[0];
}
