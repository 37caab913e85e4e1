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

export async function runEval(opts: {
  model: InferenceModel;
  tasks: EvalTask[];
  grade: (input: GradeInput) => Promise<Grade>;
  maxTokens?: number;
  labelTask?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Prices of the judge model, to book grading cost (null: no judge or unknown price). */
  judgeUsd?: (usage: { inputTokens: number; outputTokens: number }) => number;
}): Promise<EvalRun> {
  const started = performance.now();
  const maxTokens = opts.maxTokens ?? defaultMaxTokens(opts.tasks);
  const requests: CompletionRequest[] = opts.tasks.map((t) => ({
    messages: t.messages,
    maxTokens,
    temperature: 0,
    seed: 0,
  }));
  const grades: Array<Promise<Grade>> = new Array(opts.tasks.length);
  let done = 0;
  const results = await opts.model.completeAll(requests, {
    signal: opts.signal,
    onResult: (i, r) => {
      // Grade as answers arrive (a judge grader then overlaps with inference).
      grades[i] = opts.grade({ output: r.text, expected: opts.tasks[i].expected, row: opts.tasks[i] });
      done++;
      opts.onProgress?.(done, opts.tasks.length);
    },
  });
  for (let i = 0; i < results.length; i++) {
    grades[i] ??= opts.grade({ output: results[i].text, expected: opts.tasks[i].expected, row: opts.tasks[i] });
  }
  const graded = await Promise.all(grades);
  let judgeUsd = 0;
  const rows = opts.tasks.map((t, i) => {
    const r = results[i];
    const g = graded[i];
    if (g.usage && opts.judgeUsd) judgeUsd += opts.judgeUsd(g.usage);
    return {
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
  });
  const interval = meanInterval(rows.map((r) => r.score));
  const inputTokens = rows.reduce((a, r) => a + r.inputTokens, 0);
  const outputTokens = rows.reduce((a, r) => a + r.outputTokens, 0);
  const latencies = results.map((r) => r.latencyMs);
  const p = opts.model.pricing;
  const summary: EvalSummary = {
    method: interval.method,
    se: interval.se,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95) },
    inputTokens,
    outputTokens,
    usd: p ? (inputTokens * p.inputPer1M + outputTokens * p.outputPer1M) / 1e6 : null,
    judgeUsd,
    wallMs: Math.round(performance.now() - started),
  };
  if (opts.labelTask) summary.chance = majorityLabelBaseline(opts.tasks.map((t) => t.expected));
  const flags = evalFlags(results, graded);
  if (flags) summary.flags = flags;
  return { rows, summary, mean: interval.mean, ci: interval.ci };
}
