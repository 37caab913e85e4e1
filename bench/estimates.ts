/**
 * Training-time estimates against real runs: several local-trainer runs of different shapes (short answers to
 * ~512-token rows), each started and run the way the bot does it (RunService.start, then the worker), in one data
 * folder. The first run of each shape is estimated from the default table (src/providers/throughput.json); the
 * repeats at the end from the runs before them. Prints each run's estimate/actual ratio and the median, judged
 * against 0.67-1.5, and the throughput each run measured (what the table's local entries are calibrated from).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { makeDemoTask } from "../src/core/demo/task.ts";
import { seqBucket } from "../src/core/costs/throughput.ts";
import type { RunEstimate } from "../src/core/runs/service.ts";
import { createLogger } from "../src/log.ts";

type Chat = { messages: Array<{ role: string; content: string }> };

interface Shape {
  name: string;
  rows: () => Chat[];
  epochs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function alpacaRows(sharedDir: string, minChars: number, maxChars: number, n: number, skip = 0): Chat[] {
  const file = path.join(sharedDir, "datasets", "llama-factory", "alpaca_en_demo.json");
  const rows = JSON.parse(fs.readFileSync(file, "utf8")) as Array<{
    instruction: string;
    input?: string;
    output: string;
  }>;
  const seen = new Set<string>();
  return rows
    .filter((r) => {
      const len = r.instruction.length + (r.input ?? "").length + r.output.length;
      const key = `${r.instruction}\n${r.input ?? ""}`;
      if (len < minChars || len >= maxChars || seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .slice(skip, skip + n)
    .map((r) => ({
      messages: [
        { role: "user", content: r.input ? `${r.instruction}\n\n${r.input}` : r.instruction },
        { role: "assistant", content: r.output },
      ],
    }));
}

const COLOURS = ["red", "green", "blue", "yellow"];
function colourRows(n: number, from: number): Chat[] {
  return Array.from({ length: n }, (_, i) => ({
    messages: [
      { role: "user", content: `What colour is item ${from + i}?` },
      { role: "assistant", content: COLOURS[(from + i) % 4] },
    ],
  }));
}

const secs = (s: number) => (s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

export async function benchEstimates(modelDir: string, sharedDir: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-estimates-"));
  const config = loadConfig({
    TUNELOOP_DATA: path.join(dir, "data"),
    LOG_LEVEL: "silent",
    TUNELOOP_LOCAL_MODEL_DIR: modelDir,
    TUNELOOP_CONFIRM_ABOVE_USD: "1000",
  });
  const app = createApp(config, createLogger(config));
  const write = (name: string, rows: Chat[]) => {
    const f = path.join(dir, `${name}.jsonl`);
    fs.writeFileSync(f, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    return f;
  };
  // From ~24 to 512 of the model's tokens a row (its context), so every row-length bucket of the table is met.
  const shapes: Shape[] = [
    { name: "colours, one-word answers", rows: () => colourRows(600, 0), epochs: 2 },
    {
      name: "demo, short answers",
      rows: () => makeDemoTask({ seed: 2, trainRows: 400, evalRows: 1 }).train,
      epochs: 2,
    },
    { name: "alpaca, < 200 chars", rows: () => alpacaRows(sharedDir, 0, 200, 160), epochs: 2 },
    { name: "alpaca, 200-400 chars", rows: () => alpacaRows(sharedDir, 200, 400, 64), epochs: 2 },
    { name: "alpaca, 400-800 chars", rows: () => alpacaRows(sharedDir, 400, 800, 32), epochs: 2 },
    { name: "alpaca, 800-1,600 chars", rows: () => alpacaRows(sharedDir, 800, 1600, 24), epochs: 1 },
  ];
  // Repeats (other rows of the same length, so no run is the same as one before): estimated from the runs above.
  const repeats: Shape[] = [
    {
      name: "demo again, 300 rows",
      rows: () => makeDemoTask({ seed: 3, trainRows: 300, evalRows: 1 }).train,
      epochs: 2,
    },
    { name: "alpaca 200-400 again", rows: () => alpacaRows(sharedDir, 200, 400, 48, 64), epochs: 2 },
  ];
  try {
    const evalRows = makeDemoTask({ seed: 1, trainRows: 4, evalRows: 6 }).eval;
    await app.datasets.upload({ filePath: write("eval", evalRows), filename: "eval.jsonl", name: "bench-eval" });
    app.experiments.create({
      name: "bench",
      evalDataset: "bench-eval",
      metric: "exact",
      baselines: [],
      user: "bench",
      channelId: null,
    });
    console.log(
      "\n## Training-time estimates: real local-trainer runs of different shapes, estimate vs actual (target 0.67-1.5)",
    );
    console.log(
      "shape                            rows  tokens/row    tokens  estimate from            estimated   took       ratio    CPU",
    );
    console.log("(tokens: stories260K's own, each batch padded to its longest row: what the trainer's time follows)");
    const out: Array<{
      ratio: number;
      bucket: number;
      rate: number;
      cpuRate: number;
      cpuRatio: number;
      basis: string;
    }> = [];
    for (const [i, s] of [...shapes, ...repeats].entries()) {
      const name = `bench-train-${i}`;
      const rows = s.rows();
      await app.datasets.upload({ filePath: write(name, rows), filename: `${name}.jsonl`, name });
      const started = await app.runs.start({
        dataset: name,
        experiment: "bench",
        epochs: s.epochs,
        yes: true,
        user: "bench",
        channelId: null,
      });
      // CPU time of the training (the trainer's thread is single-threaded): its wall time on an idle machine.
      let cpu0 = process.cpuUsage();
      let cpuTrain = Number.NaN;
      const stop = app.runs.events.listen({
        onRun: (r) => {
          if (r.id !== started.run.id) return;
          if (r.state === "running" && r.progress?.phase === "training" && !r.progress.totalSteps)
            cpu0 = process.cpuUsage();
          if (r.progress?.phase === "evaluating" && Number.isNaN(cpuTrain)) {
            const d = process.cpuUsage(cpu0);
            cpuTrain = (d.user + d.system) / 1e6;
          }
        },
      });
      const run = await app.worker.runNext(started.run.id);
      stop();
      const e = run?.estimate as RunEstimate;
      const took = Number(run?.result?.trainWallMs ?? Number.NaN) / 1000;
      if (run?.state !== "succeeded" || !e.wallSeconds || !Number.isFinite(took)) {
        console.log(`${s.name}: run ${run?.id} ${run?.state} (${run?.stateReason ?? "no training time"})`);
        continue;
      }
      // The local trainer's own measure: its tokens, padding included (what its time follows).
      const work = e.wallWork ?? { tokens: e.trainingTokens, tokensPerRow: e.trainingTokens / e.epochs / e.trainRows };
      const ratio = e.wallSeconds / took;
      const basis = e.wallBasis === "measured" ? (e.wallSource ?? "").replace(/:.*/, "") : "the default table";
      out.push({
        ratio,
        bucket: seqBucket(work.tokensPerRow),
        rate: work.tokens / took,
        cpuRate: work.tokens / cpuTrain,
        cpuRatio: e.wallSeconds / cpuTrain,
        basis,
      });
      console.log(
        `${s.name.padEnd(32)} ${String(rows.length).padStart(4)}  ${String(Math.round(work.tokensPerRow)).padStart(10)}  ${work.tokens.toLocaleString("en-US").padStart(8)}  ${basis.replace("from ", "").slice(0, 24).padEnd(24)} ${secs(e.wallSeconds).padStart(9)}  ${secs(took).padStart(9)}  ${ratio.toFixed(2).padStart(5)} ${secs(cpuTrain).padStart(8)}${ratio >= 0.67 && ratio <= 1.5 ? "" : "  (outside)"}`,
      );
    }
    const m = median(out.map((o) => o.ratio));
    const within = out.filter((o) => o.ratio >= 0.67 && o.ratio <= 1.5).length;
    console.log(
      `median estimate/actual ${m.toFixed(2)} over ${out.length} runs (${within} of ${out.length} within 0.67-1.5)   target 0.67-1.5  ${m >= 0.67 && m <= 1.5 ? "PASS" : "FAIL"}`,
    );
    // On a busy machine wall times stretch; the CPU time is what an idle machine would take.
    const table = out.filter((o) => o.basis === "the default table");
    console.log(
      `(the default table's estimates / the trainings' CPU time, i.e. on an idle machine: median ${median(table.map((o) => o.cpuRatio)).toFixed(2)} over ${table.length} runs: ${table.map((o) => o.cpuRatio.toFixed(2)).join(", ")})`,
    );
    const rates = (k: "rate" | "cpuRate") =>
      out.map((o) => `~${o.bucket}: ${Math.round(o[k]).toLocaleString("en-US")}`).join(", ");
    console.log(`tokens/s by row length, wall to wall: ${rates("rate")}`);
    console.log(
      `tokens/s by row length, per CPU second (an idle machine; src/providers/throughput.json's local entries): ${rates("cpuRate")}`,
    );
    console.log(
      `load average at the end: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(", ")} on ${os.cpus().length} cores`,
    );
  } finally {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
