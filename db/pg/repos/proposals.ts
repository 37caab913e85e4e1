import { and, eq, inArray } from "drizzle-orm";
import type { ProposalRepo } from "../../../src/core/iterate/types.ts";
import { asProposal as liteAsProposal } from "../../repos/proposals.ts";
import type { PgDb } from "../client.ts";
import { proposals, runs } from "../schema.ts";
import type { Async } from "./types.ts";

/** SQLite's row mapper (db/repos/proposals.ts): a Postgres row has the same fields and JS types. */
const asProposal = (r: typeof proposals.$inferSelect) => liteAsProposal(r as never);

/** Iteration proposals on Postgres (the contract of db/repos/proposals.ts). */
export function pgProposalRepo(db: PgDb): Async<ProposalRepo> {
  return {
    async addProposal(p) {
      return asProposal((await db.insert(proposals).values(p).returning())[0]);
    },
    async proposal(id) {
      const [r] = await db.select().from(proposals).where(eq(proposals.id, id));
      return r ? asProposal(r) : null;
    },
    async decideProposal(id, patch, from = "proposed") {
      // Compare-and-set: one UPDATE decides a proposal still `proposed`; a second approver (any replica) gets null.
      const [r] = await db
        .update(proposals)
        .set(patch)
        .where(and(eq(proposals.id, id), eq(proposals.state, from)))
        .returning();
      return r ? asProposal(r) : null;
    },
    async approvedProposals(experimentId) {
      const rows = await db
        .select()
        .from(proposals)
        .where(
          and(
            eq(proposals.state, "approved"),
            inArray(proposals.runId, db.select({ id: runs.id }).from(runs).where(eq(runs.experimentId, experimentId))),
          ),
        )
        .orderBy(proposals.id);
      return rows.map(asProposal);
    },
  };
}
