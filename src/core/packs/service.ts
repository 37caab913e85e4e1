/**
 * Runs packs: answers every probe with a model (the base and the tuned model alike), grades, and compares the two
 * with the paired statistics of src/core/stats.ts. Every request is booked in the ledger and, inside an experiment,
 * admitted against the run's budget hold (src/core/costs/budget.ts).
 */
import crypto from "node:crypto";
import { TuneError } from "../../errors.ts";
import { SpendMeter, priced, usd as usdText } from "../costs/budget.ts";
import { round } from "../costs/ledger.ts";
import { fmt } from "../format.ts";
import { parseGraderSpec, type Grader, type GraderSpec, type JudgeClient } from "../evals/graders.ts";
import type { CompletionRequest, InferenceModel } from "../inference.ts";
import { resolveModel, type ProviderSet } from "../models.ts";
import type { Clock, EngineRepo, ExperimentRecord, RunRecord } from "../ports.ts";
import { cut } from "../evals/answers.ts";
import { meanInterval, pairedComparison } from "../stats.ts";
import { BUILTIN, builtinPack } from "./builtin.ts";
import {
  equivalenceJudgeMessages,
  isRefusal,
  labelsAgree,
  leakedKinds,
  parseChoice,
  parseYesNo,
  toneJudgeMessages,
} from "./graders.ts";
import { checkPackName, parsePackJsonl } from "./parse.ts";
import type { Pack, PackComparison, PackRepo, PackRun, PackVerdict, Probe, UnitScore } from "./types.ts";

export const PACK_JUDGE_SETTING = "TUNELOOP_PACK_JUDGE";
export const PACK_MAX_TOKENS = 200;

export interface PackServiceOptions {
  /** The judge model reference (endpoint:model) of judge packs: TUNELOOP_PACK_JUDGE. */
  judge?: string | null;
  /** Makes an eval grader (EvalService.grader: user-typed patterns run off the bot's thread, with a deadline). */
  grader: (spec: GraderSpec, judge?: JudgeClient) => Grader;
}

/** Where a pack's spend goes: a run's hold inside an experiment, or nowhere (a `pack run` outside one). */
export interface PackSpend {
  experiment: ExperimentRecord | null;
  runId: number | null;
  signal?: AbortSignal;
}

const pairUnits = (probes: Probe[]) => {
  const pairs = new Map<string, number[]>();
  probes.forEach((p, i) => {
    if (p.pair) pairs.set(p.pair, [...(pairs.get(p.pair) ?? []), i]);
  });
  return pairs;
};

export class PackService {
  constructor(
    private readonly repo: PackRepo,
    private readonly engine: EngineRepo,
    private readonly providers: ProviderSet,
    private readonly clock: Clock,
    private readonly opts: PackServiceOptions,
  ) {}

  /** A pack by name (`name` or `name@vN`): a built-in, or a custom one. */
  resolve(ref: string): Pack {
    const m = /^([A-Za-z0-9][A-Za-z0-9_-]*)(?:@v?(\d+))?$/.exec(ref.trim());
    const name = m?.[1] ?? ref;
    const b = builtinPack(name.toLowerCase());
    if (b) return b;
    const stored = m ? this.repo.pack(name, m[2] ? Number(m[2]) : undefined) : null;
    if (!stored)
      throw new TuneError(
        "pack_not_found",
        `No pack "${ref}". Built in: ${Object.keys(BUILTIN).join(", ")}; yours: /tune pack list. Add one with /tune pack add <name> (attach pack.jsonl).`,
      );
    return {
      name: stored.name,
      version: stored.version,
      source: stored.createdBy ?? "custom",
      description: stored.description,
      probes: stored.probes,
      needsJudge: stored.probes.some((p) => p.grader === "tone" || (p.grader === "agree" && !p.labels)),
    };
  }

  list(): Array<{
    name: string;
    version: number;
    source: string;
    description: string;
    units: number;
    needsJudge: boolean;
  }> {
    const out = Object.keys(BUILTIN).map((n) => {
      const p = builtinPack(n)!;
      return {
        name: n,
        version: p.version,
        source: "built-in",
        description: p.description,
        units: BUILTIN[n].size,
        needsJudge: p.needsJudge,
      };
    });
    for (const s of this.repo.listPacks()) {
      const p = this.resolve(`${s.name}@v${s.version}`);
      out.push({
        name: s.name,
        version: s.version,
        source: p.source,
        description: p.description,
        units: unitCount(p),
        needsJudge: p.needsJudge,
      });
    }
    return out;
  }

  /** Adds a custom pack (the next version when the name exists) from a JSONL file's text. */
  add(name: string, content: string, user: string, description?: string) {
    checkPackName(name, Object.keys(BUILTIN));
    const probes = parsePackJsonl(content);
    return this.repo.addPack({
      name,
      description: description ?? `custom pack of ${fmt.count(probes.length, "probe")}`,
      probes,
      sha256: crypto.createHash("sha256").update(content).digest("hex"),
      createdBy: user,
      createdAt: this.clock.now(),
    });
  }

  setExperimentPacks(experimentId: number, names: string[]): void {
    this.repo.setExperimentPacks(experimentId, names);
  }

  experimentPacks(experimentId: number): string[] {
    return this.repo.experimentPacks(experimentId);
  }

  /** Refuses packs that do not exist or need a judge when none is set; returns the packs. */
  check(refs: string[]): Pack[] {
    const packs = refs.map((r) => this.resolve(r));
    for (const p of packs) if (p.needsJudge) this.judgeModel(p.name);
    return packs;
  }

  private judgeModel(pack: string): InferenceModel {
    const ref = this.opts.judge;
    if (!ref)
      throw new TuneError(
        "pack_needs_judge",
        `The ${pack} pack is graded by a judge model, and none is set: add ${PACK_JUDGE_SETTING}=<endpoint:model> (an endpoint of TUNELOOP_ENDPOINTS, e.g. ${PACK_JUDGE_SETTING}=openai:gpt-4o-mini) to .env, then restart.`,
        { setting: PACK_JUDGE_SETTING },
      );
    return resolveModel(ref, this.providers, this.engine).model;
  }

  /** Answers and grades a pack with one model (tone needs a second model: use compare). */
  async runOne(packRef: string | Pack, modelRef: string, spend: PackSpend): Promise<PackRun & { usd: number }> {
    const pack = typeof packRef === "string" ? this.resolve(packRef) : packRef;
    if (pack.probes.some((p) => p.grader === "tone"))
      throw new TuneError(
        "pack_needs_base",
        `The ${pack.name} pack compares two models' answers: add --base <model> (e.g. the base model you tuned).`,
      );
    const books = this.books(spend);
    const model = resolveModel(modelRef, this.providers, this.engine);
    const answers = await this.answer(model.model, model.ref, pack.probes, books);
    const units = await this.grade(pack, answers, books);
    const scores = units.map((u) => u.score);
    const mi = meanInterval(scores);
    return {
      pack: pack.name,
      version: pack.version,
      model: model.ref,
      units,
      mean: mi.mean,
      ci: mi.ci,
      usd: round(books.usd()),
    };
  }

  /** Base vs tuned on one pack: one line, plus one per attribute for packs with attributes. */
  async compare(
    packRef: string | Pack,
    baseRef: string,
    tunedRef: string,
    spend: PackSpend,
    alpha = 0.05,
  ): Promise<{ comparisons: PackComparison[]; usd: number; base?: PackRun; tuned?: PackRun }> {
    const pack = typeof packRef === "string" ? this.resolve(packRef) : packRef;
    const books = this.books(spend);
    const base = resolveModel(baseRef, this.providers, this.engine);
    const tuned = resolveModel(tunedRef, this.providers, this.engine);
    const ab = await this.answer(base.model, base.ref, pack.probes, books);
    const at = await this.answer(tuned.model, tuned.ref, pack.probes, books);
    if (pack.probes.some((p) => p.grader === "tone")) {
      const c = await this.tone(pack, ab, at, books, alpha);
      return { comparisons: [c], usd: round(books.usd()) };
    }
    const ub = await this.grade(pack, ab, books);
    const ut = await this.grade(pack, at, books);
    const comparisons = [compareUnits(pack, ub, ut, alpha)];
    const groups = [...new Set(ub.map((u) => u.group).filter((g): g is string => !!g))];
    if (groups.length > 1)
      for (const g of groups)
        comparisons.push(
          compareUnits(
            pack,
            ub.filter((u) => u.group === g),
            ut.filter((u) => u.group === g),
            alpha,
            g,
          ),
        );
    const run = (model: string, units: UnitScore[]): PackRun => {
      const mi = meanInterval(units.map((u) => u.score));
      return { pack: pack.name, version: pack.version, model, units, mean: mi.mean, ci: mi.ci };
    };
    return { comparisons, usd: round(books.usd()), base: run(base.ref, ub), tuned: run(tuned.ref, ut) };
  }

  /** The packs of a run's experiment, base vs tuned; a pack that cannot run is listed as skipped with why. */
  async forRun(
    run: RunRecord,
    exp: ExperimentRecord,
    tunedRef: string,
    signal?: AbortSignal,
    onPack?: (name: string, index: number, total: number, units: number) => void,
  ): Promise<PackVerdict | undefined> {
    const names = this.repo.experimentPacks(exp.id);
    if (!names.length) return undefined;
    const out: PackVerdict = { comparisons: [], usd: 0, skipped: [] };
    const base = `${run.provider}:${run.baseModel}`;
    for (const [i, name] of names.entries()) {
      try {
        const pack = this.check([name])[0];
        onPack?.(name, i, names.length, unitCount(pack));
        const r = await this.compare(pack, base, tunedRef, { experiment: exp, runId: run.id, signal }, exp.alpha);
        out.comparisons.push(...r.comparisons);
        out.usd += r.usd;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (!(err instanceof TuneError)) throw err;
        out.skipped.push({ pack: name, reason: err.message });
      }
    }
    out.usd = round(out.usd);
    return out;
  }

  // ---- answering and grading ----------------------------------------------------------------------------------

  /** Ledger entries and meters of one pack's spend. */
  private books(spend: PackSpend) {
    const exp = spend.experiment;
    const now = this.clock.now();
    const hold = spend.runId !== null && exp ? this.engine.runHold(spend.runId, 0, now) : null;
    const shared = hold ? { id: hold.id, usd: hold.usd, bookedUsd: hold.bookedUsd } : null;
    const meters: SpendMeter[] = [];
    const meterFor = (model: InferenceModel, kind: "eval" | "judge", priorUsd: number) => {
      const id = this.engine.addLedger({
        at: this.clock.now(),
        kind,
        estimated: false,
        experimentId: exp?.id ?? null,
        runId: spend.runId,
        evalId: null,
        provider: model.provider,
        model: model.ref,
        trainingTokens: 0,
        inputTokens: 0,
        outputTokens: 0,
        usd: 0,
        wallMs: 0,
      });
      const m = new SpendMeter({
        repo: this.engine,
        clock: this.clock,
        ledger: { answer: id, judge: null },
        pricing: { answer: model.pricing, judge: null },
        prior: { answer: priorUsd, judge: 0 },
        hold: shared,
        budgeted: exp?.budgetUsd !== null && exp?.budgetUsd !== undefined,
        stopMessage: (use) =>
          `stopped at the budget: ${exp?.name ?? "the experiment"} has ${usdText(use.spentUsd)} spent of its ${usdText(use.budgetUsd ?? 0)} budget while running packs (${model.ref}). Raise the budget (/tune experiment budget ${exp?.name ?? "<name>"} <usd>) or run fewer packs.`,
      });
      meters.push(m);
      return m;
    };
    let judge: { model: InferenceModel; meter: SpendMeter } | null = null;
    const judgeClient = (pack: string) => {
      if (!judge) {
        const model = this.judgeModel(pack);
        judge = {
          model,
          meter: meterFor(model, "judge", priced(model.pricing, { inputTokens: 600, outputTokens: 5 })),
        };
      }
      return judge;
    };
    return { meterFor, judgeClient, signal: spend.signal, usd: () => meters.reduce((s, m) => s + m.spentUsd, 0) };
  }

  private async answer(
    model: InferenceModel,
    ref: string,
    probes: Probe[],
    books: ReturnType<PackService["books"]>,
  ): Promise<string[]> {
    const reqs: CompletionRequest[] = probes.map((p) => ({
      messages: p.messages,
      maxTokens: PACK_MAX_TOKENS,
      temperature: 0,
    }));
    const chars = probes.reduce((s, p) => s + p.messages.reduce((t, m) => t + (m.content?.length ?? 0), 0), 0);
    const prior = priced(model.pricing, {
      inputTokens: Math.ceil(chars / probes.length / 3),
      outputTokens: PACK_MAX_TOKENS,
    });
    const meter = books.meterFor({ ...model, ref }, "eval", prior);
    const free = !model.pricing || (model.pricing.inputPer1M === 0 && model.pricing.outputPer1M === 0);
    if (model.concurrency === undefined && free) {
      const res = await model.completeAll(reqs, { signal: books.signal });
      for (const r of res) meter.book("answer", r);
      return res.map((r) => r.text);
    }
    return pool(reqs.length, model.concurrency ?? 4, async (i) => {
      const t = await meter.acquire("answer", books.signal);
      try {
        const [r] = await model.completeAll([reqs[i]], { signal: books.signal });
        meter.settle(t, r);
        return r.text;
      } catch (err) {
        meter.settle(t, null);
        throw err;
      }
    });
  }

  private async ask(
    pack: string,
    books: ReturnType<PackService["books"]>,
    messages: CompletionRequest["messages"],
  ): Promise<string> {
    const j = books.judgeClient(pack);
    const t = await j.meter.acquire("answer", books.signal);
    try {
      const [r] = await j.model.completeAll([{ messages, maxTokens: 10, temperature: 0 }], { signal: books.signal });
      j.meter.settle(t, r);
      return r.text;
    } catch (err) {
      j.meter.settle(t, null);
      throw err;
    }
  }

  /** One model's units: a probe each, a pair each for `agree` probes. */
  private async grade(pack: Pack, answers: string[], books: ReturnType<PackService["books"]>): Promise<UnitScore[]> {
    const units: UnitScore[] = [];
    const judge: JudgeClient = async (req) => {
      const text = await this.ask(pack.name, books, req.messages);
      return { text, usage: { inputTokens: 0, outputTokens: 0 } };
    };
    const specGraders = new Map<string, Grader>();
    const pairs = pairUnits(pack.probes);
    const seenPairs = new Set<string>();
    for (let i = 0; i < pack.probes.length; i++) {
      const p = pack.probes[i];
      const a = answers[i];
      if (p.grader === "agree" && p.pair) {
        if (seenPairs.has(p.pair)) continue;
        seenPairs.add(p.pair);
        const [x, y] = pairs.get(p.pair)!;
        const px = pack.probes[x];
        let agree: boolean;
        let reason: string | undefined;
        if (px.labels) {
          const r = labelsAgree(answers[x], answers[y], px.labels);
          agree = r.agree;
          if (!agree) reason = `answered ${r.la ?? "no label"} vs ${r.lb ?? "no label"}`;
        } else {
          const q = (k: number) => pack.probes[k].messages.at(-1)?.content ?? "";
          const reply = await this.ask(pack.name, books, equivalenceJudgeMessages(q(x), q(y), answers[x], answers[y]));
          const said = parseYesNo(reply);
          agree = said === true;
          // an unreadable reply counts against the pair, and says so (it is not a finding about the answers)
          if (said === false) reason = "the judge found the answers different";
          else if (said === null)
            reason = `the judge's reply was neither yes nor no (${JSON.stringify(cut(reply, 40))})`;
        }
        units.push({ unit: p.pair, group: px.attribute, score: agree ? 1 : 0, ...(reason ? { reason } : {}) });
        continue;
      }
      if (p.grader === "no-leak") {
        const leaked = leakedKinds(a, p.planted ?? []);
        units.push({
          unit: p.id,
          score: leaked.length ? 0 : 1,
          ...(leaked.length ? { reason: `reproduced the ${leaked.join(", ")}` } : {}),
        });
      } else if (p.grader === "refuse" || p.grader === "comply") {
        const refused = isRefusal(a);
        const ok = refused === (p.grader === "refuse");
        units.push({
          unit: p.id,
          score: ok ? 1 : 0,
          ...(ok ? {} : { reason: refused ? "refused a harmless request" : "did not decline" }),
        });
      } else {
        let g = specGraders.get(p.grader);
        if (!g) {
          g = this.opts.grader(parseGraderSpec(p.grader), judge);
          specGraders.set(p.grader, g);
        }
        const r = await g({ output: a, expected: p.expected ?? "" });
        units.push({ unit: p.id, score: r.score, ...(r.detail ? { reason: r.detail } : {}) });
      }
    }
    return units;
  }

  /** Tone: per prompt the judge sees both answers twice (base first, then tuned first). */
  private async tone(
    pack: Pack,
    ab: string[],
    at: string[],
    books: ReturnType<PackService["books"]>,
    alpha: number,
  ): Promise<PackComparison> {
    const base: number[] = [];
    const tuned: number[] = [];
    const regressed: string[] = [];
    let agreed = 0;
    for (let i = 0; i < pack.probes.length; i++) {
      const p = pack.probes[i];
      const q = p.messages.at(-1)?.content ?? "";
      const style = p.style ?? "";
      const c1 = parseChoice(await this.ask(pack.name, books, toneJudgeMessages(style, q, ab[i], at[i])));
      const c2 = parseChoice(await this.ask(pack.name, books, toneJudgeMessages(style, q, at[i], ab[i])));
      // tuned's share of the two orders' preferences (an unreadable reply counts half to each)
      const w1 = c1 === "B" ? 1 : c1 === "A" ? 0 : 0.5;
      const w2 = c2 === "A" ? 1 : c2 === "B" ? 0 : 0.5;
      const t = (w1 + w2) / 2;
      if (c1 && c2 && (c1 === "B") === (c2 === "A")) agreed++;
      tuned.push(t);
      base.push(1 - t);
      if (t === 0) regressed.push(p.id);
    }
    const pc = pairedComparison(base, tuned, { alpha, ci: "t" });
    return {
      pack: pack.name,
      version: pack.version,
      base: pc.meanA,
      tuned: pc.meanB,
      diff: pc.diff,
      // the difference of two shares that sum to 1 lies in [-1, 1]
      ci: [Math.max(-1, pc.ci[0]), Math.min(1, pc.ci[1])],
      pValue: pc.pValue,
      test: pc.test,
      n: pc.n,
      significant: pc.significant,
      regressed,
      agreement: agreed / pack.probes.length,
    };
  }
}

/** Units of a pack: probes, with each pair counted once. */
export function unitCount(p: Pack): number {
  const pairs = new Set(p.probes.filter((x) => x.pair).map((x) => x.pair));
  return p.probes.filter((x) => !x.pair).length + pairs.size;
}

function compareUnits(
  pack: Pack,
  base: UnitScore[],
  tuned: UnitScore[],
  alpha: number,
  group?: string,
): PackComparison {
  const t = new Map(tuned.map((u) => [u.unit, u]));
  const pairs = base.filter((u) => t.has(u.unit));
  const a = pairs.map((u) => u.score);
  const b = pairs.map((u) => t.get(u.unit)!.score);
  const pc = pairedComparison(a, b, { alpha });
  const c: PackComparison = {
    pack: pack.name,
    version: pack.version,
    ...(group ? { group } : {}),
    base: pc.meanA,
    tuned: pc.meanB,
    diff: pc.diff,
    ci: pc.ci,
    pValue: pc.pValue,
    test: pc.test,
    n: pc.n,
    significant: pc.significant,
    regressed: pairs.filter((u) => t.get(u.unit)!.score < u.score).map((u) => u.unit),
  };
  if (pairs.some((u) => u.group))
    c.flipped = { base: a.filter((x) => x === 0).length, tuned: b.filter((x) => x === 0).length };
  return c;
}

/** Runs `n` jobs, at most `width` at once; results in order. The first failure stops new jobs and is thrown. */
async function pool<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (failed === null && next < n) {
      const i = next++;
      try {
        out[i] = await job(i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, n)) }, worker));
  if (failed !== null) throw failed;
  return out;
}
