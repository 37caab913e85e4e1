/**
 * Worker-thread entry of the grade pool (grade-pool.ts): grades one answer per message with a grader whose
 * pattern a user typed (a regex, a JSON schema's `pattern`). The pool times each message and terminates this
 * thread when one runs past its deadline, so a pattern that backtracks for minutes never blocks the bot.
 */
import { parentPort } from "node:worker_threads";
import { type Grader, type GraderSpec, makeGrader } from "./graders.ts";

const port = parentPort;
if (!port) throw new Error("grade-worker must run in a worker thread");

const graders = new Map<string, Grader>();

port.on("message", async (m: { id: number; spec: string; output: string; expected: string }) => {
  try {
    let grade = graders.get(m.spec);
    if (!grade) {
      if (graders.size > 32) graders.clear();
      grade = makeGrader(JSON.parse(m.spec) as GraderSpec);
      graders.set(m.spec, grade);
    }
    port.postMessage({ id: m.id, grade: await grade({ output: m.output, expected: m.expected }) });
  } catch (err) {
    port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
port.postMessage({ ready: true });
