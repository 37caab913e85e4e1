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
  const shapes: Shape[] = [
    {
      name: "demo, short answers",
      rows: () => makeDemoTask({ seed: 2, trainRows: 400, evalRows: 1 }).train,
      epochs: 2,
    },
    { name: "alpaca, < 200 chars", rows: () => alpacaRows(sharedDir, 0, 200, 160), epochs: 2 },
    { name: "alpaca, 200-400 chars", rows: () => alpacaRows(sharedDir, 200, 400, 96), epochs: 2 },
    { name: "alpaca, 400-800 chars", rows: () => alpacaRows(sharedDir, 400, 800, 48), epochs: 2 },
    { name: "alpaca, 800-1,600 chars", rows: () => alpacaRows(sharedDir, 800, 1600, 32), epochs: 2 },
    { name: "alpaca, 1,600-3,200 chars", rows: () => alpacaRows(sharedDir, 1600, 3200, 32), epochs: 1 },
  ];
  // Repeats (other rows of the same length, so no run is the same as one before): estimated from the runs above.
  const repeats: Shape[] = [
    {
      name: "demo again, 300 rows",
      rows: () => makeDemoTask({ seed: 3, trainRows: 300, evalRows: 1 }).train,
      epochs: 2,
    },
    { name: "alpaca 400-800 again, 64 rows", rows: () => alpacaRows(sharedDir, 400, 800, 64, 48), epochs: 2 },
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
      "shape                            rows  tokens/row  tokens   estimate from            estimated   took       ratio",
    );
    const out: Array<{ ratio: number; bucket: number; rate: number; basis: string }> = [];
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
      const run = await app.worker.runNext(started.run.id);
      const e = run?.estimate as RunEstimate;
      const took = Number(run?.result?.trainWallMs ?? Number.NaN) / 1000;
      if (run?.state !== "succeeded" || !e.wallSeconds || !Number.isFinite(took)) {
        console.log(`${s.name}: run ${run?.id} ${run?.state} (${run?.stateReason ?? "no training time"})`);
        continue;
      }
      const perRow = e.trainingTokens / e.epochs / e.trainRows;
      const ratio = e.wallSeconds / took;
      const basis = e.wallBasis === "measured" ? (e.wallSource ?? "").replace(/:.*/, "") : "the default table";
      out.push({
        ratio,
        bucket: 2 ** Math.max(3, Math.round(Math.log2(perRow))),
        rate: e.trainingTokens / took,
        basis,
      });
      console.log(
        `${s.name.padEnd(32)} ${String(rows.length).padStart(4)}  ${String(Math.round(perRow)).padStart(10)}  ${e.trainingTokens.toLocaleString("en-US").padStart(7)}  ${basis.replace("from ", "").slice(0, 24).padEnd(24)} ${secs(e.wallSeconds).padStart(9)}  ${secs(took).padStart(9)}  ${ratio.toFixed(2).padStart(5)} ${ratio >= 0.67 && ratio <= 1.5 ? "" : "(outside)"}`,
      );
    }
    const m = median(out.map((o) => o.ratio));
    const within = out.filter((o) => o.ratio >= 0.67 && o.ratio <= 1.5).length;
    console.log(
      `median estimate/actual ${m.toFixed(2)} over ${out.length} runs (${within} of ${out.length} within 0.67-1.5)   target 0.67-1.5  ${m >= 0.67 && m <= 1.5 ? "PASS" : "FAIL"}`,
    );
    console.log(
      `measured wall-to-wall tokens/s (what src/providers/throughput.json's local entries come from): ${out.map((o) => `~${o.bucket}: ${Math.round(o.rate).toLocaleString("en-US")}`).join(", ")}`,
    );
  } finally {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
