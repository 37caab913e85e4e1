/**
 * The console chat as `npm start` runs it, in its own process, driven through stdin as a person types (the console
 * run and loop tests). `waitFor` polls what it printed; a run that failed, or the deadline, fails the wait at once
 * and stops the console, so a failed test leaves no bot behind.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { repoRoot } from "../helpers.ts";

export function startConsole(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [path.join(repoRoot, "bin", "start.mjs")], {
    cwd: repoRoot,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const io = { out: "", err: "" };
  child.stdout.on("data", (d) => (io.out += d));
  child.stderr.on("data", (d) => (io.err += d));
  const exited = new Promise<number | null>((r) => child.on("close", r));
  const waitFor = async (re: RegExp, ms = 200_000) => {
    const t0 = Date.now();
    while (!re.test(io.out)) {
      // A run that failed (e.g. no stories260K where TUNELOOP_LOCAL_MODEL_DIR points) fails the test now, not at the deadline.
      if (Date.now() - t0 > ms || /Run \d+ failed/.test(io.out)) {
        child.kill(); // leave no bot behind a failed test
        throw new Error(
          `${/Run \d+ failed/.test(io.out) ? "a run failed" : "timed out"} waiting for ${re}\n--- out ---\n${io.out}\n--- err ---\n${io.err}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return re.exec(io.out) as RegExpExecArray;
  };
  return { io, exited, waitFor, say: (line: string) => child.stdin.write(`${line}\n`), ctrlD: () => child.stdin.end() };
}
