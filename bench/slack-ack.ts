/**
 * Slack ack latency: how long Slack waits for the HTTP 200 of a `/tune` slash command, measured at the client
 * (request sent -> response received), through Bolt's HTTPReceiver with signed requests, at 20 concurrent commands:
 * bursts of 20 people sending a command at the same moment (a mix of help, lists), the next burst once the 20
 * answers have arrived.
 * First with the bot idle (the baseline), then while a 25,000-row dataset dropped into a channel is downloaded
 * and ingested. Slack gives up after 3 s; the target is p99 < 100 ms while ingesting.
 *
 * The bot runs in a child process, as in production; Slack's side (the fake Web API answering the bot's posts, and
 * the client sending the commands) runs in this one, on the same machine, so they compete for the CPU. The
 * per-channel outbox interval is 0 here: 20 commands every few milliseconds would otherwise queue posts for
 * minutes (pacing is timers, it does not touch the ack path).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { slackSettings, startSlack } from "../src/adapters/slack/index.ts";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import {
  eventEnvelope,
  fileShareEvent,
  postSigned,
  slackSignature,
  slashCommandBody,
  startFakeSlack,
} from "../test/fakes/slack.ts";
import { writeChatDataset } from "./generate.ts";

const BOT_TOKEN = "xoxb-1-2-benchbenchbench";
const SECRET = "benchsigningsecret0123456789abcd";
const COMMANDS = ["help", "dataset list", "run list", "experiment list", "help dataset"];

function percentile(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
}

export interface SlackAckFigures {
  idle: { p50: number; p99: number; n: number };
  ingesting: { p50: number; p99: number; n: number; rounds: number; ingestMs: number; rows: number };
  pass: boolean;
}

/** The bot's side, in its own process (as in production): the app and startSlack, on the given fake Web API. */
async function runBot(apiUrl: string, dataDir: string): Promise<void> {
  const config = loadConfig({ TUNELOOP_DATA: dataDir, LOG_LEVEL: "silent" });
  const app = createApp(config, createLogger(config));
  const settings = slackSettings({
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: apiUrl,
    PORT: "0",
  });
  if (!settings) throw new Error("no Slack settings");
  const slack = await startSlack(app, { ...settings, outboxIntervalMs: 0 });
  await app.ingest.warm();
  process.stdout.write(`${JSON.stringify({ port: slack.port })}\n`);
  // Runs until the parent closes stdin.
  process.stdin.resume();
  await new Promise((r) => process.stdin.on("end", r));
  await slack.stop();
  await app.close();
}

export async function benchSlackAck(
  opts: { concurrency?: number; rows?: number; idleRounds?: number } = {},
): Promise<SlackAckFigures> {
  const concurrency = opts.concurrency ?? 20;
  const rows = opts.rows ?? 25_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-slack-"));
  // Slack's side (the fake Web API and the client sending commands) here; the bot in a child process.
  const fake = await startFakeSlack({ botToken: BOT_TOKEN });
  const bot = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(import.meta.url), "--bot", fake.apiUrl, path.join(dir, "data")],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    bot.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve((JSON.parse(buf.slice(0, nl)) as { port: number }).port);
    });
    bot.on("exit", (code) => reject(new Error(`bot exited (${code})`)));
  });
  const url = `http://127.0.0.1:${port}/slack/events`;
  let seq = 0;
  // Signed as Slack signs; node:http with keep-alive (cheaper for this process than fetch, which shares the CPU).
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (body: string) =>
    new Promise<{ status: number; ms: number }>((resolve, reject) => {
      const ts = Math.floor(Date.now() / 1000);
      const t0 = performance.now();
      const req = http.request(
        url,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "content-length": Buffer.byteLength(body),
            "x-slack-request-timestamp": String(ts),
            "x-slack-signature": slackSignature(SECRET, ts, body),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  // Every command answers once: privately (response_url) or as a message in its channel.
  const answered = () =>
    fake.responses.length +
    fake.messages.filter((m) => m.channel.startsWith("C0BENCH") && m.channel !== "C0BENCHUP").length;
  const burstMs: number[] = [];
  /** One burst: `concurrency` people send /tune at the same moment; returns the acks' latencies once all answered. */
  const round = async (): Promise<number[]> => {
    const t0 = performance.now();
    const acks = await fire();
    const expected = seq;
    while (answered() < expected) await new Promise((r) => setTimeout(r, 2));
    burstMs.push(performance.now() - t0);
    return acks;
  };
  const fire = async (): Promise<number[]> =>
    Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        const n = seq++;
        const body = slashCommandBody({
          text: COMMANDS[n % COMMANDS.length],
          userId: `U0BENCH${String(i).padStart(2, "0")}`,
          channelId: `C0BENCH${String(i).padStart(2, "0")}`,
          responseUrl: fake.responseUrl(),
          triggerId: `bench.${n}.${process.pid}`,
        });
        const r = await post(body);
        if (r.status !== 200) throw new Error(`ack status ${r.status}`);
        return r.ms;
      }),
    );

  try {
    // Warm-up (first requests pay for lazy initialisation), then the idle baseline.
    for (let i = 0; i < 3; i++) await round();
    const idle: number[] = [];
    for (let i = 0; i < (opts.idleRounds ?? 25); i++) idle.push(...(await round()));
    const idleBurst = percentile(burstMs.splice(0), 50);

    const file = path.join(dir, "chat-25k.jsonl");
    writeChatDataset(file, rows, { tokens: 300, seed: 1 });
    const f = fake.addFile({ name: "bench-25k.jsonl", content: fs.readFileSync(file), user: "U0BENCH00" });
    const ev = fileShareEvent(fake, f, { channel: "C0BENCHUP", user: "U0BENCH00" });
    const t0 = performance.now();
    await postSigned(url, SECRET, JSON.stringify(eventEnvelope(ev)), { contentType: "application/json" });
    const done = () =>
      fake.messages.some(
        (m) => m.thread_ts === ev.ts && /Stored bench-25k|bench-25k@v1/.test(JSON.stringify(m.blocks)),
      );
    // Measure from the moment the download is under way until the report is posted.
    while (!fake.downloads.length) await new Promise((r) => setTimeout(r, 2));
    const busy: number[] = [];
    let rounds = 0;
    while (!done()) {
      busy.push(...(await round()));
      rounds++;
      if (performance.now() - t0 > 300_000) throw new Error("ingest did not finish in 5 minutes");
    }
    const ingestMs = performance.now() - t0;
    const busyBurst = percentile(burstMs, 50);
    const figures: SlackAckFigures = {
      idle: { p50: percentile(idle, 50), p99: percentile(idle, 99), n: idle.length },
      ingesting: { p50: percentile(busy, 50), p99: percentile(busy, 99), n: busy.length, rounds, ingestMs, rows },
      pass: busy.length > 0 && percentile(busy, 99) < 100,
    };
    const fmt = (x: number) => x.toFixed(1);
    console.log(`\n## Slack /tune ack latency: ${concurrency} concurrent signed commands through the HTTP receiver`);
    console.log(
      `idle (baseline)                                   p50 ${fmt(figures.idle.p50)} ms, p99 ${fmt(figures.idle.p99)} ms (${figures.idle.n} commands; a burst answered in ${fmt(idleBurst)} ms)`,
    );
    console.log(
      `while a ${rows.toLocaleString("en-US")}-row dataset ingests (${(ingestMs / 1000).toFixed(1)} s)   p50 ${fmt(figures.ingesting.p50)} ms, p99 ${fmt(figures.ingesting.p99)} ms (${busy.length} commands in ${rounds} bursts, answered in ${fmt(busyBurst)} ms)   ratio p99 ${(figures.ingesting.p99 / Math.max(0.1, figures.idle.p99)).toFixed(2)}x   target p99 < 100 ms  ${figures.pass ? "PASS" : "FAIL"}`,
    );
    return figures;
  } finally {
    agent.destroy();
    bot.stdin.end();
    await new Promise((r) => bot.once("exit", r));
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--bot") await runBot(process.argv[3], process.argv[4]);
else if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await benchSlackAck();
