/**
 * Custom packs: a JSONL file, one probe a line:
 *   {"prompt": "...", "context": "..." | [{"role","content"}...], "grader": "no-leak" | "refuse" | "comply" |
 *    "agree" | "tone" | an eval grader spec (exact, contains, label:a,b, regex:...), "expected": "...",
 *    "pair": "k", "attribute": "gender", "labels": ["yes","no"], "planted": ["email"], "style": "...", "id": "..."}
 * Errors name the line and the field, and nothing is stored unless every line is valid.
 */
import { z } from "zod";
import { TuneError } from "../../errors.ts";
import { PII_KINDS } from "../datasets/pii.ts";
import { fmt } from "../format.ts";
import { parseGraderSpec } from "../evals/graders.ts";
import type { Probe } from "./types.ts";

export const MAX_PACK_BYTES = 5 * 1024 * 1024;
export const MAX_PACK_PROBES = 5000;
const MAX_TEXT = 20_000;

const text = z.string().min(1).max(MAX_TEXT);
const message = z.object({ role: z.enum(["system", "user", "assistant"]), content: text }).strict();
const LineSchema = z
  .object({
    id: z.string().min(1).max(100).optional(),
    prompt: text,
    context: z.union([text, z.array(message).max(50)]).optional(),
    grader: z.string().min(1).max(2000).default("exact"),
    expected: z.string().max(MAX_TEXT).optional(),
    pair: z.string().min(1).max(100).optional(),
    attribute: z.string().min(1).max(50).optional(),
    labels: z.array(z.string().min(1).max(100)).min(2).max(50).optional(),
    planted: z
      .array(z.enum(PII_KINDS as unknown as [string, ...string[]]))
      .min(1)
      .optional(),
    style: z.string().min(1).max(2000).optional(),
  })
  .strict();

const OWN = new Set(["no-leak", "refuse", "comply", "agree", "tone"]);

function fail(line: number, msg: string): never {
  throw new TuneError("pack_invalid", `pack.jsonl line ${line}: ${msg}. Fix the line and add the pack again.`, {
    line,
  });
}

/** Valid pack names: like dataset names (letters, digits, - and _), not a built-in's. */
export function checkPackName(name: string, builtins: readonly string[]): void {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(name))
    throw new TuneError(
      "pack_invalid_name",
      `"${name}" is not a pack name: use 1-64 letters, digits, - or _, starting with a letter or digit.`,
    );
  if (builtins.includes(name.toLowerCase()))
    throw new TuneError("pack_invalid_name", `"${name}" is a built-in pack; give your pack another name.`);
}

export function parsePackJsonl(content: string): Probe[] {
  if (Buffer.byteLength(content) > MAX_PACK_BYTES)
    throw new TuneError("pack_too_large", `The pack file is over ${MAX_PACK_BYTES / 1024 / 1024} MB; split it.`);
  const probes: Probe[] = [];
  const ids = new Set<string>();
  const lines = content.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (!raw) continue;
    const line = i + 1;
    if (probes.length >= MAX_PACK_PROBES) fail(line, `a pack holds at most ${MAX_PACK_PROBES} probes`);
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      fail(line, "not a JSON object");
    }
    const r = LineSchema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      fail(line, `field ${issue.path.join(".") || "(line)"}: ${issue.message}`);
    }
    const v = r.data;
    if (!OWN.has(v.grader)) {
      try {
        parseGraderSpec(v.grader);
      } catch (err) {
        fail(line, `field grader: ${(err as Error).message}`);
      }
      if (v.expected === undefined) fail(line, `field expected: the grader ${v.grader} needs an expected answer`);
    }
    if (v.grader === "agree" && !v.pair) fail(line, 'field pair: an "agree" probe needs a pair key');
    if (v.grader === "no-leak" && !v.planted) fail(line, 'field planted: a "no-leak" probe names the kinds planted');
    if (v.grader === "tone" && !v.style) fail(line, 'field style: a "tone" probe needs a style description');
    const id = v.id ?? `line-${line}`;
    if (ids.has(id)) fail(line, `field id: "${id}" is used twice`);
    ids.add(id);
    const context =
      typeof v.context === "string" ? [{ role: "system" as const, content: v.context }] : (v.context ?? []);
    probes.push({
      id,
      messages: [...context, { role: "user", content: v.prompt }],
      grader: v.grader,
      ...(v.expected !== undefined ? { expected: v.expected } : {}),
      ...(v.pair ? { pair: v.pair } : {}),
      ...(v.attribute ? { attribute: v.attribute } : {}),
      ...(v.labels ? { labels: v.labels } : {}),
      ...(v.planted ? { planted: v.planted } : {}),
      ...(v.style ? { style: v.style } : {}),
    });
  }
  if (!probes.length) throw new TuneError("pack_invalid", "The pack file has no probes: write one JSON object a line.");
  const pairs = new Map<string, number>();
  for (const p of probes) if (p.pair) pairs.set(p.pair, (pairs.get(p.pair) ?? 0) + 1);
  for (const [k, n] of pairs)
    if (n !== 2)
      throw new TuneError(
        "pack_invalid",
        `pair "${k}" has ${fmt.count(n, "probe")}; a pair is exactly two probes (sides a and b).`,
      );
  return probes;
}
