import type { HypothesisVerdict } from "../ports.ts";
import type { Cluster } from "./clusters.ts";

/** `approving`: claimed by one approve while it writes the dataset version (a second approve is refused). */
export type ProposalState = "proposed" | "approving" | "approved" | "rejected";

/** A proposal's cluster as it was when the rows were written: which eval rows it held, which the teacher saw. */
export interface ProposalCluster {
  k: number;
  key: string;
  label: string;
  rowIndexes: number[];
  /** Eval rows shown to the teacher as examples: left out of the before/after measure. */
  shown: number[];
  /** The eval whose failures made the cluster (the source run's tuned eval): the "before" of the measure. */
  evalId: number;
  metric: string;
}

export interface ProposedRow {
  messages: Array<{ role: "system" | "user" | "assistant"; content: string }>;
}

export interface ProposalRecord {
  id: number;
  runId: number;
  cluster: ProposalCluster;
  rows: ProposedRow[];
  teacher: string | null;
  state: ProposalState;
  createdBy: string | null;
  createdAt: Date;
  decidedBy: string | null;
  decidedAt: Date | null;
  datasetVersionId: number | null;
  hypothesisId: number | null;
}

export interface ProposalRepo {
  addProposal(
    p: Omit<ProposalRecord, "id" | "decidedBy" | "decidedAt" | "datasetVersionId" | "hypothesisId">,
  ): ProposalRecord;
  proposal(id: number): ProposalRecord | null;
  /** Compare-and-set: moves a proposal still in state `from` (default `proposed`); null when it was not in it. */
  decideProposal(
    id: number,
    patch: Pick<ProposalRecord, "state" | "decidedBy" | "decidedAt"> &
      Partial<Pick<ProposalRecord, "datasetVersionId" | "hypothesisId">>,
    from?: ProposalState,
  ): ProposalRecord | null;
  /** Approved proposals of the runs of an experiment. */
  approvedProposals(experimentId: number): ProposalRecord[];
}

/** The before/after of one cluster in a run's verdict. */
export interface ClusterMeasure {
  proposalId: number;
  cluster: string;
  /** Eval rows measured (the cluster's, less those shown to the teacher), and those left out. */
  n: number;
  leftOut: number;
  before: { runId: number; mean: number };
  after: { mean: number };
  diff: number;
  ci: [number, number];
  pValue: number;
  test: string;
  hypothesis: { id: number; text: string; verdict: HypothesisVerdict } | null;
}

export type { Cluster };
