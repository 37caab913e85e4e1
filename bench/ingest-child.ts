/**
 * One measurement in a fresh process (so peak memory belongs to this measurement alone).
 *   bare FILE    gpt-tokenizer counting the rows' messages (cookbook count), rows already parsed in memory
 *   counter FILE the same with tuneloop's own counter (src/core/datasets/tokens.ts: gpt-tokenizer's split and
 *                ranks, with the counts of short pieces remembered), for comparison
 *   ingest FILE  the whole upload through the DatasetService (worker ingest + store), while the main thread
 *                answers `dataset list` every 20 ms; reports event-loop delay and command latency meanwhile, and
 *                the CPU time all the process's threads spent during the upload
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { runCommand } from "../commands/dispatch.ts";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";

const [mode, file] = process.argv.slice(2);
// The same call the ingest makes: special-token strings in data count as plain text.
const PLAIN = { disallowedSpecial: new Set<string>() };

function percentile(xs: number[], p: number) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
}

if (mode === "bare" || mode === "counter") {
  // Loaded here only: in the ingest measurement the tokenizer lives on the counting thread, as in the bot.
  // bare: the library's own call, as before; counter: tuneloop's (imported only then, so bare stays untouched)
  const { countTokens: libraryCount } = await import("gpt-tokenizer/encoding/o200k_base");
  const countTokens =
    mode === "bare"
      ? (s: string) => libraryCount(s, PLAIN)
      : (await import("../src/core/datasets/tokens.ts")).countTextTokens;
  const rows = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { messages: Array<{ role: string; content: string }> });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let total = 0;
  for (const r of rows) {
    let n = 3;
    for (const m of r.messages) n += 3 + countTokens(m.role) + countTokens(m.content);
    total += n;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, tokens: total, rows: rows.length }));
} else {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-"));
  const config = loadConfig({ ...process.env, TUNELOOP_DATA: data, LOG_LEVEL: "silent" });
  const app = createApp(config, createLogger(config));
  const ctx = {
    app,
    user: { id: "bench", name: "bench" },
    channelId: "bench",
    surface: "cli" as const,
    progress: () => {},
  };
  // A running bot warms its ingest threads at start (src/main.ts); so does this measurement.
  await app.ingest.warm();
  const h = monitorEventLoopDelay({ resolution: 5 });
  const latencies: number[] = [];
  let stop = false;
  const answering = (async () => {
    while (!stop) {
      const t = performance.now();
      await runCommand(["dataset", "list"], ctx);
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  h.enable();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const out = await app.datasets.upload({ filePath: file, filename: path.basename(file), name: "bench" });
  const ms = performance.now() - t0;
  // CPU time of every thread of this process (ingest, counting, main) while the upload ran.
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  h.disable();
  stop = true;
  await answering;
  await app.close();
  fs.rmSync(data, { recursive: true, force: true });
  process.stdout.write(
    JSON.stringify({
      ms,
      cpuMs,
      stored: out.stored,
      rows: out.report.validRows,
      tokens: out.report.tokens.total,
      exactDup: out.report.duplicateCounts.exact,
      nearDup: out.report.duplicateCounts.near,
      pii: Object.values(out.report.piiCounts).reduce((a, b) => a + b, 0),
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      loopDelayP99Ms: h.percentile(99) / 1e6,
      loopDelayMaxMs: h.max / 1e6,
      commandP50Ms: percentile(latencies, 50),
      commandP99Ms: percentile(latencies, 99),
      commands: latencies.length,
    }),
  );
}
