import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The read-only shared folder (real datasets, the stories260K model), from TUNELOOP_SHARED or ../shared. */
export const sharedDir = path.resolve(process.env.TUNELOOP_SHARED ?? path.join(repoRoot, "..", "shared"));
export const sharedDataset = (rel: string) => path.join(sharedDir, "datasets", rel);

export function tmpDir(label = "tuneloop-test"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`));
}

export function testEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TUNELOOP_DATA: dataDir,
    LOG_LEVEL: "warn",
    TUNELOOP_CONSOLE_USER: "tester",
    ...extra,
  };
  // The tests must not pick up a developer's .env values through the environment.
  for (const k of Object.keys(env)) if (k.startsWith("SLACK_") || k.startsWith("DISCORD_")) delete env[k];
  return env;
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program as a child process and collects its output; stdin gets `input` (or is closed at once). */
export function runProcess(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.on("error", () => {}); // a program that exits without reading its input
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs the real CLI (bin/tuneloop.mjs) as a child process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, opts: { cwd?: string } = {}): Promise<Ran> {
  return runProcess(process.execPath, [path.join(repoRoot, "bin", "tuneloop.mjs"), ...args], {
    cwd: opts.cwd ?? repoRoot,
    env,
  });
}

let inProcessQueue: Promise<unknown> = Promise.resolve();

/**
 * Runs a CLI command in this test's process: src/cli.ts's main, the code bin/tuneloop.mjs runs, with `env` as the
 * environment and `cwd` as the working folder for the call (calls run one at a time). The exit code, stdout and
 * stderr are what the process would give; only the start of a process is skipped (the CLI smoke tests spawn it).
 */
export function runCliInProcess(args: string[], env: NodeJS.ProcessEnv, opts: { cwd?: string } = {}): Promise<Ran> {
  const run = async (): Promise<Ran> => {
    const { main } = await import("../src/cli.ts");
    const savedEnv = process.env;
    const savedCwd = process.cwd();
    let stdout = "";
    let stderr = "";
    process.env = { ...env };
    process.chdir(opts.cwd ?? repoRoot);
    try {
      const io = { stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t), stderrIsTTY: false };
      const code = await main(args, io).catch((err) => {
        stderr += `tuneloop: internal error: ${err instanceof Error ? err.message : String(err)}\n`;
        return 2;
      });
      return { code, stdout, stderr };
    } finally {
      process.env = savedEnv;
      process.chdir(savedCwd);
    }
  };
  const p = inProcessQueue.then(run);
  inProcessQueue = p.catch(() => {});
  return p;
}

function parseJson<T>(r: Ran): Ran & { json: T } {
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  }
  return { ...r, json };
}

/** The real CLI as a child process, --json added, its stdout parsed. */
export async function runCliJson<T = Record<string, unknown>>(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<Ran & { json: T }> {
  return parseJson<T>(await runCli([...args, "--json"], env));
}

/** runCliInProcess with --json added and its stdout parsed. */
export async function runCliJsonInProcess<T = Record<string, unknown>>(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<Ran & { json: T }> {
  return parseJson<T>(await runCliInProcess([...args, "--json"], env));
}

/**
 * CPU time (ms) this process has spent since `since` (a process.cpuUsage() reading). For the bounds that catch an
 * algorithmic blow-up (a quadratic scan, a runaway regex): unlike wall time, CPU time does not grow when other
 * processes share the cores, so the bound holds on a busy machine and still fails on the blow-up.
 */
export function cpuMsSince(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

let gc: (() => void) | null = null;
/**
 * The memory this process still holds (after a full garbage collection), for "memory stays flat" bounds: heapUsed
 * or arrayBuffers without a collection also count garbage not yet collected, which depends on what ran before in the process (a
 * suite runs several test files in one: after them V8 lets more garbage pile up between collections).
 */
export function retainedMemory(): NodeJS.MemoryUsage {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
  return process.memoryUsage();
}
