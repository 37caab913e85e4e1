/**
 * The layers: src/core talks to the world through its ports only. Walks every file under src/core and everything it
 * reaches (static and dynamic imports, `new URL("...", import.meta.url)` file reads and workers) and fails on the
 * settings (src/log.ts, src/config.ts), the providers' folder (code or data such as the price table), the adapters,
 * the database layer, the wiring, and any chat SDK, provider SDK, logger or SQL package.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "..");

/** Files and folders (relative to the root) the core must never reach. */
const FORBIDDEN_FILES = ["src/log.ts", "src/config.ts", "src/env.ts", "src/app.ts", "src/main.ts", "src/cli.ts"];
const FORBIDDEN_DIRS = ["src/providers/", "src/adapters/", "src/chat/", "db/", "commands/"];
/** Packages the core must never import: chat SDKs, provider SDKs, SQL, the logger, network and cloud clients. */
const FORBIDDEN_PACKAGES = [
  /^@slack\//,
  /^discord\.js$/,
  /^openai$/,
  /^better-sqlite3$/,
  /^drizzle-(orm|kit)(\/|$)/,
  /^pg(-boss)?$/,
  /^@aws-sdk\//,
  /^pino$/,
  /^ws$/,
];

const SPECIFIER = [
  /\b(?:import|export)\s[^"'`;]*?\sfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  /\bnew URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g,
];

function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const re of SPECIFIER) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

interface Violation {
  from: string;
  to: string;
}

/** Everything reachable from the files under `startDir`; returns the forbidden edges found. */
export function walk(root: string, startDir: string): { violations: Violation[]; reached: Set<string> } {
  const rel = (p: string) => path.relative(root, p).split(path.sep).join("/");
  const queue = fs
    .readdirSync(path.join(root, startDir), { recursive: true, encoding: "utf8" })
    .map((f) => path.join(root, startDir, f))
    .filter((f) => /\.(ts|mts|mjs|js)$/.test(f) && fs.statSync(f).isFile());
  const reached = new Set<string>(queue.map(rel));
  const violations: Violation[] = [];
  while (queue.length) {
    const file = queue.pop() as string;
    for (const spec of specifiers(fs.readFileSync(file, "utf8"))) {
      if (spec.startsWith("node:")) continue;
      if (!spec.startsWith(".")) {
        if (FORBIDDEN_PACKAGES.some((re) => re.test(spec))) violations.push({ from: rel(file), to: spec });
        continue;
      }
      const target = path.resolve(path.dirname(file), spec);
      const r = rel(target);
      if (FORBIDDEN_FILES.includes(r) || FORBIDDEN_DIRS.some((d) => r.startsWith(d))) {
        violations.push({ from: rel(file), to: r });
        continue;
      }
      if (reached.has(r) || !/\.(ts|mts|mjs|js)$/.test(r) || !fs.existsSync(target)) continue;
      reached.add(r);
      queue.push(target);
    }
  }
  return { violations, reached };
}

test("src/core reaches no settings, provider file, adapter, database layer, SDK, logger or SQL package", () => {
  const { violations, reached } = walk(ROOT, "src/core");
  assert.ok(
    reached.has("src/errors.ts") && reached.has("src/lib/worker.ts"),
    "the walk follows imports out of src/core",
  );
  assert.deepEqual(violations, [], violations.map((v) => `${v.from} -> ${v.to}`).join("\n"));
});

test("the walk catches a forbidden import, a dynamic import, an SDK and a data file of the providers", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-layers-"));
  try {
    fs.mkdirSync(path.join(dir, "src/core/runs"), { recursive: true });
    fs.mkdirSync(path.join(dir, "src/lib"), { recursive: true });
    fs.writeFileSync(path.join(dir, "src/core/runs/a.ts"), 'import type { Logger } from "../../log.ts";\n');
    fs.writeFileSync(path.join(dir, "src/core/b.ts"), 'import { x } from "../lib/c.ts";\n');
    // Reached through src/lib: still the core's import graph.
    fs.writeFileSync(path.join(dir, "src/lib/c.ts"), 'export const x = await import("../config.ts");\n');
    fs.writeFileSync(
      path.join(dir, "src/core/d.ts"),
      'import { App } from "@slack/bolt";\nimport Database from "better-sqlite3";\n',
    );
    fs.writeFileSync(
      path.join(dir, "src/core/e.ts"),
      'const u = new URL("../providers/prices.json", import.meta.url);\n',
    );
    const { violations } = walk(dir, "src/core");
    assert.deepEqual(violations.map((v) => `${v.from} -> ${v.to}`).sort(), [
      "src/core/d.ts -> @slack/bolt",
      "src/core/d.ts -> better-sqlite3",
      "src/core/e.ts -> src/providers/prices.json",
      "src/core/runs/a.ts -> src/log.ts",
      "src/lib/c.ts -> src/config.ts",
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("each command file is named after the commands it declares (their first word, or their help section)", async () => {
  const { GROUP_TITLES } = await import("../commands/index.ts");
  const dir = path.join(ROOT, "commands");
  const wrong: string[] = [];
  // index.ts is the registry itself, and declares /tune help.
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "index.ts")) {
    const name = file.replace(/\.ts$/, "");
    const words = [...fs.readFileSync(path.join(dir, file), "utf8").matchAll(/\bpath: \["([a-z-]+)"/g)].map(
      (m) => m[1],
    );
    for (const w of new Set(words)) {
      const sameSection = GROUP_TITLES[w] !== undefined && GROUP_TITLES[w] === GROUP_TITLES[name];
      if (w !== name && !sameSection) wrong.push(`commands/${file} declares /tune ${w}`);
    }
  }
  assert.deepEqual(wrong, []);
});
