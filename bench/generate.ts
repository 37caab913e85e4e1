/** Synthetic chat datasets for the benchmarks: seeded, ~`tokens` tokens a row, with a few duplicates and PII. */
import fs from "node:fs";
import { mulberry32 } from "../src/lib/rng.ts";

const WORDS = (
  "invoice refund account billing customer order shipping delivery return warranty product service support ticket " +
  "password login reset email address phone number payment card subscription plan upgrade downgrade cancel renewal " +
  "discount coupon price tax receipt statement balance credit debit transfer bank wire pending approved declined " +
  "error message screen button settings profile notification alert schedule meeting calendar report export import " +
  "the a an of to in for on with by from about as at into over after before under between during without within " +
  "please could would should will can may might must need want like help check update change confirm verify review " +
  "quickly today tomorrow yesterday soon later already still again never always usually sometimes often rarely"
).split(" ");

function sentence(r: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(r() * WORDS.length)]);
  out[0] = out[0][0].toUpperCase() + out[0].slice(1);
  return `${out.join(" ")}.`;
}

function paragraph(r: () => number, tokens: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < tokens) {
    const w = 8 + Math.floor(r() * 10);
    parts.push(sentence(r, w));
    n += w + 1;
  }
  return parts.join(" ");
}

/** Writes `rows` JSONL chat rows to `file`; returns the bytes written. */
export function writeChatDataset(file: string, rows: number, opts: { tokens?: number; seed?: number } = {}): number {
  const r = mulberry32(opts.seed ?? 1);
  const tokens = opts.tokens ?? 300;
  const fd = fs.openSync(file, "w");
  let bytes = 0;
  let prev = "";
  let batch: string[] = [];
  for (let i = 0; i < rows; i++) {
    let line: string;
    if (i > 0 && i % 97 === 0)
      line = prev; // exact duplicate
    else {
      const user = paragraph(r, Math.round(tokens * 0.35));
      let answer = paragraph(r, Math.round(tokens * 0.55));
      if (i % 211 === 0)
        answer += ` Write to jane.doe${i}@example.com or call +44 20 7946 0${String(i % 1000).padStart(3, "0")}.`;
      line = JSON.stringify({
        messages: [
          { role: "system", content: "You are the support assistant of Acme Billing." },
          { role: "user", content: user },
          { role: "assistant", content: answer },
        ],
      });
    }
    prev = line;
    batch.push(line);
    if (batch.length >= 1000) {
      const b = `${batch.join("\n")}\n`;
      bytes += fs.writeSync(fd, b);
      batch = [];
    }
  }
  if (batch.length) bytes += fs.writeSync(fd, `${batch.join("\n")}\n`);
  fs.closeSync(fd);
  return bytes;
}

/** The eval benchmarks' file: `rows` one-turn questions whose ideal answer is "yes" or "no". */
export function writeYesNoEval(file: string, rows: number): void {
  fs.writeFileSync(
    file,
    `${Array.from({ length: rows }, (_, i) =>
      JSON.stringify({
        messages: [
          { role: "user", content: `Is ${i} a lucky number?` },
          { role: "assistant", content: i % 3 ? "yes" : "no" },
        ],
      }),
    ).join("\n")}\n`,
  );
}
