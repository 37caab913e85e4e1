import fs from "node:fs";
import { z } from "zod";
import { fmt, list, table, text } from "../src/core/cards.ts";
import { packCompareCard, packComparisonJson, packRunCard } from "../src/core/packs/cards.ts";
import { MAX_PACK_BYTES } from "../src/core/packs/parse.ts";
import { unitCount } from "../src/core/packs/service.ts";
import { TuneError } from "../src/errors.ts";
import { defineCommand } from "./types.ts";

export const packAdd = defineCommand({
  path: ["pack", "add"],
  summary: "Add an eval pack from a .jsonl of probes; a new version each time.",
  options: z.object({
    name: z.string().describe("pack name"),
    description: z.string().max(300).optional().describe("what it checks"),
  }),
  positional: ["name"],
  attachment: "required",
  attachmentDescription: "the pack file (.jsonl of probes)",
  permission: "write",
  examples: [
    "/tune pack add support-guardrails (with pack.jsonl attached)",
    "npx tuneloop pack add support-guardrails pack.jsonl",
  ],
  async handler(ctx, input) {
    const att = ctx.attachment;
    if (!att) throw new Error("attachment checked by the dispatcher");
    let size: number;
    try {
      size = fs.statSync(att.path).size;
    } catch {
      throw new TuneError("pack_file_not_found", `Cannot read ${att.filename}: check the file and try again.`);
    }
    if (size > MAX_PACK_BYTES)
      throw new TuneError(
        "pack_too_large",
        `${att.filename} is ${fmt.bytes(size)}; a pack file is at most 5 MB: split it.`,
      );
    const p = ctx.app.packs.add(input.name, fs.readFileSync(att.path, "utf8"), ctx.user.name, input.description);
    const pack = ctx.app.packs.resolve(`${p.name}@v${p.version}`);
    const units = unitCount(pack);
    return {
      card: {
        title: `Added pack ${p.name} v${p.version}`,
        tone: "success",
        blocks: [
          text(
            `${fmt.count(p.probes.length, "probe")} (${fmt.count(units, "unit")} graded), sha256 ${p.sha256.slice(0, 12)}.${pack.needsJudge ? " It needs a judge (TUNELOOP_PACK_JUDGE)." : ""}`,
          ),
          text(
            `Next: /tune pack run ${p.name} <model> --base <model>, or /tune experiment new <name> --eval <set> --packs ${p.name}`,
          ),
        ],
      },
      data: {
        name: p.name,
        version: p.version,
        probes: p.probes.length,
        units,
        sha256: p.sha256,
        needsJudge: pack.needsJudge,
      },
    };
  },
});

export const packList = defineCommand({
  path: ["pack", "list"],
  summary: "List eval packs.",
  options: z.object({}),
  permission: "read",
  examples: ["/tune pack list"],
  async handler(ctx) {
    const packs = ctx.app.packs.list();
    return {
      card: {
        title: "Eval packs",
        // the descriptions are sentences: under the table, so its rows stay one line wide in chat
        blocks: [
          table(
            ["pack", "version", "units", "judge", "source"],
            packs.map((p) => [p.name, `v${p.version}`, String(p.units), p.needsJudge ? "yes" : "no", p.source]),
          ),
          list(
            packs.map((p) => `${p.name}: ${p.description}`),
            "What each checks",
          ),
          text("Use them on every run: /tune experiment new <name> --eval <set> --packs pii-leak,bias-counterfactual"),
        ],
      },
      data: packs,
    };
  },
});

export const packRun = defineCommand({
  path: ["pack", "run"],
  summary: "Run an eval pack on a model (paired with --base).",
  options: z.object({
    pack: z.string().describe("pack[@vN]"),
    model: z.string().describe("model"),
    base: z.string().optional().describe("base model"),
    alpha: z.coerce.number().gt(0).lt(1).default(0.05).describe("alpha"),
  }),
  positional: ["pack", "model"],
  permission: "spend",
  examples: [
    "/tune pack run pii-leak run:3 --base local:stories260K",
    "npx tuneloop pack run refusal vllm:qwen2.5-7b --json",
  ],
  async handler(ctx, input) {
    const [pack] = ctx.app.packs.check([input.pack]);
    ctx.progress(
      `Running ${pack.name} (${fmt.count(unitCount(pack), "unit")}) on ${input.model}${input.base ? ` and ${input.base}` : ""}...`,
    );
    const spend = { experiment: null, runId: null };
    if (input.base) {
      const r = await ctx.app.packs.compare(pack, input.base, input.model, spend, input.alpha);
      return {
        card: packCompareCard(input.model, input.base, r.comparisons, r.usd),
        data: {
          pack: pack.name,
          version: pack.version,
          model: input.model,
          base: input.base,
          usd: r.usd,
          comparisons: r.comparisons.map(packComparisonJson),
          ...(r.tuned ? { units: r.tuned.units, baseUnits: r.base?.units } : {}),
        },
      };
    }
    const r = await ctx.app.packs.runOne(pack, input.model, spend);
    return {
      card: packRunCard(r),
      data: {
        pack: r.pack,
        version: r.version,
        model: r.model,
        mean: r.mean,
        ci: r.ci,
        n: r.units.length,
        usd: r.usd,
        units: r.units,
      },
    };
  },
});

export const packCommands = [packAdd, packList, packRun];
