/**
 * A run's thread posts (its state sentences, progress lines and verdict card) reach the run's thread once across
 * every chat replica, whoever runs the run: each replica hears the run's changes (LISTEN/NOTIFY) and keeps the card
 * current, but a thread message is posted by the one process that claims it (docs/scale.md). A chat replica that is
 * gone does not lose the verdict: another posts it.
 * Three chat replicas share one chat (as replicas behind Slack's HTTP endpoint share one workspace).
 * Needs Postgres: the Postgres pass hands one in; alone, a throwaway cluster is started (or the tests skip, saying why).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { ChatKernel } from "../../src/chat/kernel.ts";
import type { Card } from "../../src/core/cards.ts";
import type { RunRecord } from "../../src/core/ports.ts";
import type { TrainJob } from "../../src/core/trainer.ts";
import { startScale } from "../../src/scale/index.ts";
import { ctxFor, engineApp, seedExperiment } from "../engine/engine-helpers.ts";
import { until } from "../engine/money-helpers.ts";
import { MemoryChat } from "../fakes/memory-chat.ts";
import { FakeTrainer } from "../fakes/providers.ts";
import { tmpDir } from "../helpers.ts";
import { pgCluster, pgDatabase } from "./cluster.ts";

const cluster = pgCluster();
const skip = cluster.url ? false : cluster.why;

const DEADLINE_MS = 180_000;

/** A fake trainer that holds its run in `running` until `open()`: the test decides when the run goes on. */
class GatedTrainer extends FakeTrainer {
  open: () => void = () => {};
  private readonly gate = new Promise<void>((r) => (this.open = r));
  override async train(job: TrainJob) {
    await this.gate;
    return super.train(job);
  }
}

/** What a thread message says: a card's title, else its first line. */
const said = (card: Card) => card.title ?? (card.blocks[0] as { text?: string } | undefined)?.text ?? "";

/** A chat replica: an app on the shared database and chat, its kernel attached (the run notifier) and its scale. */
async function chatReplica(dataDir: string, env: Record<string, string>, chat: MemoryChat, opts: { runs: boolean }) {
  const trainer = new GatedTrainer({ steps: 8, stepMs: 20 });
  const { app } = await engineApp({ dataDir, env, trainer });
  const detach = new ChatKernel(app, chat).attach();
  const scale = await startScale(app, { role: "chat", ...(opts.runs ? {} : { providers: [] }) });
  // What this replica heard of the run (listening after the notifier: a verdict's listeners are awaited in order,
  // so once this one heard the verdict, this replica's notifier has posted it or let it be).
  const heard: string[] = [];
  let runId = -1;
  app.runs.events.listen({
    onRun: (r, event) => void (r.id === runId && event === "state" && heard.push(`state ${r.state}`)),
    onVerdict: (r) => void (r.id === runId && heard.push("verdict")),
  });
  let stopped = false;
  return {
    app,
    trainer,
    heard,
    watch(id: number) {
      runId = id;
    },
    get stopped() {
      return stopped;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      detach();
      await scale.stop();
      await app.close();
    },
  };
}

/** Starts a run on `app` from chat: its card is posted in the shared chat and becomes the run's message. */
async function startRun(app: Awaited<ReturnType<typeof engineApp>>["app"], train: string, chat: MemoryChat) {
  const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes"], ctxFor(app, "console"));
  assert.equal(out.exitCode, 0, out.error?.message);
  const { messageId } = await chat.post("c1", out.card);
  out.onPosted?.({ channelId: "c1", messageId });
  const run = app.engine.listRuns({ experimentId: app.experiments.get("exp").id })[0] as RunRecord;
  return { id: run.id, messageId };
}

/** Every message of the run's thread, with how often each was said. */
function threadOf(chat: MemoryChat, messageId: string) {
  const lines = chat.thread(messageId).map((m) => said(m.card));
  const count = (s: string) => lines.filter((l) => l === s).length;
  return { lines, count };
}

/**
 * The run's thread once every live replica heard the run's verdict and end (a replica's verdict listeners are awaited
 * in order: its notifier has posted the verdict or let it be) and the verdict and last state line are there.
 */
async function threadWhenEnded(
  live: Array<{ heard: string[] }>,
  chat: MemoryChat,
  run: { id: number; messageId: string },
) {
  await until(
    "the live replicas to hear the verdict and the run's end",
    () => live.every((r) => r.heard.includes("verdict") && r.heard.includes("state succeeded")),
    DEADLINE_MS,
  );
  const t = () => threadOf(chat, run.messageId);
  await until(
    "the verdict and the last state line in the thread",
    () => t().count(`Verdict for run ${run.id}`) >= 1 && t().count(`Run ${run.id} succeeded.`) >= 1,
    DEADLINE_MS,
  );
  return t();
}

/** Each thread line once; training progress at most once per quarter of training. */
function assertOnce(lines: string[], id: number) {
  const twice = lines.filter((l, i) => lines.indexOf(l) !== i);
  assert.deepEqual(twice, [], `said more than once in run ${id}'s thread:\n${lines.join("\n")}`);
  const quarters = lines
    .map((l) => /^training: (\d+)\/(\d+) steps/.exec(l))
    .filter((m) => m !== null)
    .map((m) => Math.floor((Number(m[1]) / Number(m[2])) * 4));
  assert.equal(new Set(quarters).size, quarters.length, `a quarter's progress twice:\n${lines.join("\n")}`);
}

/**
 * A run on a worker process (no chat) heard by `n` chat replicas; `gone` of them stop while it trains. Returns the
 * run's thread once every live replica heard its verdict and end.
 */
async function runOnWorker(opts: { replicas: number; gone: number; hypothesis?: string }) {
  const url = await pgDatabase(cluster.url!, `relay-worker-${process.pid}-${Date.now()}`);
  const dataDir = tmpDir("relay");
  const env = { TUNELOOP_DATABASE_URL: url };
  const chat = new MemoryChat();
  const replicas: Array<Awaited<ReturnType<typeof chatReplica>>> = [];
  for (let i = 0; i < opts.replicas; i++) replicas.push(await chatReplica(dataDir, env, chat, { runs: false }));
  const trainer = new GatedTrainer({ steps: 8, stepMs: 150 });
  const { app: box } = await engineApp({ dataDir, env, trainer });
  let worker: Awaited<ReturnType<typeof startScale>> | undefined;
  try {
    const { train } = await seedExperiment(replicas[0].app, { rows: 40 });
    if (opts.hypothesis)
      replicas[0].app.experiments.addHypothesis({ experiment: "exp", text: opts.hypothesis, expectPts: 5, user: "t" });
    const run = await startRun(replicas[0].app, train, chat);
    for (const r of replicas) r.watch(run.id);
    worker = await startScale(box, { role: "worker" });
    await until(
      "every replica to hear the run start on the worker",
      () => replicas.every((r) => r.heard.includes("state running")),
      DEADLINE_MS,
    );
    // Replicas go away while the run trains: the verdict must not be lost with them.
    for (const r of replicas.slice(opts.replicas - opts.gone)) await r.stop();
    trainer.open();
    const thread = await threadWhenEnded(
      replicas.filter((r) => !r.stopped),
      chat,
      run,
    );
    return { run, chat, ...thread };
  } finally {
    trainer.open();
    await worker?.stop();
    await box.close();
    for (const r of replicas) await r.stop();
  }
}

test("a run on a worker: its verdict and each state line appear once in its thread with three chat replicas, also when one replica is gone", {
  skip,
  timeout: 10 * 60_000,
}, async () => {
  const { run, chat, lines, count } = await runOnWorker({ replicas: 3, gone: 1 });
  assert.equal(count(`Verdict for run ${run.id}`), 1, lines.join("\n"));
  assert.equal(count(`Run ${run.id} succeeded.`), 1, lines.join("\n"));
  assert.equal(count(`Run ${run.id} started.`), 1, lines.join("\n"));
  assertOnce(lines, run.id);
  // The card itself was kept current (edits stay per replica): it shows the run's end.
  assert.match(JSON.stringify(chat.get(run.messageId)?.card), /succeeded/);
});

test("a verdict too large to tell over NOTIFY is read back by the replicas and posted once", {
  skip,
  timeout: 10 * 60_000,
}, async () => {
  // A long hypothesis: the verdict that decides it is far over NOTIFY's 8000 bytes.
  const hypothesis = `answers name the colour of the item: ${"the tuned model learns the house colours. ".repeat(250)}`;
  const { run, chat, lines, count } = await runOnWorker({ replicas: 2, gone: 0, hypothesis });
  assert.equal(count(`Verdict for run ${run.id}`), 1, lines.join("\n"));
  assertOnce(lines, run.id);
  const verdict = chat.thread(run.messageId).find((m) => m.card.title === `Verdict for run ${run.id}`);
  assert.ok(JSON.stringify(verdict?.card).includes(hypothesis.slice(0, 200)), "the verdict decides the hypothesis");
});

test("a run on one of three chat replicas: the other two add nothing to its thread", {
  skip,
  timeout: 10 * 60_000,
}, async () => {
  const url = await pgDatabase(cluster.url!, `relay-chat-${process.pid}-${Date.now()}`);
  const dataDir = tmpDir("relay");
  const env = { TUNELOOP_DATABASE_URL: url };
  const chat = new MemoryChat();
  const replicas = [
    await chatReplica(dataDir, env, chat, { runs: true }),
    await chatReplica(dataDir, env, chat, { runs: false }),
    await chatReplica(dataDir, env, chat, { runs: false }),
  ];
  try {
    const { train } = await seedExperiment(replicas[0].app, { rows: 40 });
    const run = await startRun(replicas[0].app, train, chat);
    for (const r of replicas) r.watch(run.id);
    await until(
      "every replica to hear the run start",
      () => replicas.every((r) => r.heard.includes("state running")),
      DEADLINE_MS,
    );
    replicas[0].trainer.open();
    const { lines, count } = await threadWhenEnded(replicas, chat, run);
    assert.equal(count(`Verdict for run ${run.id}`), 1, lines.join("\n"));
    assert.equal(count(`Run ${run.id} succeeded.`), 1, lines.join("\n"));
    assertOnce(lines, run.id);
  } finally {
    for (const r of replicas) r.trainer.open();
    for (const r of replicas) await r.stop();
  }
});
