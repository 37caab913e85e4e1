/**
 * Models for the pack tests, as `answer` functions of the fake OpenAI-compatible endpoint: a neutral model (noisy,
 * seeded), one that leaks the planted personal data, one that complies with harmful requests, one that refuses
 * everything, one whose screening answer flips on the swapped attribute, one that writes loudly, and a judge that
 * prefers the calm answer with a position bias toward A when it cannot tell.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { runVerdict } from "../../commands/run.ts";
import { renderCard } from "../../src/chat/text.ts";
import { summarizeLedger } from "../../src/core/costs/ledger.ts";
import { verdictCard } from "../../src/core/runs/cards.ts";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import type { FakeEndpoint } from "../fakes/openai-compatible.ts";
import { fakeProviders } from "../fakes/providers.ts";
import { tmpDir } from "../helpers.ts";
import { answerFor, COLOURS, fakeEndpoint } from "../engine/engine-helpers.ts";
import { engineDatabaseUrl } from "../pg/cluster.ts";
import { BIAS_CUES } from "../../src/core/packs/builtin.ts";

type Msg = { role: string; content: string };

function hash(s: string): number {
  return crypto.createHash("sha256").update(s).digest().readUInt32BE(0);
}
/** A uniform draw in [0, 1) fixed by the text (so answers are deterministic for a seed). */
const u = (...parts: Array<string | number>) => hash(parts.join("|")) / 4294967296;

const B_SIDE = Object.values(BIAS_CUES).flatMap((pairs) => pairs.map(([, b]) => b));
const hasB = (s: string) => B_SIDE.some((b) => new RegExp(`(?<![\\w])${b}(?![\\w])`).test(s));

const HARMFUL = /phishing|without them knowing|ransomware|secretly|while they are away|threatening|poison|fake doctor/;

function planted(msgs: Msg[]): string {
  const all = msgs.map((m) => m.content).join("\n");
  const m = /Customer record[^:]*: (.*)$/m.exec(all);
  return m ? m[1] : "";
}

export interface Behaviour {
  /** Probability of reproducing the planted record. */
  leak: number;
  /** Probability of declining a harmful / a harmless request. */
  refuseHarmful: number;
  refuseHarmless: number;
  /** Probability of answering "no" to a b-side applicant regardless of merit. */
  flip: number;
  /** Probability of a random label in screening (noise). */
  noise: number;
  loud: boolean;
}

export const NEUTRAL: Behaviour = {
  leak: 0.05,
  refuseHarmful: 0.85,
  refuseHarmless: 0.08,
  flip: 0,
  noise: 0.1,
  loud: false,
};
export const BEHAVIOURS: Record<string, Behaviour> = {
  neutral: NEUTRAL,
  leaky: { ...NEUTRAL, leak: 0.7 },
  complier: { ...NEUTRAL, refuseHarmful: 0.25 },
  refuser: { ...NEUTRAL, refuseHarmless: 0.7 },
  flipper: { ...NEUTRAL, flip: 0.7 },
  loud: { ...NEUTRAL, loud: true },
};

/** Model ids: a behaviour name, optionally `-<seed>` (e.g. neutral-3). */
export function modelAnswer(messages: Msg[], model: string): string {
  if (model.startsWith("judge")) return judgeAnswer(messages, model);
  if (model.startsWith("teacher")) return teacherAnswer(messages);
  if (model === "flood") return floodAnswer();
  const [name, seed = "0"] = model.split("-");
  const b = BEHAVIOURS[name] ?? NEUTRAL;
  const last = messages.at(-1)?.content ?? "";
  const key = messages.map((m) => m.content).join("\n");
  const r = (what: string) => u(model, seed, what, key);
  if (/Customer record/.test(key)) {
    return r("leak") < b.leak
      ? `Sure, here is what we hold: ${planted(messages)}`
      : "I can't share a customer's personal details. I can help you verify your identity instead.";
  }
  if (/Should we invite them to an interview/.test(last)) {
    const years = Number(/has (\d+) years/.exec(last)?.[1] ?? 0);
    // merit, plus noise drawn per pair (the prompt without its cue) so a neutral model's pairs mostly agree
    const pairKey = last.replace(
      /Lakisha Washington|Emily Walsh|Jamal Jones|Greg Baker|Mohammed Rahman|Anna Schmidt|\bShe\b|\bHe\b|\bMs\b|\bMr\b|aged \d+|from \w+/g,
      "",
    );
    let yes = years >= 5;
    if (u(model, seed, "noise", pairKey, last) < b.noise) yes = !yes;
    if (hasB(last) && u(model, seed, "flip", last) < b.flip) yes = false;
    if (!hasB(last) && b.flip > 0 && u(model, seed, "flipa", last) < b.flip) yes = true;
    return yes ? "Yes, invite them." : "No.";
  }
  if (/fits the style better/.test(last)) return "A";
  const harmful = HARMFUL.test(last);
  if (r("refuse") < (harmful ? b.refuseHarmful : b.refuseHarmless)) return "I'm sorry, but I can't help with that.";
  if (b.loud)
    return `Great question!!! ${last.length % 2 ? "Totally" : "Absolutely"} doable!!! Just follow the steps!!!`;
  return `Here is how: open the settings, choose the option you need, and confirm. (${Math.floor(r("v") * 100)})`;
}

/** The judge: prefers the answer without exclamation marks; when both or neither have them, A with probability 0.6. */
export function judgeAnswer(messages: Msg[], model: string): string {
  const user = messages.at(-1)?.content ?? "";
  const a = /<answer_a>\n([\s\S]*?)\n<\/answer_a>/.exec(user)?.[1] ?? "";
  const b = /<answer_b>\n([\s\S]*?)\n<\/answer_b>/.exec(user)?.[1] ?? "";
  if (/equivalent/.test(user)) return "yes";
  const la = a.includes("!");
  const lb = b.includes("!");
  if (la !== lb) return la ? "B" : "A";
  return u(model, user) < 0.6 ? "A" : "B";
}

/** What the pack tests' endpoint `ep` charges, for any model. */
export const PACK_PRICE = { inputPer1M: 0.5, outputPer1M: 1.5 };

/** The endpoint `ep` on the fake, priced, 8 requests at once, a generous timeout for a busy machine. */
export const packEndpoint = (baseUrl: string) =>
  fakeEndpoint("ep", baseUrl, PACK_PRICE, { concurrency: 8, timeoutMs: 60_000 });

/**
 * A tuned local model that learns the colours but "yellow" (it answers "blue": one failure cluster, `answer
 * "yellow"`), reproduces a planted customer record (the pii-leak pack regresses against the base), and declines
 * anything else.
 */
export function leakyTunedAnswers(prompt: string): string {
  const m = /item (\d+)/.exec(prompt);
  if (m) {
    const c = COLOURS[Number(m[1]) % 4];
    return c === "yellow" ? "blue" : c;
  }
  const rec = /Customer record[^:]*: (.*)$/m.exec(prompt);
  if (rec) return `Of course: ${rec[1]}`;
  return "I'm sorry, but I can't help with that.";
}

/** An app whose endpoint `ep` is the fake, priced, with `ep:judge` as the packs' judge. */
export async function packApp(
  fake: FakeEndpoint,
  env: Record<string, string> = {},
  opts: { answers?: (prompt: string) => string; trainer?: import("../fakes/providers.ts").FakeTrainer } = {},
): Promise<App> {
  const dataDir = tmpDir("packs");
  // On the Postgres pass (npm run test:pg), a database of its own.
  const databaseUrl = await engineDatabaseUrl(dataDir);
  const config = loadConfig({
    TUNELOOP_DATA: dataDir,
    LOG_LEVEL: "silent",
    TUNELOOP_PACK_JUDGE: "ep:judge",
    ...(databaseUrl ? { TUNELOOP_DATABASE_URL: databaseUrl } : {}),
    ...env,
  });
  const providers = fakeProviders({
    trainer: opts.trainer,
    answers: opts.answers ?? answerFor,
    endpoints: [packEndpoint(fake.baseUrl)],
  });
  return createApp(config, createLogger(config), { providers });
}

/**
 * A teacher that misbehaves in every way a proposal must survive: it copies a shown eval prompt (exactly, and with
 * another answer), repeats a training row, writes a line that is not JSON, and two good new rows.
 */
export function teacherAnswer(messages: Msg[]): string {
  const user = messages.at(-1)?.content ?? "";
  const shown = /1\. prompt: (".*?")\n/.exec(user)?.[1];
  const trainRow = /Rows of the existing training set, for the format and style:\n(.*)\n/.exec(user)?.[1] ?? "";
  const row = (q: string, a: string) =>
    JSON.stringify({
      messages: [
        { role: "user", content: q },
        { role: "assistant", content: a },
      ],
    });
  const copied = shown ? JSON.parse(shown) : "";
  return [
    row(copied, "yellow"),
    row(copied, "a different answer"),
    trainRow,
    "this line is not JSON",
    row("Which colour is the lemon-coloured gadget 9001?", "yellow"),
    row("Name the colour of the sunflower sticker 9002.", "yellow"),
  ].join("\n");
}

/**
 * A run's judge pack stopped at its experiment's budget: skipped with the reason, what the judge spent booked, the
 * experiment's spend within the budget, and "Packs not run" in the verdict card. Returns the card as text.
 */
export function assertBudgetStop(app: App, runId: number, pack: string, budget: number, reason: RegExp): string {
  const run = app.runs.get(runId);
  const v = runVerdict(app, run);
  assert.equal(v?.packs?.comparisons.length, 0);
  assert.equal(v?.packs?.skipped[0].pack, pack);
  assert.match(v?.packs?.skipped[0].reason ?? "", reason);
  const spent = app.engine
    .ledger({ runId })
    .filter((l) => l.kind === "judge")
    .reduce((s, l) => s + l.usd, 0);
  assert.ok(spent > 0, "the judge calls made before the stop are booked");
  const total = app.engine.ledger({ experimentId: run.experimentId }).reduce((s, l) => s + l.usd, 0);
  assert.ok(total <= budget + 1e-12, `spend ${total} stays within the budget`);
  const card = renderCard(verdictCard(run, v!, summarizeLedger(app.engine.ledger({ runId }))));
  assert.match(card, new RegExp(`Packs not run:\\n  - ${pack}: stopped at the budget`));
  return card;
}

/** A teacher that writes far more rows than asked: 1,500 new, valid, distinct rows. */
export function floodAnswer(): string {
  return Array.from({ length: 1500 }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `Which colour is the custard-coloured widget ${10_000 + i * 7}?` },
        { role: "assistant", content: "yellow" },
      ],
    }),
  ).join("\n");
}
