/**
 * The layers of docs/architecture.md, checked on the source: adapters translate only (no repository, no database,
 * no other adapter's renderer), the kernel imports no platform SDK and no storage, the core imports no layer above it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers.ts";

function files(dir: string): string[] {
  const abs = path.join(repoRoot, dir);
  return fs
    .readdirSync(abs, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => path.join(dir, f));
}

const read = (f: string) => fs.readFileSync(path.join(repoRoot, f), "utf8");
const imports = (src: string) => [...src.matchAll(/^\s*(?:import|export)[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]);

/** Repository and database reach: the App's raw repositories, its database handle, the db/ folder, SQL drivers. */
const STORAGE = [/\.engine\b/, /\.iterations\b/, /\bapp\.db\b/, /\.db\.\$client/, /\.requests\.first/, /\brepo\.\w+\(/];

test("adapters contain no repository or database call, and import nothing from db/", () => {
  const found: string[] = [];
  for (const f of files("src/adapters")) {
    const src = read(f);
    src.split("\n").forEach((line, i) => {
      if (/^\s*(\*|\/\/)/.test(line)) return; // comments
      for (const re of STORAGE) if (re.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
    });
    for (const m of imports(src)) if (/(^|\/)db\/|drizzle|better-sqlite3/.test(m)) found.push(`${f}: imports ${m}`);
  }
  assert.deepEqual(found, []);
});

test("commands call the App's services, never a repository or the database (docs/architecture.md)", () => {
  const found: string[] = [];
  for (const f of files("commands")) {
    const src = read(f);
    src.split("\n").forEach((line, i) => {
      if (/^\s*(\*|\/\/)/.test(line)) return; // comments
      for (const re of STORAGE) if (re.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
    });
    for (const m of imports(src)) if (/(^|\/)db\/|drizzle|better-sqlite3/.test(m)) found.push(`${f}: imports ${m}`);
  }
  assert.deepEqual(found, []);
});

test("Slack and Discord do not import the console adapter (shared text rendering is in src/chat)", () => {
  const found = [...files("src/adapters/slack"), ...files("src/adapters/discord")].filter((f) =>
    imports(read(f)).some((m) => m.includes("/console/")),
  );
  assert.deepEqual(found, []);
});

test("the kernel (src/chat) imports no platform SDK and no storage; the core imports no layer above it", () => {
  const found: string[] = [];
  for (const f of files("src/chat"))
    for (const m of imports(read(f)))
      if (/^@slack|^discord\.js|(^|\/)db\/|drizzle|better-sqlite3|\/adapters\//.test(m)) found.push(`${f}: ${m}`);
  for (const f of files("src/core"))
    for (const m of imports(read(f)))
      if (/\/(chat|adapters|views)\/|\/commands\/|^@slack|^discord\.js|(^|\/)db\//.test(m)) found.push(`${f}: ${m}`);
  assert.deepEqual(found, []);
});

test("run cards say their subject: no adapter guesses it from a title or from the command's JSON", () => {
  const found: string[] = [];
  for (const f of files("src/adapters"))
    read(f)
      .split("\n")
      .forEach((line, i) => {
        if (/outcome\.data|\.data as \{ run|embeds\[0\]\??\.title/.test(line))
          found.push(`${f}:${i + 1}: ${line.trim()}`);
      });
  assert.deepEqual(found, []);
});
