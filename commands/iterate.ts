/** From failures to new rows: a run's failure clusters, rows proposed for one, approved or rejected in the thread. */
import { z } from "zod";
import { formatRef } from "../src/core/datasets/names.ts";
import { approvedCard, clustersCard, proposalCard } from "../src/core/iterate/cards.ts";
import { points } from "./experiment.ts";
import { defineCommand } from "./types.ts";

const id = z.coerce.number().int().positive();
export const iterateClusters = defineCommand({
  path: ["iterate", "clusters"],
  summary: "Cluster a run's failures.",
  options: z.object({ run: id.describe("run") }),
  positional: ["run"],
  permission: "read",
  examples: ["/tune iterate clusters 3"],
  async handler(ctx, input) {
    const c = await ctx.app.iterate.clusters(input.run);
    return {
      card: clustersCard(input.run, c.clusters, c.failures, c.rows, ctx.app.config.teacher),
      data: { run: input.run, failures: c.failures, rows: c.rows, clusters: c.clusters },
    };
  },
});

export const iteratePropose = defineCommand({
  path: ["iterate", "propose"],
  summary: "Propose training rows for a failure cluster.",
  options: z.object({
    run: id.describe("run"),
    cluster: id.default(1).describe("cluster"),
    rows: z.coerce.number().int().min(1).max(200).default(20).describe("rows"),
    teacher: z
      .string()
      .optional()
      .describe("teacher endpoint:model, or none: a file to fill in (default TUNELOOP_TEACHER)"),
  }),
  positional: ["run"],
  permission: "spend",
  examples: [
    "/tune iterate propose 3 --cluster 1 --rows 20 --teacher openai:gpt-4o",
    "/tune iterate propose 3 --cluster 2",
  ],
  async handler(ctx, input) {
    // the setting's teacher unless one is named; `none`: the file to fill in
    const teacher =
      input.teacher?.trim().toLowerCase() === "none"
        ? undefined
        : (input.teacher ?? ctx.app.config.teacher ?? undefined);
    if (teacher)
      ctx.progress(`Asking ${teacher} for ${input.rows} rows for cluster ${input.cluster} of run ${input.run}...`);
    const o = await ctx.app.iterate.propose({
      runId: input.run,
      cluster: input.cluster,
      rows: input.rows,
      teacher,
      user: ctx.user.name,
    });
    return {
      card: proposalCard(o, input.run),
      data: {
        proposal: o.proposal
          ? {
              id: o.proposal.id,
              rows: o.proposal.rows.length,
              state: o.proposal.state,
              teacher: o.proposal.teacher,
              shown: o.proposal.cluster.shown.length,
            }
          : null,
        cluster: { k: o.cluster.k, label: o.cluster.label, size: o.cluster.size },
        dropped: {
          invalid: o.dropped.invalid.length,
          duplicates: o.dropped.duplicates,
          evalOverlap: o.dropped.evalOverlap,
        },
        usd: o.usd,
        files: o.files?.map((f) => f.name) ?? [],
      },
    };
  },
});

export const iterateApprove = defineCommand({
  path: ["iterate", "approve"],
  summary: "Approve a proposal: new dataset version + hypothesis.",
  options: z.object({
    proposal: id.describe("proposal"),
    expect: points.optional().describe("expected rise, e.g. +10pts"),
  }),
  positional: ["proposal"],
  permission: "write",
  examples: ["/tune iterate approve 4", "/tune iterate approve 4 --expect +20pts"],
  async handler(ctx, input) {
    const r = await ctx.app.iterate.approve(input.proposal, { user: ctx.user.name, expectPts: input.expect });
    return {
      card: approvedCard(r.proposal, r.version, r.hypothesis, r.experiment),
      data: {
        proposal: r.proposal.id,
        dataset: formatRef(r.version.name, r.version.version),
        rows: r.version.rows,
        hypothesis: { id: r.hypothesis.id, text: r.hypothesis.text, expectPts: r.hypothesis.expectPts },
      },
    };
  },
});

export const iterateReject = defineCommand({
  path: ["iterate", "reject"],
  summary: "Reject a proposal.",
  options: z.object({ proposal: id.describe("proposal") }),
  positional: ["proposal"],
  permission: "write",
  examples: ["/tune iterate reject 4"],
  async handler(ctx, input) {
    const p = ctx.app.iterate.reject(input.proposal, ctx.user.name);
    return { card: { title: `Rejected proposal ${p.id}`, blocks: [] }, data: { proposal: p.id, state: p.state } };
  },
});

export const proposeCommands = [iterateClusters, iteratePropose, iterateApprove, iterateReject];
