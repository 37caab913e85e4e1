import { and, eq, inArray } from "drizzle-orm";
import type { ProposalRecord, ProposalRepo } from "../../src/core/iterate/types.ts";
import type { Db } from "../client.ts";
import { proposals, runs } from "../schema.ts";

export const asProposal = (r: typeof proposals.$inferSelect): ProposalRecord => ({
  ...r,
  cluster: r.cluster as ProposalRecord["cluster"],
  rows: r.rows as ProposalRecord["rows"],
  state: r.state as ProposalRecord["state"],
});

export function proposalRepo(db: Db): ProposalRepo {
  return {
    addProposal(p) {
      return asProposal(db.insert(proposals).values(p).returning().get());
    },
    proposal(id) {
      const r = db.select().from(proposals).where(eq(proposals.id, id)).get();
      return r ? asProposal(r) : null;
    },
    decideProposal(id, patch, from = "proposed") {
      const r = db
        .update(proposals)
        .set(patch)
        .where(and(eq(proposals.id, id), eq(proposals.state, from)))
        .returning()
        .get();
      return r ? asProposal(r) : null;
    },
    approvedProposals(experimentId) {
      const ids = db.select({ id: runs.id }).from(runs).where(eq(runs.experimentId, experimentId)).all();
      if (!ids.length) return [];
      return db
        .select()
        .from(proposals)
        .where(
          and(
            eq(proposals.state, "approved"),
            inArray(
              proposals.runId,
              ids.map((x) => x.id),
            ),
          ),
        )
        .all()
        .map(asProposal);
    },
  };
}
