/**
 * The trainer process contract (docs/selfhosted.md): tuneloop starts `TUNELOOP_TRAINER_COMMAND <job.json>`, the
 * trainer writes JSON lines on stdout —
 *   {"event":"progress","step","totalSteps","loss","tokensPerSecond"}
 *   {"event":"done","adapterDir","trainTokens","seconds"}
 *   {"event":"error","message"}
 * — and anything else (stdout lines that are not events, all of stderr) is the run's log.
 *
 * The trainer is started in its own process group with stdout and stderr going to files in the run's folder
 * (events.jsonl, trainer.log), and its pid and job file recorded (trainer.pid), so a restarted tuneloop finds a
 * trainer still running and follows it from the files instead of starting a second one. Cancel: SIGTERM to the
 * group, SIGKILL after a grace period.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CancelledError } from "../../core/trainer.ts";

export type TrainerEvent =
  | { event: "progress"; step: number; totalSteps: number; loss: number; tokensPerSecond: number }
  | { event: "done"; adapterDir: string; trainTokens: number; seconds: number }
  | { event: "error"; message: string };

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** One stdout line as an event of the contract, or null (a log line). */
export function parseEventLine(line: string): TrainerEvent | null {
  const t = line.trim();
  if (!t.startsWith("{") || t.length > 100_000) return null;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(t) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (j.event === "progress" && finite(j.step) && finite(j.totalSteps)) {
    return {
      event: "progress",
      step: j.step,
      totalSteps: j.totalSteps,
      loss: finite(j.loss) ? j.loss : Number.NaN,
      tokensPerSecond: finite(j.tokensPerSecond) ? j.tokensPerSecond : 0,
    };
  }
  if (j.event === "done" && typeof j.adapterDir === "string") {
    return {
      event: "done",
      adapterDir: j.adapterDir,
      trainTokens: finite(j.trainTokens) ? j.trainTokens : 0,
      seconds: finite(j.seconds) ? j.seconds : 0,
    };
  }
  if (j.event === "error") return { event: "error", message: String(j.message ?? "the trainer reported an error") };
  return null;
}

export interface PidRecord {
  pid: number;
  jobFile: string;
  startedAt: string;
  command: string[];
}

export const FILES = { job: "job.json", pid: "trainer.pid", events: "events.jsonl", log: "trainer.log" };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Is `rec`'s trainer still running (and still that trainer: on Linux its command line names the job file)? */
export function stillRunning(rec: PidRecord): boolean {
  if (!alive(rec.pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${rec.pid}/cmdline`, "utf8");
    return cmdline.split("\0").includes(rec.jobFile);
  } catch {
    return process.platform !== "linux"; // no /proc: the pid is all there is
  }
}

export function readPid(dir: string): PidRecord | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, FILES.pid), "utf8")) as PidRecord;
  } catch {
    return null;
  }
}

/** Splits a command setting into words (double or single quotes group words; no shell is involved). */
export function commandWords(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of s.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

export interface Launched {
  pid: number;
  startedAt: Date;
  /** Resolves with the exit code (null: killed by a signal) when the child exits. */
  exited: Promise<number | null>;
}

/** Starts the trainer on `jobFile` in its own process group, its output to files in `dir`, and records its pid. */
export async function launch(dir: string, command: string[], jobFile: string, cwd: string): Promise<Launched> {
  fs.mkdirSync(dir, { recursive: true });
  const out = fs.openSync(path.join(dir, FILES.events), "a");
  const err = fs.openSync(path.join(dir, FILES.log), "a");
  try {
    const child = spawn(command[0], [...command.slice(1), jobFile], {
      cwd,
      detached: true,
      stdio: ["ignore", out, err],
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.unref();
    const pid = child.pid as number;
    const startedAt = new Date();
    const rec: PidRecord = { pid, jobFile, startedAt: startedAt.toISOString(), command };
    const tmp = path.join(dir, `${FILES.pid}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(rec));
    fs.renameSync(tmp, path.join(dir, FILES.pid));
    return { pid, startedAt, exited };
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

/** The last `n` lines of the trainer's log (stderr, and stdout lines that are not events). */
export function lastLogLines(dir: string, n = 12): string[] {
  const lines: string[] = [];
  for (const f of [FILES.events, FILES.log]) {
    let text = "";
    try {
      const fd = fs.openSync(path.join(dir, f), "r");
      try {
        const size = fs.fstatSync(fd).size;
        const len = Math.min(size, 64 * 1024);
        const buf = Buffer.alloc(len);
        fs.readSync(fd, buf, 0, len, size - len);
        text = buf.toString("utf8");
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      continue;
    }
    for (const l of text.split("\n")) if (l.trim() && (f === FILES.log || !parseEventLine(l))) lines.push(l.trimEnd());
  }
  return lines.slice(-n).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l));
}

export interface FollowOptions {
  dir: string;
  pid: number;
  /** The child's exit, when this process started it (else liveness is polled). */
  exited?: Promise<number | null>;
  signal: AbortSignal;
  onEvent: (e: TrainerEvent) => void;
  /** SIGTERM, then SIGKILL after this long. */
  graceMs: number;
  pollMs?: number;
}

export interface Followed {
  done: Extract<TrainerEvent, { event: "done" }> | null;
  error: string | null;
  exitCode: number | null | undefined;
}

/**
 * Reads the trainer's events as they are written until it exits. On a cancel (the signal's reason is a
 * CancelledError) the trainer's group gets SIGTERM, then SIGKILL after the grace period, and the cancel is thrown.
 * Any other abort (tuneloop stopping, a lost lease) leaves the trainer running for whoever follows it next.
 */
export async function follow(o: FollowOptions): Promise<Followed> {
  const eventsPath = path.join(o.dir, FILES.events);
  let offset = 0;
  let partial = "";
  let done: Followed["done"] = null;
  let error: string | null = null;
  let exitCode: number | null | undefined;
  let exitedFlag = false;
  o.exited?.then((c) => {
    exitCode = c;
    exitedFlag = true;
  });
  const drain = () => {
    let fd: number;
    try {
      fd = fs.openSync(eventsPath, "r");
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      while (offset < size) {
        const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
        const n = fs.readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        const text = partial + buf.subarray(0, n).toString("utf8");
        const lines = text.split("\n");
        partial = lines.pop() ?? "";
        if (partial.length > 1_000_000) partial = "";
        for (const l of lines) {
          const e = parseEventLine(l);
          if (!e) continue;
          if (e.event === "done") done = e;
          if (e.event === "error") error = e.message;
          o.onEvent(e);
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  const isAlive = () => (o.exited ? !exitedFlag : alive(o.pid));
  for (;;) {
    drain();
    if (o.signal.aborted) {
      const reason = o.signal.reason;
      if (reason instanceof CancelledError) await stop(o.pid, o.graceMs, isAlive);
      throw reason;
    }
    if (!isAlive()) {
      drain();
      if (partial) {
        const e = parseEventLine(partial);
        partial = "";
        if (e?.event === "done") done = e;
        if (e?.event === "error") error = e.message;
        if (e) o.onEvent(e);
      }
      return { done, error, exitCode };
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.pollMs ?? 200);
      o.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/** SIGTERM to the trainer's process group, SIGKILL after `graceMs` if it is still there. */
export async function stop(pid: number, graceMs: number, isAlive: () => boolean = () => alive(pid)): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      try {
        process.kill(pid, s);
      } catch {
        // gone
      }
    }
  };
  if (!isAlive()) return;
  signal("SIGTERM");
  const until = Date.now() + graceMs;
  while (isAlive() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  if (isAlive()) {
    signal("SIGKILL");
    const hard = Date.now() + 10_000;
    while (isAlive() && Date.now() < hard) await new Promise((r) => setTimeout(r, 50));
  }
}
