/**
 * Workers on Postgres: 40 I/O-bound runs (the fake trainer waits `stepMs` per step, as a hosted or remote trainer
 * keeps a worker waiting on the network) taken by 1 and then 2 `tuneloop worker` processes through the pg-boss queue.
 * Target: throughput with 2 workers >= 1.8x that of 1. Needs PostgreSQL (a throwaway cluster from .ci/pg).
 * It prints what keeps the measure honest: the CPU the worker processes spent per run (far under the run's waiting:
 * the runs are I/O-bound), the machine's CPUs and its load average (other work on the machine slows both sides).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCommand } from "../commands/dispatch.ts";
import { startScale } from "../src/scale/index.ts";
import { ctxFor, engineApp, seedExperiment } from "../test/engine/engine-helpers.ts";
import { repoRoot } from "../test/helpers.ts";
import { startWorker } from "../test/pg/workers.ts";

/** CPU seconds a process has used (user + system), from /proc; null where there is none. */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 a second on Linux)
  } catch {
    return null;
  }
}

interface Trial {
  seconds: number;
  /** CPU seconds the worker processes spent per run, or null where it cannot be read. */
  cpuPerRun: number | null;
}

async function trial(workers: number, runs: number, steps: number, stepMs: number): Promise<Trial> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-workers-"));
  const { app } = await engineApp({ dataDir });
  const { train } = await seedExperiment(app, { rows: 40 });
  const scale = await startScale(app, { role: "chat", providers: [] });
  const procs = [];
  try {
    for (let i = 0; i < workers; i++)
      procs.push(await startWorker(dataDir, { TUNELOOP_RUN_LEASE_S: "30" }, steps, stepMs));
    const cpu0 = procs.map((p) => cpuSeconds(p.pid));
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) {
      const out = await runCommand(["run", "start", train, "--experiment", "exp", "--yes", "--seed", String(i + 1)], {
        ...ctxFor(app, "console"),
        requestId: `bench-${i}`,
      });
      if (out.exitCode !== 0) throw new Error(out.error?.message);
    }
    const expId = app.experiments.get("exp").id;
    for (;;) {
      const all = app.engine.listRuns({ experimentId: expId });
      if (all.every((r) => r.state === "succeeded" || r.state === "failed")) {
        const failed = all.filter((r) => r.state === "failed");
        if (failed.length) throw new Error(`${failed.length} runs failed: ${failed[0].stateReason}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = procs.map((p) => cpuSeconds(p.pid));
    const used = cpu1.map((c, i) => (c === null || cpu0[i] === null ? null : c - cpu0[i]!));
    return {
      seconds,
      cpuPerRun: used.includes(null) ? null : used.reduce((a, b) => a! + b!, 0)! / runs,
    };
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await scale.stop();
    await app.close();
  }
}

export async function benchWorkers(runs: number, median: (xs: number[]) => number): Promise<void> {
  const steps = 10;
  const stepMs = 150;
  console.log(
    `\n## Workers on Postgres: 40 I/O-bound runs (${steps} steps x ${stepMs} ms waiting each), 1 vs 2 workers`,
  );
  let stop: (() => void) | null = null;
  if (!process.env.TUNELOOP_TEST_DATABASE_URL) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-pg-"));
    try {
      const url = execFileSync(path.join(repoRoot, ".ci", "pg"), ["start", path.join(dir, "c")], {
        encoding: "utf8",
      }).trim();
      process.env.TUNELOOP_TEST_DATABASE_URL = url;
      stop = () => execFileSync(path.join(repoRoot, ".ci", "pg"), ["stop", path.join(dir, "c")]);
    } catch (err) {
      console.log(`skipped: no PostgreSQL could start here (${(err as Error).message.split("\n")[0]})`);
      return;
    }
  }
  try {
    const cpus = os.cpus();
    console.log(
      `machine: ${cpus.length} x ${cpus[0]?.model ?? "unknown CPU"}; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(", ")} at the start`,
    );
    const ones: Trial[] = [];
    const twos: Trial[] = [];
    for (let i = 0; i < runs; i++) {
      ones.push(await trial(1, 40, steps, stepMs));
      twos.push(await trial(2, 40, steps, stepMs));
    }
    const one = ones.map((t) => t.seconds);
    const two = twos.map((t) => t.seconds);
    const s1 = median(one);
    const s2 = median(two);
    const cpu = [...ones, ...twos].map((t) => t.cpuPerRun).filter((c): c is number => c !== null);
    const ratio = 40 / s2 / (40 / s1);
    console.log(
      `1 worker:  ${s1.toFixed(1)} s (${(40 / s1).toFixed(2)} runs/s)   [${one.map((x) => x.toFixed(1)).join(", ")}]`,
    );
    console.log(
      `2 workers: ${s2.toFixed(1)} s (${(40 / s2).toFixed(2)} runs/s)   [${two.map((x) => x.toFixed(1)).join(", ")}]`,
    );
    if (cpu.length)
      console.log(
        `worker CPU per run: median ${median(cpu).toFixed(2)} s, against ${((steps * stepMs) / 1000).toFixed(1)} s of waiting (I/O-bound when well under it)`,
      );
    console.log(
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(", ")} at the end`,
    );
    console.log(
      `throughput ratio 2 vs 1 workers: ${ratio.toFixed(2)}x (target >= 1.8x) ${ratio >= 1.8 ? "OK" : "BELOW TARGET"}`,
    );
  } finally {
    stop?.();
  }
}
