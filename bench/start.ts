/**
 * Start-up figures, each process timed from spawn to exit (or to serving), medians of interleaved runs:
 * - cli: `tuneloop help --json` and `tuneloop dataset list --json` (bin/tuneloop.mjs, the build in bin/dist) against a
 *   bare `node -e 0` measured in the same run; target within 4x.
 * - eval-e2e: `tuneloop eval` of 1,000 rows on a fake answering in 50 ms, 32 at once, from process start to exit,
 *   against the ideal rows x latency / concurrency; target within 1.5x.
 * - serving: the console chat, the Slack bot (HTTP) and the Discord bot, from spawn to their first answer (Slack:
 *   a signed request acked; Discord: READY and the "running" line; console: the answer to a command typed at once);
 *   target within 1 s.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeYesNoEval } from "./generate.ts";
import { startFakeDiscord } from "../test/fakes/discord.ts";
import { postSigned, slashCommandBody, startFakeSlack } from "../test/fakes/slack.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const CLI = path.join(root, "bin", "tuneloop.mjs");
const START = path.join(root, "bin", "start.mjs");

type Median = (xs: number[]) => number;

function baseEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TUNELOOP_DATA: dataDir, LOG_LEVEL: "warn" };
  for (const k of Object.keys(env)) if (/^(SLACK_|DISCORD_)/.test(k)) delete env[k];
  return { ...env, ...extra };
}

/** Runs a process to its exit; resolves with its wall time (ms), its stdout and its exit code. */
function timed(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { env, cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}\n${out}\n${err}`));
      else resolve({ ms, out, code });
    });
  });
}

const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL");

export async function benchCli(runs: number, median: Median) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-cli-"));
  const env = baseEnv(path.join(dir, "data"));
  try {
    // The first call builds bin/dist where it is missing or stale (as after an edit): not part of the figures.
    await timed([CLI, "help", "--json"], env);
    const shared = path.resolve(process.env.TUNELOOP_SHARED ?? path.join(root, "..", "shared"));
    const toy = path.join(shared, "datasets", "openai-cookbook", "toy_chat_fine_tuning.jsonl");
    if (fs.existsSync(toy)) await timed([CLI, "dataset", "upload", toy, "--json"], env);
    const n = Math.max(runs, 7);
    const bare: number[] = [];
    const help: number[] = [];
    const list: number[] = [];
    for (let i = 0; i < n; i++) {
      bare.push((await timed(["-e", "0"], env)).ms);
      help.push((await timed([CLI, "help", "--json"], env)).ms);
      list.push((await timed([CLI, "dataset", "list", "--json"], env)).ms);
    }
    const b = median(bare);
    console.log(`\n## CLI start: process start to exit (median of ${n}, interleaved)`);
    console.log(`baseline: node -e 0                        ${b.toFixed(0)} ms`);
    for (const [label, xs] of [
      ["tuneloop help --json", help],
      ["tuneloop dataset list --json", list],
    ] as const) {
      const r = median(xs) / b;
      console.log(
        `${label.padEnd(42)} ${median(xs).toFixed(0)} ms   ratio ${r.toFixed(2)}x   target <= 4x  ${verdict(r <= 4)}`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ROWS = 1000;
const LATENCY = 50;
const CONCURRENCY = 32;

export async function benchEvalE2e(runs: number, median: Median) {
  const fakeChild = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./fake-endpoint-child.ts", import.meta.url)), String(LATENCY)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const baseUrl = await new Promise<string>((resolve) => {
    let buf = "";
    fakeChild.stdout.on("data", function onData(d) {
      buf += d;
      const i = buf.indexOf("\n");
      if (i < 0) return;
      fakeChild.stdout.off("data", onData);
      resolve(buf.slice(0, i));
    });
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-e2e-"));
  try {
    const file = path.join(dir, "eval.jsonl");
    writeYesNoEval(file, ROWS);
    const endpoints = JSON.stringify({
      fake: { baseUrl, concurrency: CONCURRENCY, prices: { "*": { inputPer1M: 0.5, outputPer1M: 1.5 } } },
    });
    const env = baseEnv(path.join(dir, "data"), { TUNELOOP_ENDPOINTS: endpoints });
    await timed([CLI, "dataset", "upload", file, "bench-eval", "--json"], env);
    const walls: number[] = [];
    let rows = 0;
    for (let i = 0; i < runs; i++) {
      const r = await timed([CLI, "eval", "fake:bench", "bench-eval", "--json"], env);
      walls.push(r.ms);
      rows = (JSON.parse(r.out) as { eval?: { n?: number }; n?: number }).eval?.n ?? rows;
    }
    const ideal = (ROWS * LATENCY) / CONCURRENCY;
    const wall = median(walls);
    const ratio = wall / ideal;
    console.log(
      `\n## Eval end to end: \`tuneloop eval\` of ${ROWS} rows, fake ${LATENCY} ms/request, ${CONCURRENCY} at once, process start to exit (median of ${runs})`,
    );
    console.log(`ideal (rows x latency / concurrency)       ${ideal.toFixed(0)} ms`);
    console.log(
      `tuneloop eval ... --json                   ${wall.toFixed(0)} ms   ratio ${ratio.toFixed(2)}x   target <= 1.5x  ${verdict(ratio <= 1.5)}`,
    );
    console.log(`  (each run: ${walls.map((w) => w.toFixed(0)).join(", ")} ms${rows ? `; ${rows} rows graded` : ""})`);
  } finally {
    fakeChild.stdin?.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Spawns the bot; resolves once `ready(stdout)` holds, with the ms since spawn. */
function startBot(env: NodeJS.ProcessEnv, input?: string) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [START], { env, cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  if (input !== undefined) child.stdin.write(input);
  const exited = new Promise<void>((r) => child.on("close", () => r()));
  const until = (what: string, ok: (out: string) => boolean, ms = 60_000) =>
    new Promise<number>((resolve, reject) => {
      const check = () => {
        if (ok(out)) return finish(() => resolve(performance.now() - t0));
        if (child.exitCode !== null || performance.now() - t0 > ms)
          return finish(() => reject(new Error(`no ${what}\n--- out ---\n${out}\n--- err ---\n${err}`)));
      };
      const finish = (f: () => void) => {
        child.stdout.off("data", check);
        clearInterval(timer);
        f();
      };
      const timer = setInterval(check, 250);
      child.stdout.on("data", check);
      check();
    });
  return { child, until, exited, output: () => out, since: () => performance.now() - t0 };
}

async function stop(child: ChildProcess, exited: Promise<void>) {
  if (child.exitCode === null) child.kill("SIGINT");
  await exited;
}

export async function benchServing(runs: number, median: Median) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-serve-"));
  const slackFake = await startFakeSlack({ botToken: "xoxb-1234567890-0987654321-FAKEbotTOKENvalue" });
  const discordFake = await startFakeDiscord();
  const secret = "8f742231b10e8888abcd99yyyzzz85a5";
  try {
    const consoleMs: number[] = [];
    const slackMs: number[] = [];
    const discordMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      // Console: a command typed before the prompt shows is answered.
      const c = startBot(baseEnv(path.join(dir, `console-${i}`)), "/tune dataset list\n");
      consoleMs.push(await c.until("console answer", (o) => /tuneloop · m1/.test(o)));
      c.child.stdin?.end();
      await stop(c.child, c.exited);

      // Slack over HTTP: listening, then a signed slash command acked.
      const s = startBot(
        baseEnv(path.join(dir, `slack-${i}`), {
          SLACK_BOT_TOKEN: "xoxb-1234567890-0987654321-FAKEbotTOKENvalue",
          SLACK_SIGNING_SECRET: secret,
          SLACK_API_URL: slackFake.apiUrl,
          PORT: "0",
        }),
      );
      await s.until("slack running line", (o) => /running on slack.*port \d+/i.test(o));
      const port = /port (\d+)/.exec(s.output())?.[1];
      const body = slashCommandBody({
        text: "help",
        userId: "U0ALICE01",
        channelId: "C0GENERAL1",
        responseUrl: slackFake.responseUrl(),
      });
      const ack = await postSigned(`http://127.0.0.1:${port}/slack/events`, secret, body);
      if (ack.status !== 200) throw new Error(`slack ack ${ack.status}: ${ack.text}`);
      slackMs.push(s.since());
      await stop(s.child, s.exited);

      // Discord: logged in through the gateway (READY) and saying it runs.
      const d = startBot(
        baseEnv(path.join(dir, `discord-${i}`), {
          DISCORD_TOKEN: discordFake.token,
          DISCORD_APPLICATION_ID: discordFake.applicationId,
          DISCORD_GUILD_ID: discordFake.guildId,
          DISCORD_API_URL: discordFake.apiUrl,
        }),
      );
      discordMs.push(await d.until("discord running line", (o) => /running on discord/i.test(o)));
      await stop(d.child, d.exited);
    }
    console.log(`\n## Serving: spawn of \`npm start\`'s program to its first answer (median of ${runs})`);
    for (const [label, xs] of [
      ["console chat (a command typed at once)", consoleMs],
      ["Slack, HTTP (a signed /tune help acked)", slackMs],
      ["Discord (READY, running)", discordMs],
    ] as const) {
      const m = median(xs);
      console.log(
        `${label.padEnd(42)} ${m.toFixed(0)} ms   target <= 1000 ms  ${verdict(m <= 1000)}   (${xs.map((x) => x.toFixed(0)).join(", ")})`,
      );
    }
  } finally {
    await slackFake.close();
    await discordFake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
