/**
 * Runs one model over an eval set: builds the prompt of every row (everything before its last assistant message),
 * asks the model, grades each answer against the row's last assistant message, and summarises.
 */
import { ErrorCode, TuneError } from "../../errors.ts";
import type { ChatMessage, LocatedRow } from "../datasets/types.ts";
import type { CompletionRequest, CompletionResult, InferenceModel } from "../inference.ts";
import type { EvalFlags, EvalRowRecord, EvalSummary } from "../ports.ts";
import { majorityLabelBaseline, type Grade, type GradeInput } from "./graders.ts";
import { meanInterval } from "../stats.ts";

export interface EvalTask {
  rowIndex: number;
  line: number;
  messages: ChatMessage[];
  expected: string;
  cluster: string | null;
}

/** Eval tasks from chat rows; text rows cannot be evaluated (no prompt/answer split). */
export function evalTasks(rows: LocatedRow[], datasetRef: string): EvalTask[] {
  const tasks: EvalTask[] = [];
  rows.forEach((r, i) => {
    const msgs = r.messages ?? [];
    const lastAssistant = msgs.map((m) => m.role).lastIndexOf("assistant");
    if (r.kind !== "chat" || lastAssistant < 1) {
      throw new TuneError(
        ErrorCode.InvalidOptions,
        `${datasetRef} line ${r.line} has no prompt and answer to evaluate (${r.kind === "text" ? "a plain text row" : "no assistant message after a prompt"}). Eval sets need chat rows whose last assistant message is the expected answer.`,
      );
    }
    tasks.push({
      rowIndex: i,
      line: r.line,
      messages: msgs.slice(0, lastAssistant),
      expected: msgs[lastAssistant].content ?? "",
      cluster: r.cluster ?? null,
    });
  });
  return tasks;
}

/** Enough room for the expected answers, without letting a rambling model run long. */
export function defaultMaxTokens(tasks: EvalTask[]): number {
  const longest = tasks.reduce((m, t) => Math.max(m, t.expected.length), 0);
  return Math.min(1024, Math.max(16, Math.ceil(longest / 2)));
}

export interface EvalRun {
  rows: Omit<EvalRowRecord, "evalId">[];
  summary: EvalSummary;
  mean: number;
  ci: [number, number];
}

function percentile(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** What went abnormally in an eval's rows (null when nothing did). */
export function evalFlags(
  results: ReadonlyArray<Pick<CompletionResult, "flags">>,
  grades: ReadonlyArray<Pick<Grade, "timedOut">>,
): EvalFlags | null {
  const flags: EvalFlags = {};
  const count = (n: number) => (n > 0 ? n : undefined);
  flags.gradeTimeouts = count(grades.filter((g) => g.timedOut).length);
  flags.usageEstimated = count(results.filter((r) => r.flags?.usageEstimated).length);
  flags.truncated = count(results.filter((r) => r.flags?.truncated).length);
  for (const k of Object.keys(flags) as Array<keyof EvalFlags>) if (flags[k] === undefined) delete flags[k];
  return Object.keys(flags).length ? flags : null;
}

/** What the runner needs of a meter (src/core/costs/budget.ts): book answers, and bound paid requests one by one. */
export interface EvalMeter {
  acquire(kind: "answer", signal?: AbortSignal): Promise<{ kind: "answer" | "judge"; expect: number }>;
  settle(t: { kind: "answer" | "judge"; expect: number }, usage: CompletionResult | null): void;
  book(kind: "answer", usage: CompletionResult): void;
}

type Row = Omit<EvalRowRecord, "evalId">;

/**
 * Asks the model every task not answered yet (`done`: rows an earlier attempt answered), grades the answers as they
 * arrive and hands each graded row to `onRow` (to be stored); summarises over all rows.
 *
 * A model that answers one request at a time (an endpoint: it has a concurrency, or a price) is fed through the
 * meter, one request per free slot: nothing is sent that the meter does not admit, and after a failure, a budget
 * stop or a grader error no new request is sent while those in flight finish and are booked. A local model answers
 * its whole batch at once and is only booked.
 */
export async function runEval(opts: {
  model: InferenceModel;
  tasks: EvalTask[];
  done?: Row[];
  grade: (input: GradeInput) => Promise<Grade>;
  maxTokens?: number;
  labelTask?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Prices of the judge model, to book grading cost (null: no judge or unknown price). */
  judgeUsd?: (usage: { inputTokens: number; outputTokens: number }) => number;
  meter?: EvalMeter;
  onRow?: (row: Row) => void;
}): Promise<EvalRun> {
  const started = performance.now();
  const maxTokens = opts.maxTokens ?? defaultMaxTokens(opts.tasks);
  const prior = opts.done ?? [];
  const answered = new Set(prior.map((r) => r.rowIndex));
  const todo = opts.tasks.filter((t) => !answered.has(t.rowIndex));
  const request = (t: EvalTask): CompletionRequest => ({ messages: t.messages, maxTokens, temperature: 0, seed: 0 });
  const rows: Row[] = [...prior];
  const grading: Array<Promise<void>> = [];
  let failure: unknown = null;
  let judgeUsd = 0;
  let count = prior.length;
  // What went abnormally in this attempt's answers and grades (rows taken over from an earlier attempt keep none).
  const results: CompletionResult[] = [];
  const grades: Grade[] = [];
  const answer = (t: EvalTask, r: CompletionResult) => {
    count++;
    results.push(r);
    opts.onProgress?.(count, opts.tasks.length);
    // Grade as answers arrive (a judge grader then overlaps with inference).
    grading.push(
      opts.grade({ output: r.text, expected: t.expected, row: t }).then(
        (g) => {
          grades.push(g);
          if (g.usage && opts.judgeUsd) judgeUsd += opts.judgeUsd(g.usage);
          const row: Row = {
            rowIndex: t.rowIndex,
            line: t.line,
            output: r.text,
            expected: t.expected,
            score: g.score,
            pass: g.pass,
            detail: g.detail ?? null,
            latencyMs: r.latencyMs,
            inputTokens: r.inputTokens,
            outputTokens: r.outputTokens,
            cluster: t.cluster,
          };
          rows.push(row);
          opts.onRow?.(row);
        },
        (err) => {
          failure ??= err;
        },
      ),
    );
  };

  const p = opts.model.pricing;
  const paid = opts.model.concurrency !== undefined || (p !== null && (p.inputPer1M > 0 || p.outputPer1M > 0));
  if (paid && opts.meter) {
    const meter = opts.meter;
    let next = 0;
    const feed = async () => {
      while (failure === null && next < todo.length) {
        let ticket: Awaited<ReturnType<EvalMeter["acquire"]>>;
        try {
          ticket = await meter.acquire("answer", opts.signal);
        } catch (err) {
          failure ??= err;
          return;
        }
        if (failure !== null || next >= todo.length) {
          meter.settle(ticket, null);
          return;
        }
        const t = todo[next++];
        try {
          const [r] = await opts.model.completeAll([request(t)], { signal: opts.signal });
          meter.settle(ticket, r);
          answer(t, r);
        } catch (err) {
          meter.settle(ticket, null);
          failure ??= err;
        }
      }
    };
    const slots = Math.max(1, Math.min(opts.model.concurrency ?? 8, todo.length));
    await Promise.all(Array.from({ length: slots }, feed));
  } else if (todo.length) {
    const seen = new Set<number>();
    const take = (i: number, r: CompletionResult) => {
      if (seen.has(i)) return;
      seen.add(i);
      opts.meter?.book("answer", r);
      answer(todo[i], r);
    };
    try {
      const results = await opts.model.completeAll(todo.map(request), { signal: opts.signal, onResult: take });
      for (let i = 0; i < results.length; i++) take(i, results[i]);
    } catch (err) {
      failure = err;
    }
  }
  await Promise.all(grading);
  if (failure !== null) throw failure;

  rows.sort((a, b) => a.rowIndex - b.rowIndex);
  const interval = meanInterval(rows.map((r) => r.score));
  const inputTokens = rows.reduce((a, r) => a + r.inputTokens, 0);
  const outputTokens = rows.reduce((a, r) => a + r.outputTokens, 0);
  const latencies = rows.map((r) => r.latencyMs);
  const summary: EvalSummary = {
    method: interval.method,
    se: interval.se,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95) },
    inputTokens,
    outputTokens,
    // a time-billed GPU: each answer's request time at the GPU's rate (as the meter booked it)
    usd: p
      ? (inputTokens * p.inputPer1M + outputTokens * p.outputPer1M) / 1e6 +
        (p.time ? (latencies.reduce((a, l) => a + l, 0) / 1000) * p.time.usdPerSecond : 0)
      : null,
    judgeUsd,
    wallMs: Math.round(performance.now() - started),
  };
  if (opts.labelTask) summary.chance = majorityLabelBaseline(opts.tasks.map((t) => t.expected));
  const flags = evalFlags(results, grades);
  if (flags) summary.flags = flags;
  return { rows, summary, mean: interval.mean, ci: interval.ci };
}
