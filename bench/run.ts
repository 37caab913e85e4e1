/**
 * `npm run bench`: prints each figure with its target and the ratio to its baseline measured in the same run.
 * Medians of several runs (the machine is noisy). Each measurement runs in a fresh process.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchEstimates } from "./estimates.ts";
import { benchEvalRunner } from "./eval-runner.ts";
import { benchGradePool } from "./grade-pool.ts";
import { benchSlackAck } from "./slack-ack.ts";
import { benchCli, benchEvalE2e, benchServing } from "./start.ts";
import { writeChatDataset } from "./generate.ts";
import { benchTrainer } from "./trainer.ts";
import { benchWorkers } from "./workers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function child<T>(mode: string, file: string): T {
  const out = execFileSync(process.execPath, ["--import", "tsx", path.join(here, "ingest-child.ts"), mode, file], {
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out) as T;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface Ingest {
  ms: number;
  cpuMs: number;
  rows: number;
  tokens: number;
  exactDup: number;
  nearDup: number;
  pii: number;
  maxRssMb: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  commandP50Ms: number;
  commandP99Ms: number;
  commands: number;
}

function benchIngest() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-"));
  const file = path.join(dir, "chat-25k.jsonl");
  const bytes = writeChatDataset(file, 25_000, { tokens: 300, seed: 1 });
  // At least 5 bracketed runs: with 3, one disturbed run of the baseline moved the judged median past the target.
  const runs = Math.max(RUNS, 5);
  console.log(`\n## Dataset ingest: 25,000 chat rows, ${(bytes / 1024 ** 2).toFixed(1)} MB (median of ${runs} runs)`);
  // The machine's speed drifts by tens of percent over tens of seconds, so each ingest is compared with the bare
  // counts measured just before and just after it (bare, ingest, counter, bare, ingest, counter, bare, ...), and
  // the figure judged is the median of those bracketed ratios. The ratio of the medians is printed beside it.
  const bareRuns = [child<{ ms: number; cpuMs: number }>("bare", file)];
  const bare: number[] = [bareRuns[0].ms];
  const own: number[] = [];
  const ing: Ingest[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    ing.push(child<Ingest>("ingest", file));
    own.push(child<{ ms: number }>("counter", file).ms);
    bareRuns.push(child<{ ms: number; cpuMs: number }>("bare", file));
    bare.push(bareRuns[i + 1].ms);
    ratios.push(ing[i].ms / ((bare[i] + bare[i + 1]) / 2));
  }
  const m = (k: keyof Ingest) => median(ing.map((x) => x[k]));
  const first = ing[0];
  const ratio = median(ratios);
  console.log(
    `rows ${first.rows}, tokens ${first.tokens.toLocaleString("en-US")} (${Math.round(first.tokens / first.rows)}/row), exact dups ${first.exactDup}, near dups ${first.nearDup}, PII ${first.pii}`,
  );
  console.log(`baseline: gpt-tokenizer counting bare      ${median(bare).toFixed(0)} ms`);
  console.log(
    `(tuneloop's counter on the same rows       ${median(own).toFixed(0)} ms, ${(median(bare) / median(own)).toFixed(2)}x faster: the same counts, pieces' counts remembered)`,
  );
  console.log(
    `ingest (validate+count+dedupe+PII+store)   ${m("ms").toFixed(0)} ms   ratio ${ratio.toFixed(2)}x   target <= 1.5x  ${ratio <= 1.5 ? "PASS" : "FAIL"}`,
  );
  console.log(
    `  (each run's ingest / the bare counts before and after it: ${ratios.map((r) => r.toFixed(2)).join(", ")}, ${ratios.filter((r) => r <= 1.5).length} of ${ratios.length} within 1.5x; ratio of the medians ${(m("ms") / median(bare)).toFixed(2)}x)`,
  );
  console.log(
    `  (CPU time of the upload, all threads: ${m("cpuMs").toFixed(0)} ms = ${(m("cpuMs") / median(bareRuns.map((b) => b.cpuMs))).toFixed(2)}x the bare count's CPU time; split over two threads, the wall-time ratio depends on the second core being free)`,
  );
  console.log(
    `peak memory (process max RSS)              ${m("maxRssMb").toFixed(0)} MB   target < 400 MB  ${m("maxRssMb") < 400 ? "PASS" : "FAIL"}`,
  );
  console.log(
    `event-loop delay while ingesting           p99 ${m("loopDelayP99Ms").toFixed(1)} ms, max ${m("loopDelayMaxMs").toFixed(1)} ms`,
  );
  console.log(
    `'dataset list' answered while ingesting    ${first.commands} times, p50 ${m("commandP50Ms").toFixed(1)} ms, p99 ${m("commandP99Ms").toFixed(1)} ms`,
  );

  const big = path.join(dir, "chat-100mb.jsonl");
  const bigBytes = writeChatDataset(big, 52_000, { tokens: 300, seed: 2 });
  const b = child<Ingest>("ingest", big);
  const growth = b.maxRssMb / m("maxRssMb");
  console.log(
    `\n## Streaming: ${(bigBytes / 1024 ** 2).toFixed(1)} MB file, ${b.rows.toLocaleString("en-US")} rows (one run)`,
  );
  console.log(`ingest ${(b.ms / 1000).toFixed(1)} s, ${(bigBytes / 1024 ** 2 / (b.ms / 1000)).toFixed(1)} MB/s`);
  console.log(
    `peak memory ${b.maxRssMb.toFixed(0)} MB vs ${m("maxRssMb").toFixed(0)} MB for the ${(bytes / 1024 ** 2).toFixed(0)} MB file: x${growth.toFixed(2)} for x${(bigBytes / bytes).toFixed(1)} the bytes   target flat: < x1.25 (per-row state is ~1 KB)  ${growth < 1.25 ? "PASS" : "FAIL"}`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

const only = process.argv[2];
console.log(`tuneloop bench · node ${process.version} · ${os.cpus().length} cores · ${new Date().toISOString()}`);
if (!only || only === "cli") await benchCli(RUNS, median);
if (!only || only === "eval-e2e") await benchEvalE2e(RUNS, median);
if (!only || only === "serving") await benchServing(RUNS, median);
if (!only || only === "ingest") benchIngest();
if (!only || only === "eval") await benchEvalRunner(RUNS, median);
if (!only || only === "grade") await benchGradePool(RUNS, median);
if (!only || only === "slack") await benchSlackAck();
// The model files: TUNELOOP_LOCAL_MODEL_DIR, else the shared copy beside the checkout (TUNELOOP_SHARED names it).
const sharedDir = path.resolve(process.env.TUNELOOP_SHARED ?? path.join(here, "..", "..", "shared"));
const modelDir = process.env.TUNELOOP_LOCAL_MODEL_DIR ?? path.join(sharedDir, "models", "stories260K");
if (!only || only === "trainer") await benchTrainer(modelDir);
if (!only || only === "estimates") await benchEstimates(modelDir, sharedDir);
if (!only || only === "workers") await benchWorkers(Math.min(RUNS, 3), median);
