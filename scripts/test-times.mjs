#!/usr/bin/env node
// Times each process of `npm test`: every test/suites/*.ts in npm test's order (sorted), or the files given (e.g.
// test/engine/*.test.ts, one process each), through `node --import tsx --test`,
// N files at a time like `npm test`, and prints each file's wall time (process start to exit), slowest first,
// with its CPU seconds (user + system, through GNU time when present), its pass/fail counts and the totals.
//   node scripts/test-times.mjs [--concurrency=2] [--top=15] [files...]
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split("=")[1]) : fallback;
};
const concurrency = option("concurrency", 2);
const top = option("top", Number.POSITIVE_INFINITY);

const given = args.filter((a) => !a.startsWith("--"));
// npm test's suites in its order: node --test (Node 20) sorts the files it is given
const files = given.length
  ? given
  : readdirSync("test/suites")
      .map((f) => path.join("test", "suites", f))
      .sort();

function runFile(file) {
  return new Promise((resolve) => {
    const started = performance.now();
    // GNU time's -o file gets the child's CPU seconds (user and system, its children included).
    const cpuFile = path.join(scratch, `${path.basename(file)}.${Math.random().toString(36).slice(2)}.cpu`);
    const node = [process.execPath, "--import", "tsx", "--test", "--test-reporter=tap", file];
    const [cmd, ...argv] = hasTime ? ["/usr/bin/time", "-f", "%U %S", "-o", cpuFile, ...node] : node;
    const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("close", (code) => {
      const count = (name) => Number(out.match(new RegExp(`^# ${name} (\\d+)$`, "m"))?.[1] ?? 0);
      const failures = [...out.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1]);
      let cpu = Number.NaN;
      try {
        const [user, sys] = readFileSync(cpuFile, "utf8").trim().split(/\s+/).slice(-2).map(Number);
        cpu = user + sys;
      } catch {}
      resolve({
        file,
        s: (performance.now() - started) / 1000,
        cpu,
        code,
        pass: count("pass"),
        fail: count("fail"),
        failures,
      });
    });
  });
}

const hasTime = statSync("/usr/bin/time", { throwIfNoEntry: false }) !== undefined;
const scratch = mkdtempSync(path.join(os.tmpdir(), "test-times-"));
const started = performance.now();
const results = [];
const queue = [...files];
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (queue.length) {
      const result = await runFile(queue.shift());
      results.push(result);
      process.stderr.write(
        `${result.s.toFixed(1).padStart(6)} s  ${result.code === 0 ? "ok  " : "FAIL"} ${result.file}\n`,
      );
    }
  }),
);
const wall = (performance.now() - started) / 1000;
rmSync(scratch, { recursive: true, force: true });
results.sort((a, b) => b.s - a.s);
console.log(`\nper-file wall time and CPU time, ${concurrency} at a time, slowest first:`);
for (const r of results.slice(0, top)) {
  console.log(
    `${r.s.toFixed(1).padStart(7)} s ${r.cpu.toFixed(1).padStart(7)} cpu s ${String(r.pass).padStart(4)} pass ${r.fail ? `${r.fail} FAIL` : "      "} ${r.file}`,
  );
}
const pass = results.reduce((n, r) => n + r.pass, 0);
const fail = results.reduce((n, r) => n + r.fail, 0);
const cpu = results.reduce((n, r) => n + r.cpu, 0);
console.log(
  `files ${results.length}, tests pass ${pass}, fail ${fail}, wall ${wall.toFixed(1)} s, cpu ${cpu.toFixed(1)} s`,
);
for (const r of results.filter((r) => r.code !== 0)) console.log(`  FAILED ${r.file}: ${r.failures.join(" | ")}`);
process.exitCode = fail || results.some((r) => r.code !== 0) ? 1 : 0;
