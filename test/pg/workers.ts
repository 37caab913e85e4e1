/** `tuneloop worker` processes (test/pg/worker-child.ts) for the chaos test and the workers bench. */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { repoRoot } from "../helpers.ts";
import { engineDatabaseEnv } from "./cluster.ts";

/** Starts a worker on the test app's database of `dataDir`; resolves once it takes jobs. */
export function startWorker(
  dataDir: string,
  env: Record<string, string>,
  steps = 8,
  stepMs = 40,
): Promise<ChildProcess> {
  const { TUNELOOP_DATABASE_URL: url } = engineDatabaseEnv(dataDir);
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(repoRoot, "test", "pg", "worker-child.ts"),
      dataDir,
      url,
      String(steps),
      String(stepMs),
    ],
    { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout?.on("data", (d) => {
      out += d;
      if (out.includes("ready\n")) resolve(child);
    });
    child.stderr?.on("data", (d) => (err += d));
    child.once("exit", (code) => reject(new Error(`worker exited early (${code}): ${err.slice(-2000)}`)));
  });
}
