/** How clusters, proposals and the cluster before/after read in chat. */
import { fmt, list, table, text, type Block, type Card, type CardAction } from "../cards.ts";
import { cut } from "../evals/answers.ts";
import { formatRef } from "../datasets/names.ts";
import type { DatasetVersionRecord, ExperimentRecord, HypothesisRecord } from "../ports.ts";
import type { Cluster } from "./clusters.ts";
import type { ProposeOutcome } from "./service.ts";
import type { ClusterMeasure, ProposalRecord } from "./types.ts";

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export const CLUSTER_COLUMNS = ["#", "what they share", "failed rows", "regressed", "train rows near", "reason"];

export function clusterRow(c: Cluster): string[] {
  const near =
    c.trainSameAnswer !== null ? `${c.trainSameAnswer} same answer, ${c.trainNear} similar` : `${c.trainNear} similar`;
  return [String(c.k), c.label, String(c.size), String(c.regressed), near, cut(c.reason ?? "-", 80)];
}

/**
 * The clusters of a run's failures, for its thread: a table, the first cluster's example, propose buttons (they ask
 * `teacher`, TUNELOOP_TEACHER, when one is set; else they give a file to fill in).
 */
export function clustersCard(
  runId: number,
  clusters: Cluster[],
  failures: number,
  rows: number,
  teacher: string | null = null,
): Card {
  if (!clusters.length)
    return { title: `Failures of run ${runId}`, blocks: [text(`The tuned model failed none of ${rows} eval rows.`)] };
  const top = clusters[0];
  const actions: CardAction[] = clusters.slice(0, 3).map((c) => ({
    id: `propose-${c.k}`,
    label: `Propose rows for #${c.k}`,
    command: `iterate propose ${runId} --cluster ${c.k}`,
  }));
  return {
    title: `Failures of run ${runId}: ${fmt.count(clusters.length, "cluster")}`,
    blocks: [
      text(`${failures} of ${rows} eval rows failed, grouped by what they share:`),
      table(CLUSTER_COLUMNS, clusters.slice(0, 10).map(clusterRow)),
      text(
        `Example of #${top.k} (line ${top.example.line}): ${cut(top.example.prompt, 160)} → expected ${cut(top.example.expected, 60)}, answered ${cut(top.example.output, 80)}`,
      ),
      text(
        teacher
          ? `Buttons ask ${teacher} (TUNELOOP_TEACHER) for 20 rows; /tune iterate propose ${runId} --cluster ${top.k} --teacher none gives a file to fill in instead.`
          : `New rows for a cluster: /tune iterate propose ${runId} --cluster ${top.k} --rows 20 --teacher <endpoint:model> (without a teacher the buttons give a file to fill in; set TUNELOOP_TEACHER and they ask it).`,
      ),
    ],
    actions,
  };
}

export function proposalCard(o: ProposeOutcome, runId: number): Card {
  const c = o.cluster;
  if (!o.proposal) {
    return {
      title: `Cluster ${c.k} of run ${runId}: a file to fill in`,
      blocks: [
        text(
          `No teacher given: fill in ${o.files?.[0]?.name} with new rows like the ${c.size} failures in ${o.files?.[1]?.name} (new wording and details: rows that copy an eval prompt are refused at run start), then upload it with /tune dataset upload <name> --append-to ${o.train.replace(/@v\d+$/, "")}.`,
        ),
      ],
      files: o.files?.map((f) => ({ name: f.name, content: f.content, mime: "application/jsonl" })),
    };
  }
  const p = o.proposal;
  const d = o.dropped;
  const notes = [
    d.invalid.length ? `${fmt.count(d.invalid.length, "line")} invalid (${cut(d.invalid[0].reason, 80)})` : null,
    d.duplicates
      ? `${fmt.count(d.duplicates, "row")} dropped as duplicates of the training set or of each other`
      : null,
    d.evalOverlap ? `${fmt.count(d.evalOverlap, "row")} refused: they overlap the eval set` : null,
  ].filter((x): x is string => x !== null);
  return {
    title: `Proposal ${p.id}: ${fmt.count(p.rows.length, "row")} for cluster ${c.k} (${c.label})`,
    blocks: [
      text(
        `${p.teacher} wrote them from ${p.cluster.shown.length} of the cluster's failures (those rows are left out of the before/after measure); cost ${fmt.usd(o.usd)}.`,
      ),
      ...(notes.length ? [list(notes, "Left out")] : []),
      list(
        p.rows.slice(0, 5).map((r) => {
          const u = r.messages.findLast((m) => m.role === "user")?.content ?? "";
          const a = r.messages.at(-1)?.content ?? "";
          return `${cut(u, 120)} → ${cut(a, 60)}`;
        }),
        "First rows",
      ),
      text(
        `Approve adds them to ${o.train} as a new version and records a hypothesis; to edit, download the file, change it, and upload it with /tune dataset upload <name> --append-to ${o.train.replace(/@v\d+$/, "")}.`,
      ),
    ],
    files: [
      {
        name: `proposal-${p.id}.jsonl`,
        content: `${p.rows.map((r) => JSON.stringify(r)).join("\n")}\n`,
        mime: "application/jsonl",
      },
    ],
    actions: [
      { id: `approve-${p.id}`, label: "Approve", command: `iterate approve ${p.id}`, style: "primary" },
      { id: `reject-${p.id}`, label: "Reject", command: `iterate reject ${p.id}`, style: "danger" },
    ],
  };
}

export function approvedCard(
  p: ProposalRecord,
  v: DatasetVersionRecord,
  h: HypothesisRecord,
  exp: ExperimentRecord,
): Card {
  const ref = formatRef(v.name, v.version);
  return {
    title: `Approved proposal ${p.id}: ${ref}`,
    tone: "success",
    blocks: [
      text(`${ref} = the training set + ${fmt.count(p.rows.length, "approved row")} (${fmt.count(v.rows, "row")}).`),
      text(
        `Hypothesis #${h.id} recorded: "${h.text}". The next run on ${ref} decides it on the cluster's eval rows the teacher never saw.`,
      ),
    ],
    actions: [
      {
        id: `train-${p.id}`,
        label: `Train on ${ref}`,
        command: `run start ${ref} --experiment ${exp.name}`,
        style: "primary",
      },
    ],
  };
}

export function clusterMeasureBlocks(ms: ClusterMeasure[]): Block[] {
  if (!ms.length) return [];
  return [
    list(
      ms.map(
        (m) =>
          `${m.cluster}: ${pct(m.before.mean)} (run ${m.before.runId}) → ${pct(m.after.mean)} (this run), ${fmt.pts(m.diff)} (95% CI ${fmt.pts(m.ci[0])} to ${fmt.pts(m.ci[1])}, ${m.test} ${fmt.p(m.pValue)}, n = ${m.n}; ${fmt.count(m.leftOut, "row")} shown to the teacher left out)`,
      ),
      "Clusters the added rows were for (before → after)",
    ),
  ];
}
