/**
 * How replicas and workers on one Postgres database hear of each other's work: a queued run wakes an idle worker at
 * once (not at its next poll of the queue), and a run change told by one replica reaches the others without being
 * told back (each replica echoing the others' changes kept every process busy for ever).
 * Needs Postgres: the Postgres pass hands one in; alone, a throwaway cluster is started (or the tests skip, saying why).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { runCommand } from "../../commands/dispatch.ts";
import { notifyRun, RUN_CHANNEL } from "../../db/pg/scale.ts";
import type { RunRecord } from "../../src/core/ports.ts";
import { startScale } from "../../src/scale/index.ts";
import { ctxFor, engineApp, seedExperiment } from "../engine/engine-helpers.ts";
import { tmpDir } from "../helpers.ts";
import { pgCluster, pgDatabase } from "./cluster.ts";

const cluster = pgCluster();
const skip = cluster.url ? false : cluster.why;

const until = async (what: string, ok: () => boolean, ms = 120_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

async function startRuns(app: Awaited<ReturnType<typeof engineApp>>["app"], train: string, n: number, tag: string) {
  for (let i = 0; i < n; i++) {
    const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--seed", String(i + 1)], {
      ...ctxFor(app, "console"),
      requestId: `${tag}-${i}`,
    });
    assert.equal(out.exitCode, 0, out.error?.message);
  }
}

test("runs queued on a chat replica wake an idle worker at once, and it takes the next as soon as one ends", {
  skip,
}, async () => {
  const url = await pgDatabase(cluster.url!, `wake-${process.pid}-${Date.now()}`);
  const dataDir = tmpDir("wake");
  const env = { TUNELOOP_DATABASE_URL: url };
  const { app: chat } = await engineApp({ dataDir, env });
  const { app: box } = await engineApp({ dataDir, env });
  const { train } = await seedExperiment(chat, { rows: 40 });
  const front = await startScale(chat, { role: "chat", providers: [] });
  // The worker looks at the queue on its own once an hour: only being woken gets these runs going in this test.
  const worker = await startScale(box, { role: "worker", queue: { pollS: 3600 } });
  try {
    await startRuns(chat, train, 3, "wake");
    const expId = chat.experiments.get("exp").id;
    await until("the three runs to end on the worker", () =>
      chat.engine.listRuns({ experimentId: expId }).every((r) => r.state === "succeeded"),
    );
    assert.deepEqual(
      chat.engine.listRuns({ experimentId: expId }).map((r) => r.state),
      ["succeeded", "succeeded", "succeeded"],
    );
  } finally {
    await worker.stop();
    await front.stop();
    await box.close();
    await chat.close();
  }
});

test("a run change told by one replica reaches another once and is not told back", { skip }, async () => {
  const url = await pgDatabase(cluster.url!, `echo-${process.pid}-${Date.now()}`);
  const env = { TUNELOOP_DATABASE_URL: url };
  const { app: a } = await engineApp({ env });
  const { app: b } = await engineApp({ env });
  const { train } = await seedExperiment(a, { rows: 40 });
  const [sa, sb] = [
    await startScale(a, { role: "chat", providers: [] }),
    await startScale(b, { role: "chat", providers: [] }),
  ];
  // Everything said on the channel, as a third party hears it.
  const ear = new pg.Client({ connectionString: url });
  const heard: Array<{ origin: string; id: number; verdict?: unknown }> = [];
  await ear.connect();
  ear.on("notification", (n) => heard.push(JSON.parse(n.payload ?? "{}")));
  await ear.query(`LISTEN ${RUN_CHANNEL}`);
  const onB: string[] = [];
  let run: RunRecord | undefined;
  const offB = b.runs.events.listen({
    onRun: (r, event) => void (r.id === run?.id && onB.push(`${event} ${r.state}`)),
    onVerdict: (r) => void (r.id === run?.id && onB.push("verdict")),
  });
  try {
    await startRuns(a, train, 1, "echo");
    run = a.engine.listRuns({ experimentId: a.experiments.get("exp").id })[0];
    await until("replica B to hear of the queued run", () => onB.includes("state queued"));
    await a.runs.events.verdict(run, { evals: [], comparisons: [], hypotheses: [] });
    await until("replica B to hear the verdict", () => onB.includes("verdict"));
    // A last word from B: whatever B told about the run (an echo) was said before it.
    await notifyRun(sb.db, JSON.stringify({ origin: "marker", id: -1 }));
    await until("the marker", () => heard.some((m) => m.origin === "marker"));
    const about = heard
      .slice(
        0,
        heard.findIndex((m) => m.origin === "marker"),
      )
      .filter((m) => m.id === run!.id);
    assert.equal(
      new Set(about.map((m) => m.origin)).size,
      1,
      `told by more than one replica: ${JSON.stringify(about)}`,
    );
    assert.equal(about.filter((m) => m.verdict).length, 1, "the verdict was told once");
    assert.deepEqual(
      onB.filter((e) => e === "verdict"),
      ["verdict"],
    );
  } finally {
    offB();
    await ear.end();
    await sb.stop();
    await sa.stop();
    await b.close();
    await a.close();
  }
});
