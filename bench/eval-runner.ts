/**
 * Eval runner: 1,000 rows against a local OpenAI-compatible fake answering in 50 ms, with a 32-request concurrency
 * limit. The ideal wall time is rows x latency / concurrency; the runner (prompt building, HTTP, grading, storing
 * the rows) should stay within 1.15x of it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { writeYesNoEval } from "./generate.ts";

const ROWS = 1000;
const LATENCY = 50;
const CONCURRENCY = 32;

export async function benchEvalRunner(runs: number, median: (xs: number[]) => number) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL("./fake-endpoint-child.ts", import.meta.url)), String(LATENCY)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = "";
  child.stdout.on("data", (d) => {
    buf += d;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const nextLine = () => new Promise<string>((r) => (lines.length ? r(lines.shift() as string) : waiters.push(r)));
  const fake = { baseUrl: await nextLine() };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-eval-"));
  const file = path.join(dir, "eval.jsonl");
  writeYesNoEval(file, ROWS);
  const endpoints = JSON.stringify({
    fake: { baseUrl: fake.baseUrl, concurrency: CONCURRENCY, prices: { "*": { inputPer1M: 0.5, outputPer1M: 1.5 } } },
  });
  const config = loadConfig({
    TUNELOOP_DATA: path.join(dir, "data"),
    LOG_LEVEL: "silent",
    TUNELOOP_ENDPOINTS: endpoints,
  });
  const app = createApp(config, createLogger(config));
  try {
    const up = await app.datasets.upload({ filePath: file, filename: "eval.jsonl", name: "bench-eval" });
    if (!up.dataset) throw new Error("upload failed");
    const walls: number[] = [];
    let last = null as Awaited<ReturnType<typeof app.evals.evaluate>> | null;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      last = await app.evals.evaluate({ modelRef: "fake:bench", dataset: up.dataset, metric: "exact", role: "adhoc" });
      walls.push(performance.now() - t0);
    }
    const ideal = (ROWS * LATENCY) / CONCURRENCY;
    const wall = median(walls);
    const ratio = wall / ideal;
    console.log(
      `\n## Eval runner: ${ROWS} rows, fake endpoint ${LATENCY} ms/request, concurrency ${CONCURRENCY} (median of ${runs})`,
    );
    console.log(`ideal (rows x latency / concurrency)       ${ideal.toFixed(0)} ms`);
    console.log(
      `eval (build, request, grade, store)        ${wall.toFixed(0)} ms   ratio ${ratio.toFixed(3)}x   target <= 1.15x  ${ratio <= 1.15 ? "PASS" : "FAIL"}`,
    );
    child.stdin.write("?\n");
    const { maxInFlight } = JSON.parse(await nextLine()) as { maxInFlight: number };
    console.log(
      `max requests in flight ${maxInFlight} · latency p50 ${last?.summary?.latencyMs.p50.toFixed(0)} ms, p95 ${last?.summary?.latencyMs.p95.toFixed(0)} ms · score ${((last?.mean ?? 0) * 100).toFixed(1)}% · cost $${last?.summary?.usd?.toFixed(4)}`,
    );
  } finally {
    await app.close();
    child.stdin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
