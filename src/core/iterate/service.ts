/**
 * From failures to new rows: clusters of a run's failures, rows proposed for one by a teacher (or a file to fill
 * in), approval into a new dataset version with a hypothesis, and the cluster's before/after in the verdict of the
 * run that trains on it (docs/iterate.md).
 */
import { TuneError } from "../../errors.ts";
import { assertFits, priced, usd as usdText } from "../costs/budget.ts";
import { round } from "../costs/ledger.ts";
import { findOverlap, promptKey } from "../datasets/dedupe.ts";
import type { DatasetService } from "../datasets/service.ts";
import type { LocatedRow, NormalizedRow } from "../datasets/types.ts";
import { formatRef } from "../datasets/names.ts";
import { answerRows, resolveEval } from "../evals/answers.ts";
import type { ExperimentService } from "../experiments/service.ts";
import { hypothesisVerdict } from "../experiments/hypotheses.ts";
import { resolveModel, type ProviderSet } from "../models.ts";
import type { Clock, EngineRepo, EvalRecord, ExperimentRecord, RunRecord } from "../ports.ts";
import { pairedComparison } from "../stats.ts";
import { type Cluster, clusterFailures } from "./clusters.ts";
import { parseTeacherReply, TEACHER_TOKENS_PER_ROW, teacherMessages } from "./teacher.ts";
import type { ClusterMeasure, ProposalRecord, ProposalRepo, ProposedRow } from "./types.ts";

/** Failing eval rows shown to the teacher as examples (and so left out of the measure). */
export const SHOWN_EXAMPLES = 5;
export const MAX_PROPOSED_ROWS = 200;

const lastUser = (messages: Array<{ role: string; content: string | null }>) =>
  [...messages].reverse().find((m) => m.role === "user")?.content ?? "";

function promptExpected(r: NormalizedRow): { prompt: string; expected: string } {
  const msgs = r.messages ?? [];
  const a = msgs.map((m) => m.role).lastIndexOf("assistant");
  return { prompt: lastUser(a >= 0 ? msgs.slice(0, a) : msgs), expected: a >= 0 ? (msgs[a].content ?? "") : "" };
}

export interface ProposeOutcome {
  proposal: ProposalRecord | null;
  cluster: Cluster;
  /** Without a teacher: the file to fill in and the cluster's failures, for `dataset upload --append-to`. */
  files?: Array<{ name: string; content: string }>;
  dropped: { invalid: Array<{ line: number; reason: string }>; duplicates: number; evalOverlap: number };
  usd: number;
  train: string;
}

export class IterateService {
  constructor(
    private readonly repo: ProposalRepo,
    private readonly engine: EngineRepo,
    private readonly datasets: DatasetService,
    private readonly experiments: ExperimentService,
    private readonly providers: ProviderSet,
    private readonly clock: Clock,
  ) {}

  private runOf(runId: number): { run: RunRecord; exp: ExperimentRecord } {
    const run = this.engine.runById(runId);
    if (!run) throw new TuneError("run_not_found", `No run ${runId}. See /tune run list.`);
    const exp = this.engine.experimentById(run.experimentId);
    if (!exp) throw new TuneError("experiment_not_found", `Run ${runId}'s experiment is gone.`);
    return { run, exp };
  }

  /** The run's failure clusters (the tuned model's failed rows, regressions against the base marked). */
  async clusters(runId: number): Promise<{ clusters: Cluster[]; tuned: EvalRecord; failures: number; rows: number }> {
    const { run } = this.runOf(runId);
    const resolved = resolveEval(this.engine, `run:${runId}`);
    const rows = await answerRows({ repo: this.engine, datasets: this.datasets }, resolved);
    const failures = rows
      .filter((r) => r.score < 1)
      .map((r) => ({
        rowIndex: r.rowIndex,
        line: r.line,
        prompt: lastUser(r.messages),
        expected: r.expected,
        output: r.answer,
        reason: r.reason.replace(/^failed [^:]*: ?/, "") || null,
        regressed: r.base !== null && r.base.score > r.score,
      }));
    const train = (await this.datasets.allRows(this.datasets.byId(run.datasetVersionId))).map(promptExpected);
    return {
      clusters: clusterFailures(failures, train),
      tuned: resolved.eval,
      failures: failures.length,
      rows: rows.length,
    };
  }

  async propose(opts: {
    runId: number;
    cluster?: number;
    rows?: number;
    teacher?: string;
    user: string;
    signal?: AbortSignal;
  }): Promise<ProposeOutcome> {
    const { run, exp } = this.runOf(opts.runId);
    const { clusters, tuned } = await this.clusters(opts.runId);
    if (!clusters.length)
      throw new TuneError(
        "no_failures",
        `Run ${opts.runId}'s tuned model failed no eval row: there is nothing to cluster.`,
      );
    const k = opts.cluster ?? 1;
    const cluster = clusters[k - 1];
    if (!cluster)
      throw new TuneError(
        "cluster_not_found",
        `Run ${opts.runId} has ${clusters.length} cluster(s); pick one of 1-${clusters.length}.`,
      );
    const n = Math.min(opts.rows ?? 20, MAX_PROPOSED_ROWS);
    const trainVersion = this.datasets.byId(run.datasetVersionId);
    const train = formatRef(trainVersion.name, trainVersion.version);
    const evalRowsAll = await this.datasets.allRows(this.datasets.byId(exp.evalVersionId));
    const failing = cluster.rowIndexes.map((i) => promptExpected(evalRowsAll[i]));
    const dropped = { invalid: [] as Array<{ line: number; reason: string }>, duplicates: 0, evalOverlap: 0 };

    if (!opts.teacher) {
      // a file to fill in, and the failures it is for (read them, do not copy them: the eval set must stay unseen)
      const blank = JSON.stringify({
        messages: [
          { role: "user", content: "" },
          { role: "assistant", content: "" },
        ],
      });
      return {
        proposal: null,
        cluster,
        files: [
          { name: `run-${run.id}-cluster-${k}-new-rows.jsonl`, content: `${Array(n).fill(blank).join("\n")}\n` },
          {
            name: `run-${run.id}-cluster-${k}-failures.jsonl`,
            content: `${cluster.rowIndexes
              .map((i, j) =>
                JSON.stringify({
                  line: cluster.lines[j],
                  prompt: failing[j].prompt,
                  expected: failing[j].expected,
                  answer: i === cluster.example.line ? cluster.example.output : undefined,
                }),
              )
              .join("\n")}\n`,
          },
        ],
        dropped,
        usd: 0,
        train,
      };
    }

    const { model, ref } = resolveModel(opts.teacher, this.providers, this.engine);
    const shown = cluster.rowIndexes.slice(0, SHOWN_EXAMPLES);
    const trainRows = await this.datasets.allRows(trainVersion);
    const messages = teacherMessages(
      cluster.label,
      shown.map((i) => promptExpected(evalRowsAll[i])),
      trainRows.slice(0, 3).map(promptExpected),
      n,
    );
    const maxTokens = n * TEACHER_TOKENS_PER_ROW + 50;
    const chars = messages.reduce((s, m) => s + m.content.length, 0);
    const estimate = priced(model.pricing, { inputTokens: Math.ceil(chars / 3), outputTokens: maxTokens });
    // One request, bounded by its max_tokens: refused up front when its most could pass the budget, and booked at
    // that most in the same synchronous step (no await between the check and the booking), so every other check
    // (another propose, a run start, an eval) sees it while the teacher answers; settled to its actual cost after.
    assertFits(
      this.engine,
      this.clock,
      exp,
      estimate,
      `Asking ${ref} for ${n} rows`,
      "ask for fewer rows or use a cheaper teacher",
    );
    const ledgerId = this.engine.addLedger({
      at: this.clock.now(),
      kind: "eval",
      estimated: false,
      experimentId: exp.id,
      runId: null,
      evalId: null,
      provider: model.provider,
      model: ref,
      trainingTokens: 0,
      inputTokens: 0,
      outputTokens: 0,
      usd: estimate,
      wallMs: 0,
    });
    let reply: Awaited<ReturnType<typeof model.completeAll>>[number];
    try {
      [reply] = await model.completeAll([{ messages, maxTokens, temperature: 0.7 }], { signal: opts.signal });
    } catch (err) {
      this.engine.bookLedger(ledgerId, { inputTokens: 0, outputTokens: 0, usd: -estimate });
      throw err;
    }
    const cost = priced(model.pricing, reply);
    this.engine.bookLedger(ledgerId, {
      inputTokens: reply.inputTokens,
      outputTokens: reply.outputTokens,
      usd: cost - estimate,
      wallMs: Math.round(reply.latencyMs),
    });
    const parsed = parseTeacherReply(reply.text);
    dropped.invalid = parsed.dropped;
    // deduplicated against the training set and among themselves; refused when they overlap the eval set
    const located = parsed.rows.map((r, i) => ({ line: i + 1, row: { kind: "chat", ...r } as NormalizedRow }));
    const dupTrain = findOverlap(
      located,
      trainRows.map((r) => ({ line: r.line, row: r })),
    );
    const inEval = findOverlap(
      located,
      evalRowsAll.map((r) => ({ line: r.line, row: r })),
    );
    const bad = (o: ReturnType<typeof findOverlap>) =>
      new Set([...o.exact, ...o.samePrompt, ...o.near].map((p) => p.aLine));
    const dupLines = bad(dupTrain);
    const evalLines = bad(inEval);
    const seen = new Set<string>();
    const kept: ProposedRow[] = [];
    for (const { line, row } of located) {
      if (evalLines.has(line)) {
        dropped.evalOverlap++;
        continue;
      }
      const key = promptKey(row);
      if (dupLines.has(line) || seen.has(key)) {
        dropped.duplicates++;
        continue;
      }
      seen.add(key);
      // a teacher that writes more than asked (up to its reply's line cap) adds no more than was asked for
      if (kept.length >= n) {
        dropped.invalid.push({ line, reason: `beyond the ${n} rows asked for` });
        continue;
      }
      kept.push({ messages: (row.messages ?? []) as ProposedRow["messages"] });
    }
    const proposal = this.repo.addProposal({
      runId: run.id,
      cluster: {
        k,
        key: cluster.key,
        label: cluster.label,
        rowIndexes: cluster.rowIndexes,
        shown,
        evalId: tuned.id,
        metric: exp.metric,
      },
      rows: kept,
      teacher: ref,
      state: "proposed",
      createdBy: opts.user,
      createdAt: this.clock.now(),
    });
    return { proposal, cluster, dropped, usd: round(cost), train };
  }

  proposal(id: number): ProposalRecord {
    const p = this.repo.proposal(id);
    if (!p) throw new TuneError("proposal_not_found", `No proposal ${id}.`);
    return p;
  }

  /** Why a proposal cannot be decided any more: approved, rejected, or being approved (by whom). */
  private decided(p: ProposalRecord): TuneError {
    const what =
      p.state === "approving"
        ? `is being approved${p.decidedBy ? ` by ${p.decidedBy}` : ""} now (if a restart cut that short, propose again)`
        : `was already ${p.state}`;
    return new TuneError("proposal_decided", `Proposal ${p.id} ${what}.`);
  }

  /**
   * Approve: the training set plus the rows becomes a new version, and a hypothesis is recorded for it. The proposal
   * is claimed first (compare-and-set to `approving`), so two approves at once (a double click, two people, two
   * processes) make one version: the second is refused before it writes anything.
   */
  async approve(id: number, opts: { user: string; expectPts?: number }) {
    const p = this.proposal(id);
    if (p.state !== "proposed") throw this.decided(p);
    if (!p.rows.length) throw new TuneError("proposal_empty", `Proposal ${id} has no rows left to add; propose again.`);
    const { run, exp } = this.runOf(p.runId);
    const claim = { decidedBy: opts.user, decidedAt: this.clock.now() };
    if (!this.repo.decideProposal(id, { state: "approving", ...claim })) throw this.decided(this.proposal(id));
    let version: Awaited<ReturnType<DatasetService["appendRows"]>>;
    let h: ReturnType<ExperimentService["addHypothesis"]>;
    try {
      version = await this.datasets.appendRows(
        run.datasetVersionId,
        p.rows.map((r) => ({ kind: "chat" as const, ...r })),
        { user: opts.user, from: `proposal ${id}` },
      );
      const expect = opts.expectPts ?? 10;
      h = this.experiments.addHypothesis({
        experiment: exp.name,
        text: `adding ${p.rows.length} rows on cluster ${p.cluster.k} (${p.cluster.label}) raises ${p.cluster.metric} on that cluster by >= ${expect} pts`,
        metric: p.cluster.metric,
        expectPts: expect,
        user: opts.user,
      });
    } catch (err) {
      this.repo.decideProposal(id, { state: "proposed", decidedBy: null, decidedAt: null }, "approving");
      throw err;
    }
    const done = this.repo.decideProposal(
      id,
      { state: "approved", ...claim, datasetVersionId: version.id, hypothesisId: h.id },
      "approving",
    );
    if (!done) throw this.decided(this.proposal(id));
    return { proposal: done, version, hypothesis: h, experiment: exp };
  }

  reject(id: number, user: string): ProposalRecord {
    const p = this.repo.decideProposal(id, { state: "rejected", decidedBy: user, decidedAt: this.clock.now() });
    if (!p) throw this.decided(this.proposal(id));
    return p;
  }

  /** Hypotheses that belong to proposals: only a run on the proposal's dataset version decides them. */
  ownedHypotheses(experimentId: number): Set<number> {
    return new Set(
      this.repo
        .approvedProposals(experimentId)
        .map((p) => p.hypothesisId)
        .filter((x): x is number => x !== null),
    );
  }

  /**
   * For a run trained on an approved proposal's version: its cluster before (the source run's tuned model) and
   * after (this run's), paired on the cluster's eval rows the teacher never saw; decides the proposal's hypothesis.
   */
  forRun(run: RunRecord, exp: ExperimentRecord, tunedEval: EvalRecord): ClusterMeasure[] {
    const out: ClusterMeasure[] = [];
    for (const p of this.repo.approvedProposals(exp.id)) {
      if (p.datasetVersionId !== run.datasetVersionId) continue;
      const shown = new Set(p.cluster.shown);
      const rows = p.cluster.rowIndexes.filter((i) => !shown.has(i));
      const before = new Map(this.engine.evalRows(p.cluster.evalId).map((r) => [r.rowIndex, r.score]));
      const after = new Map(this.engine.evalRows(tunedEval.id).map((r) => [r.rowIndex, r.score]));
      const paired = rows.filter((i) => before.has(i) && after.has(i));
      if (!paired.length || tunedEval.metric !== p.cluster.metric) continue;
      const c = pairedComparison(
        paired.map((i) => before.get(i)!),
        paired.map((i) => after.get(i)!),
        { alpha: exp.alpha },
      );
      let hypothesis: ClusterMeasure["hypothesis"] = null;
      const h =
        p.hypothesisId !== null ? this.engine.hypotheses(exp.id).find((x) => x.id === p.hypothesisId) : undefined;
      if (h && !h.verdict) {
        const verdict = hypothesisVerdict(c, h.expectPts);
        this.engine.decideHypothesis(h.id, run.id, verdict, this.clock.now());
        hypothesis = { id: h.id, text: h.text, verdict };
      }
      out.push({
        proposalId: p.id,
        cluster: `cluster ${p.cluster.k} of run ${p.runId} (${p.cluster.label})`,
        n: paired.length,
        leftOut: p.cluster.rowIndexes.length - rows.length,
        before: { runId: p.runId, mean: c.meanA },
        after: { mean: c.meanB },
        diff: c.diff,
        ci: c.ci,
        pValue: c.pValue,
        test: c.test,
        hypothesis,
      });
    }
    return out;
  }

  /** What a teacher's proposal may cost at most, for people. */
  static costLine(usd: number): string {
    return usdText(usd);
  }
}

export type { LocatedRow };
