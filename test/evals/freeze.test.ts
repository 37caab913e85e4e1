/**
 * Nothing a user types can freeze the bot: a regex grader that backtracks catastrophically on the answers runs off
 * the bot's thread with a deadline, so `/tune help` is answered while such an eval runs. The bot is a process of its
 * own (bot-child.ts), so a blocked thread shows as a late answer, as it would in chat.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { startFakeOpenAI } from "../fakes/openai-compatible.ts";
import { repoRoot, testEnv, tmpDir } from "../helpers.ts";

interface Reply {
  id: number;
  exitCode: number;
  data: Record<string, unknown>;
  card: { title: string; blocks: unknown[] };
  ms: number;
}

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

/** Starts the bot process; `call` sends a command and resolves with its reply. */
async function startBot(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "test", "evals", "bot-child.ts")], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(child);
  const waiting = new Map<number, (r: Reply) => void>();
  let nextId = 1;
  await new Promise<void>((resolve, reject) => {
    child.on("message", (m: Reply | { ready: true }) => {
      if ("ready" in m) return resolve();
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
    });
    child.on("exit", (code) => reject(new Error(`bot exited early (${code})`)));
  });
  return {
    call(words: string[]): Promise<Reply> {
      const id = nextId++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        child.send({ id, words });
      });
    },
    quit: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || !child.connected) return resolve();
        child.once("exit", () => resolve());
        child.send({ quit: true });
      }),
  };
}

test("a catastrophic regex grader: /tune help is answered while the eval runs; the row fails with the reason", async (t) => {
  // ^(a+)+$ against 28 a's and a b: ~2^28 backtracking steps, many seconds on one thread.
  const answer = `${"a".repeat(28)}b`;
  let answered: () => void = () => {};
  const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
  const fake = await startFakeOpenAI({ answer: () => answer, onAnswered: () => answered() });
  const data = tmpDir("freeze");
  const file = path.join(data, "long-eval.jsonl");
  fs.writeFileSync(
    file,
    `${JSON.stringify({
      messages: [
        { role: "user", content: "Say a long line of a's." },
        { role: "assistant", content: "aaaa" },
      ],
    })}\n`,
  );
  const bot = await startBot(
    testEnv(data, {
      TUNELOOP_ENDPOINTS: JSON.stringify({
        fake: { baseUrl: fake.baseUrl, maxRetries: 0, prices: { "*": { inputPer1M: 1, outputPer1M: 1 } } },
      }),
      // generous: the eval must still be grading when help is asked, even on a loaded machine
      TUNELOOP_GRADER_TIMEOUT_MS: "3000",
    }),
  );
  try {
    const up = await bot.call(["dataset", "upload", "--file", file, "--name", "long-eval"]);
    assert.equal(up.exitCode, 0, JSON.stringify(up.data));

    const order: string[] = [];
    const evalDone = bot.call(["eval", "fake:m", "long-eval", "--graders", "regex:^(a+)+$"]).then((r) => {
      order.push("eval");
      return r;
    });
    await firstAnswer; // the answer is on its way to the bot: grading starts as it arrives
    const asked = performance.now();
    const help = await bot.call(["help"]);
    const helpMs = performance.now() - asked;
    order.push("help");
    assert.equal(help.exitCode, 0);
    assert.match(help.card.title, /tuneloop commands/);

    const ev = await evalDone;
    // The order is the proof (the grading holds the eval for its 3 s deadline); a time bound on help would only
    // measure how busy the machine is.
    assert.deepEqual(order, ["help", "eval"], "help is answered before the eval ends");
    t.diagnostic(`help answered in ${Math.round(helpMs)} ms while the regex was graded`);
    assert.equal(ev.exitCode, 0, JSON.stringify(ev.data));
    assert.equal(ev.data.mean, 0, "the row whose grading timed out counts as a fail");
    assert.deepEqual(ev.data.flags, { gradeTimeouts: 1 });
    const shown = JSON.stringify(ev.card);
    assert.match(shown, /1 of 1 answer\(s\) could not be graded within the grader's time limit/);
    await bot.quit();
    // the row says why it failed
    const config = loadConfig({ TUNELOOP_DATA: data, LOG_LEVEL: "silent" });
    const app = createApp(config, createLogger(config));
    try {
      const [row] = app.engine.evalRows(ev.data.id as number);
      assert.equal(row.pass, false);
      assert.match(row.detail ?? "", /^grading timed out after 3000 ms: \/\^\(a\+\)\+\$\/ backtracks too much/);
    } finally {
      await app.close();
    }
  } finally {
    await bot.quit();
    await fake.close();
  }
});
