/**
 * What a downloaded OpenAI training file holds that tuneloop cannot train on: preference pairs (DPO rows with
 * `input`, `preferred_output`, `non_preferred_output`) or images (a message whose content parts include
 * `image_url`). Found by reading the file line by line (bounded by the upload limits already applied), before it is
 * ingested, so the refusal names the file, the line and the reason.
 */
import fs from "node:fs";
import readline from "node:readline";
import { MAX_JSON_DEPTH, tooDeep } from "../datasets/depth.ts";

export interface UnusableData {
  kind: "preference" | "vision";
  line: number;
  reason: string;
}

type Json = Record<string, unknown>;

function hasImage(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  return messages.some(
    (m) =>
      Array.isArray((m as Json)?.content) &&
      ((m as Json).content as unknown[]).some((part) => {
        const t = (part as Json)?.type;
        return t === "image_url" || t === "input_image" || t === "image";
      }),
  );
}

export function unusableRow(row: unknown, line: number): UnusableData | null {
  if (!row || typeof row !== "object" || Array.isArray(row)) return null;
  const r = row as Json;
  if ("preferred_output" in r || "non_preferred_output" in r) {
    return {
      kind: "preference",
      line,
      reason:
        "it holds preference pairs (DPO: a preferred and a non-preferred answer per prompt); tuneloop's trainers learn from one ideal answer per row (supervised fine-tuning)",
    };
  }
  const input = r.input as Json | undefined;
  if (hasImage(r.messages) || hasImage(input?.messages)) {
    return {
      kind: "vision",
      line,
      reason:
        "its messages carry images (image_url content parts); the targets tuneloop trains here learn from text only",
    };
  }
  return null;
}

/** The first row of the file that makes it unusable, or null. Lines that are not JSON are left to the ingest. */
export async function findUnusableData(filePath: string): Promise<UnusableData | null> {
  const rl = readline.createInterface({ input: fs.createReadStream(filePath, "utf8"), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      const t = text.trim();
      if (!t.startsWith("{")) continue;
      let row: unknown;
      try {
        row = JSON.parse(t);
      } catch {
        continue;
      }
      if (tooDeep(row, MAX_JSON_DEPTH)) continue;
      const hit = unusableRow(row, line);
      if (hit) return hit;
    }
  } finally {
    rl.close();
  }
  return null;
}
