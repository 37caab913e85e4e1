/**
 * What a model answered, row by row: the prompt, the expected answer, the answer and the grader's reason, for
 * `/tune eval show`, the examples in a verdict's thread, and the per-row JSONL file that goes with both.
 *
 * Answers are model output and prompts come from uploaded files: in chat they are hostile text. They are shown only
 * inside code blocks (which every renderer shows verbatim: Slack escapes &, < and >, Discord fences them and
 * mentions nothing, the console prints them), cut to a few lines each; the file has them whole.
 */
import { ErrorCode, TuneError } from "../../errors.ts";
import { type Block, type CardFile, text } from "../cards.ts";
import type { ChatMessage } from "../datasets/types.ts";
import type { DatasetService } from "../datasets/service.ts";
import { latestEvalOf } from "../experiments/evals.ts";
import { parseRunRef } from "../models.ts";
import type { EngineRepo, EvalRecord } from "../ports.ts";
import { evalTasks } from "./runner.ts";

export interface AnswerRow {
  line: number;
  rowIndex: number;
  /** The messages the model was given (everything before the expected answer). */
  messages: ChatMessage[];
  expected: string;
  answer: string;
  pass: boolean;
  score: number;
  reason: string;
  /** The base model on the same row, when the eval is a tuned model's. */
  base: { answer: string; pass: boolean; score: number } | null;
  latencyMs: number;
  inputTokens: number;
  outputTokens: number;
  cluster: string | null;
}

/** Rows shown in chat unless --limit says otherwise; the file always has all of them. */
export const DEFAULT_SHOWN_ROWS = 10;
/** Characters of each text shown in chat (the rest is in the file). */
export const SHOWN_CHARS = { prompt: 240, expected: 160, answer: 240, reason: 160 };
const SHOWN_LINES = 4;

export interface ResolvedEval {
  eval: EvalRecord;
  /** The base model's eval this one is compared with (a tuned model's only). */
  base: EvalRecord | null;
}

/** An eval id ("12") or a run ("run:3", its tuned eval), with the base eval a tuned model is compared with. */
export function resolveEval(repo: EngineRepo, ref: string): ResolvedEval {
  const runId = parseRunRef(ref);
  let ev: EvalRecord | null;
  if (runId !== null) {
    const run = repo.runById(runId);
    if (!run) throw new TuneError(ErrorCode.RunNotFound, `No run ${runId}. See /tune run list.`);
    ev = repo.evals({ runId, state: "succeeded" }).find((e) => e.role === "tuned") ?? null;
    if (!ev)
      throw new TuneError(
        ErrorCode.EvalNotFound,
        `Run ${runId} has no finished eval of its tuned model yet (it is ${run.state.replace("_", " ")}). See /tune run status ${runId}.`,
      );
  } else if (/^(?:eval[:#]?)?\d+$/i.test(ref.trim())) {
    const id = Number(ref.trim().replace(/^eval[:#]?/i, ""));
    ev = repo.evalById(id);
    if (!ev)
      throw new TuneError(
        ErrorCode.EvalNotFound,
        `No eval ${id}. Eval ids are in /tune leaderboard --json, or use run:N.`,
      );
  } else {
    throw new TuneError(
      ErrorCode.InvalidOptions,
      `"${ref.slice(0, 60)}" is not an eval: give an eval id (e.g. 12) or run:N for a run's tuned model.`,
    );
  }
  if (ev.state !== "succeeded")
    throw new TuneError(
      ErrorCode.EvalNotFound,
      `Eval ${ev.id} ${ev.state === "running" ? "is still running" : "failed"}.`,
    );
  let base: EvalRecord | null = null;
  if (ev.role === "tuned" && ev.runId !== null) {
    const run = repo.runById(ev.runId);
    const exp = run ? repo.experimentById(run.experimentId) : null;
    if (run && exp && exp.evalVersionId === ev.datasetVersionId && exp.metric === ev.metric)
      base = latestEvalOf(repo, exp, `${run.provider}:${run.baseModel}`);
  }
  return { eval: ev, base };
}

function reasonOf(metric: string, r: { pass: boolean; score: number; detail: string | null }): string {
  const verdict = `${r.pass ? "passed" : "failed"} ${metric}${r.score !== 0 && r.score !== 1 ? ` (score ${r.score.toFixed(2)})` : ""}`;
  return r.detail ? `${verdict}: ${r.detail}` : verdict;
}

/** Every row of an eval with its prompt (read back from the eval set) and, for a tuned model, the base's answer. */
export async function answerRows(
  deps: { repo: EngineRepo; datasets: DatasetService },
  resolved: ResolvedEval,
): Promise<AnswerRow[]> {
  const ev = resolved.eval;
  const version = deps.datasets.byId(ev.datasetVersionId);
  const tasks = evalTasks(await deps.datasets.allRows(version), deps.datasets.refOf(version.id));
  const base = resolved.base ? new Map(deps.repo.evalRows(resolved.base.id).map((r) => [r.rowIndex, r])) : null;
  return deps.repo.evalRows(ev.id).map((r) => {
    const b = base?.get(r.rowIndex);
    return {
      line: r.line,
      rowIndex: r.rowIndex,
      messages: tasks[r.rowIndex]?.messages ?? [],
      expected: r.expected,
      answer: r.output,
      pass: r.pass,
      score: r.score,
      reason: reasonOf(ev.metric, r),
      base: b ? { answer: b.output, pass: b.pass, score: b.score } : null,
      latencyMs: r.latencyMs,
      inputTokens: r.inputTokens,
      outputTokens: r.outputTokens,
      cluster: r.cluster,
    };
  });
}

/** Rows the base model got right and this model got wrong (or scored lower on). */
export const regressed = (r: AnswerRow) => r.base !== null && r.score < r.base.score;

/** One row as JSON (the `--json` rows of `eval show` and the lines of its file). */
export function answerJson(r: AnswerRow) {
  return {
    line: r.line,
    messages: r.messages,
    expected: r.expected,
    answer: r.answer,
    pass: r.pass,
    score: r.score,
    reason: r.reason,
    ...(r.base ? { base: r.base, regressed: regressed(r) } : {}),
    latencyMs: Math.round(r.latencyMs * 10) / 10,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    ...(r.cluster !== null ? { cluster: r.cluster } : {}),
  };
}

/** The JSONL file of every row (one JSON object a line), as a card file kept in the data folder. */
export function answersFile(ev: EvalRecord, rows: AnswerRow[]): CardFile {
  const lines = rows.map((r) => JSON.stringify({ eval: ev.id, model: ev.model, ...answerJson(r) }));
  return {
    name: `eval-${ev.id}-rows.jsonl`,
    content: `${lines.join("\n")}\n`,
    mime: "application/jsonl",
    title: `Eval ${ev.id}: every row of ${ev.model} (JSONL)`,
  };
}

/** At most `chars` characters and SHOWN_LINES lines of `s`, saying how much was cut. */
export function cut(s: string, chars: number): string {
  const oneSpace = s.replace(/\r\n?/g, "\n");
  const lines = oneSpace.split("\n");
  let out = lines.slice(0, SHOWN_LINES).join("\n");
  if (out.length > chars) out = out.slice(0, chars);
  const left = oneSpace.length - out.length;
  return left > 0 ? `${out.trimEnd()}… (+${left.toLocaleString("en-US")} chars)` : out;
}

const indent = (s: string) => s.replace(/\n/g, "\n          ");

/** The prompt as shown: the last user message (the system prompt and earlier turns are in the file). */
function promptText(messages: ChatMessage[]): string {
  const users = messages.filter((m) => m.role === "user");
  const last = users[users.length - 1] ?? messages[messages.length - 1];
  const content = typeof last?.content === "string" ? last.content : JSON.stringify(last?.content ?? "");
  const earlier = messages.length - 1;
  return earlier > 0 ? `${content}\n(+${earlier} earlier message${earlier === 1 ? "" : "s"})` : content;
}

/** One row as a code block: line, verdict, prompt, expected, answer, the grader's reason (each cut for chat). */
export function answerBlock(r: AnswerRow): Block {
  const rows = [
    `line ${r.line} · ${r.pass ? "right" : "wrong"}${r.base ? ` · base ${r.base.pass ? "right" : "wrong"}` : ""}`,
    `prompt:   ${indent(cut(promptText(r.messages), SHOWN_CHARS.prompt))}`,
    `expected: ${indent(cut(r.expected, SHOWN_CHARS.expected))}`,
    `answer:   ${indent(cut(r.answer, SHOWN_CHARS.answer))}`,
    `grader:   ${indent(cut(r.reason, SHOWN_CHARS.reason))}`,
  ];
  return { type: "code", text: rows.join("\n") };
}

/** The examples of a verdict: rows that regressed against the base first, then other wrong answers. */
export function failedExamples(rows: AnswerRow[], n: number): AnswerRow[] {
  return [...rows.filter(regressed), ...rows.filter((r) => !r.pass && !regressed(r))].slice(0, n);
}

/** The blocks a verdict's thread gets: a few wrong answers, and how to see the rest. */
export function verdictExampleBlocks(model: string, rows: AnswerRow[], runId: number, n = 3): Block[] {
  const wrong = rows.filter((r) => !r.pass);
  if (!wrong.length) return [text(`${model} answered all ${rows.length} eval rows right.`)];
  const shown = failedExamples(rows, n);
  const reg = rows.filter(regressed).length;
  return [
    text(
      `${shown.length < wrong.length ? `${shown.length} of the ${wrong.length} rows` : wrong.length === 1 ? "The row" : `The ${wrong.length} rows`} ${model} got wrong${reg ? ` (${reg} of them right before tuning)` : ""}. More: /tune eval show run:${runId} --failed${reg ? " or --regressed" : ""}; every row is in the attached file.`,
    ),
    ...shown.map(answerBlock),
  ];
}
