/**
 * Stand-alone evals as jobs on Postgres (docs/scale.md): `/tune eval` typed on a chat replica is answered by a worker
 * process that serves the model, and its progress and card come back to the command; when the replica and the worker
 * answering die (SIGKILL) mid-eval, another worker takes the job over from the stored rows (nothing asked or booked
 * twice, the budget kept) and a surviving chat replica posts the card in the channel, once; `experiment reeval`
 * queues one job per model. The chat replica in (a) and (c) has no route to the endpoint (like a replica beside a
 * GPU box): only a worker can answer.
 * Runs on the Postgres pass (`npm run test:pg`, .ci/run); skipped elsewhere.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { after, test } from "node:test";
import pg from "pg";
import { runCommand } from "../../commands/dispatch.ts";
import { ChatKernel } from "../../src/chat/kernel.ts";
import type { ChatAdapter } from "../../src/chat/types.ts";
import type { Card } from "../../src/core/cards.ts";
import { startScale } from "../../src/scale/index.ts";
import { ctxFor, engineApp, fakeEndpoint, seedExperiment } from "../engine/engine-helpers.ts";
import { actualUsd, billedUsd, type PricedExperiment, pricedExperiment, until } from "../engine/money-helpers.ts";
import { repoRoot } from "../helpers.ts";
import { engineDatabaseEnv } from "./cluster.ts";
import { startWorker } from "./workers.ts";

const pass = process.env.TUNELOOP_TEST_DATABASE_URL;
const skip = pass ? false : "runs in npm run test:pg (a Postgres cluster for the engine tests)";

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});
const worker = async (dataDir: string, env: Record<string, string>) => {
  const w = await startWorker(dataDir, env);
  children.push(w);
  return w;
};
const killed = (c: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once("exit", () => resolve());
    c.kill("SIGKILL");
  });

/** A chat replica on the test's database whose endpoint `big` is priced but unreachable: it cannot answer evals. */
async function frontReplica(x: PricedExperiment) {
  const dead = fakeEndpoint("big", "http://127.0.0.1:9/v1", { inputPer1M: x.price, outputPer1M: x.price });
  const { app } = await engineApp({ dataDir: x.dataDir, endpoints: [dead] });
  const scale = await startScale(app, { role: "chat", providers: [] });
  return { app, scale };
}

/** An experiment with a paid baseline, a front replica that cannot answer, and a worker process that can. */
async function withFront(fn: (x: PricedExperiment, front: Awaited<ReturnType<typeof frontReplica>>) => Promise<void>) {
  const x = await pricedExperiment({ budget: 1 });
  const front = await frontReplica(x);
  try {
    await worker(x.dataDir, { TUNELOOP_ENDPOINTS: x.endpointsJson });
    await fn(x, front);
  } finally {
    await front.scale.stop();
    await front.app.close();
    await x.close();
  }
}

/** A chat adapter that records what it posts (a surviving replica's chat). */
function recordingAdapter() {
  const posted: Array<{ channel: string; card: Card }> = [];
  const adapter: ChatAdapter = {
    surface: "console",
    name: "Test chat",
    async post(channel, card) {
      posted.push({ channel, card });
      return { messageId: `m${posted.length}` };
    },
    async update() {},
    async postEphemeral() {},
    mention: (id) => `<@${id}>`,
  };
  return { adapter, posted };
}

const text = (card: unknown) => JSON.stringify(card);

test("an eval typed on a chat replica is answered by a worker process; its progress and card come back to the command", {
  skip,
  timeout: 10 * 60_000,
}, async () => {
  await withFront(async (x, front) => {
    const ctx = ctxFor(front.app, "console");
    const out = await runCommand(["eval", "big:m", x.evalRef, "--experiment", "exp"], ctx);
    assert.equal(out.exitCode, 0, out.error?.message);
    assert.equal(out.card.title, `Eval of big:m on ${x.evalRef} (exact)`);
    const d = out.data as { id: number; n: number; mean: number };
    assert.equal(d.n, 20);
    const rows = await front.app.datasets.allRows(front.app.datasets.get(x.evalRef));
    assert.equal(d.mean, rows.filter((r) => r.messages?.at(-1)?.content === "red").length / rows.length);
    assert.match(ctx.lines.join("\n"), new RegExp(`eval #${d.id} of big:m queued`));
    // Answered by the worker (this replica's endpoint is unreachable), each row once, booked once.
    assert.equal(x.fake.answered.length, 20);
    const ev = front.app.engine.evalById(d.id);
    assert.equal(ev?.state, "succeeded");
    assert.ok(ev?.queuedAt, "queued as a job");
    assert.ok(ev?.repliedAt, "the command claimed its card");
    const booked = actualUsd(front.app.engine.ledger({ evalIds: [d.id] }));
    assert.ok(Math.abs(booked - billedUsd(x.fake, x.price)) < 1e-12, `${booked}`);
    assert.match(text(out.card), new RegExp(`\\$${Number(booked.toFixed(4))}`), "the card shows its cost");
  });
});

test("the replica and the worker answering are killed mid-eval: another worker finishes it from the stored rows, nothing is booked twice, the budget holds, and a surviving replica posts the card once", {
  skip,
  timeout: 10 * 60_000,
}, async () => {
  let holding = true;
  let release: () => void = () => {};
  const held = new Promise<void>((r) => (release = r));
  after(() => release());
  const BUDGET = 0.05;
  // Eight answers, then the endpoint holds every request (4 at once) until the processes asking are dead.
  const x = await pricedExperiment({
    runUsd: 0.001,
    budget: BUDGET,
    fake: { before: (n) => (holding && n > 8 ? held.then(() => ({ status: 503 })) : undefined) },
  });
  const lease = { TUNELOOP_EVAL_LEASE_S: "2" };
  // Two surviving chat replicas (this process): each hears the eval end, one posts its card.
  const survivors = await Promise.all(
    [1, 2].map(async () => {
      const { app } = await engineApp({ dataDir: x.dataDir, endpoints: [] });
      const rec = recordingAdapter();
      const detach = new ChatKernel(app, rec.adapter).attach();
      const scale = await startScale(app, { role: "chat", providers: [], sweepMs: 500 });
      return { app, rec, detach, scale };
    }),
  );
  try {
    const w1 = await worker(x.dataDir, { TUNELOOP_ENDPOINTS: x.endpointsJson, ...lease });
    const replica = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(repoRoot, "test", "pg", "eval-command-child.ts"),
        x.dataDir,
        engineDatabaseEnv(x.dataDir).TUNELOOP_DATABASE_URL,
        "eval",
        "big:m",
        x.evalRef,
        "--experiment",
        "exp",
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, TUNELOOP_ENDPOINTS: x.endpointsJson, ...lease },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(replica);
    let said = "";
    replica.stdout?.on("data", (d) => (said += d));
    replica.stderr?.on("data", (d) => (said += d));
    const app = x.app;
    const expId = app.experiments.get("exp").id;
    await until(
      "eight rows stored by the worker and four more requests held",
      () => {
        const e = app.engine.evals({ experimentId: expId })[0];
        return e !== undefined && app.engine.evalRows(e.id).length === 8 && x.fake.requests.length >= 12;
      },
      180_000,
    ).catch((err) => {
      throw new Error(`${err.message}; the replica said: ${said.slice(-2000)}`);
    });
    const ev = app.engine.evals({ experimentId: expId })[0];
    assert.ok(ev.queuedAt, "the eval was queued as a job");
    assert.equal(ev.replyChannelId, "c-eval");
    await Promise.all([killed(replica), killed(w1)]);
    assert.doesNotMatch(said, /"exitCode"/, "the replica died before its command ended");
    assert.equal(x.fake.answered.length, 8);
    const bookedBefore = actualUsd(app.engine.ledger({ evalIds: [ev.id] }));
    assert.ok(Math.abs(bookedBefore - billedUsd(x.fake, x.price)) < 1e-12, "the eight answers are booked");
    holding = false;
    release();
    const askedAtKill = x.fake.requests.length;
    await worker(x.dataDir, { TUNELOOP_ENDPOINTS: x.endpointsJson, ...lease });

    const posts = () => survivors.flatMap((s) => s.rec.posted);
    await until("the eval to end and its card to be posted", () => posts().length > 0, 240_000);
    const end = app.engine.evalById(ev.id);
    assert.equal(end?.state, "succeeded", end?.error ?? "");
    assert.equal(end?.n, 20);
    // The eight answered rows were reused: only the twelve others were asked again, each row stored once.
    assert.equal(x.fake.requests.length - askedAtKill, 12);
    const rows = app.engine.evalRows(ev.id);
    assert.equal(rows.length, 20);
    assert.equal(new Set(rows.map((r) => r.rowIndex)).size, 20);
    // One ledger entry for the eval, booking exactly the tokens of its twenty rows: no request booked twice.
    const ledger = app.engine.ledger({ evalIds: [ev.id] }).filter((l) => !l.estimated);
    assert.equal(ledger.length, 1, JSON.stringify(ledger));
    assert.equal(
      ledger[0].inputTokens,
      rows.reduce((a, r) => a + r.inputTokens, 0),
    );
    assert.equal(
      ledger[0].outputTokens,
      rows.reduce((a, r) => a + r.outputTokens, 0),
    );
    assert.equal(x.fake.answered.length, 20);
    assert.ok(Math.abs(actualUsd(ledger) - billedUsd(x.fake, x.price)) < 1e-12, "booked what was billed");
    const use = app.engine.budgetUse(expId, new Date());
    assert.ok(use.spentUsd <= BUDGET + 1e-9, `spent ${use.spentUsd} of ${BUDGET}`);
    assert.deepEqual(
      use.holds.filter((h) => h.evalId === ev.id),
      [],
      "its reservation was released",
    );
    // The card, where the command was typed, once; hearing the end again posts nothing more.
    assert.equal(posts().length, 1, JSON.stringify(posts()));
    assert.equal(posts()[0].channel, "c-eval");
    assert.equal(posts()[0].card.title, `Eval of big:m on ${x.evalRef} (exact)`);
    assert.ok(app.engine.evalById(ev.id)?.repliedAt);
    for (const s of survivors) s.app.evals.events.ended(s.app.engine.evalById(ev.id)!);
    await until("both replicas to have looked again", () =>
      survivors.every((s) => s.app.engine.evalsToReply(new Date()).length === 0),
    );
    assert.equal(posts().length, 1);
  } finally {
    for (const s of survivors) {
      s.detach();
      await s.scale.stop();
      await s.app.close();
    }
    for (const c of children) await killed(c);
    await x.close();
  }
});

test("experiment reeval queues one eval job per model, answered by a worker", {
  skip,
  timeout: 10 * 60_000,
}, async () => {
  await withFront(async (x, front) => {
    await seedExperiment(front.app, { baselines: ["big:m", "big:n"], budget: 1, name: "two" });
    const out = await runCommand(["experiment", "reeval", "two"], ctxFor(front.app, "console"));
    assert.equal(out.exitCode, 0, out.error?.message);
    const data = out.data as { evals: Array<{ model: string; n: number }> };
    assert.deepEqual(data.evals.map((e) => `${e.model} ${e.n}`).sort(), ["big:m 20", "big:n 20"]);
    const evals = front.app.engine.evals({ experimentId: front.app.experiments.get("two").id });
    assert.equal(evals.length, 2);
    const db = new pg.Client({ connectionString: engineDatabaseEnv(x.dataDir).TUNELOOP_DATABASE_URL });
    await db.connect();
    try {
      const jobs = await db.query<{ name: string; eval_id: number }>(
        "SELECT name, (data->>'evalId')::int AS eval_id FROM pgboss.job WHERE name LIKE 'eval-%' ORDER BY eval_id",
      );
      assert.deepEqual(
        jobs.rows.map((j) => `${j.name} ${j.eval_id}`).sort(),
        evals.map((e) => `eval-big ${e.id}`).sort(),
        "one job per model",
      );
    } finally {
      await db.end();
    }
  });
});
