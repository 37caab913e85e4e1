#!/usr/bin/env node
// Prints the test files for `npm test`: every test/**/*.test.ts, the longest-running first (so the last files to
// start are short ones and the run does not end on one long file while the other slots are idle), then the rest in
// sorted order. The list of long files comes from `node scripts/test-times.mjs` (CPU and wall time per file); a file
// missing from it, or named in it but gone, changes only the order, never which files run.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const LONGEST_FIRST = [
  "test/e2e/docs.test.ts",
  "test/packs/iterate-loop.test.ts",
  "test/e2e/console-run.test.ts",
  "test/e2e/console-loop.test.ts",
  "test/demo/task.test.ts",
  "test/e2e/cli-datasets.test.ts",
  "test/demo/demo-resume.test.ts",
  "test/migrate/migrate.test.ts",
  "test/engine/runs.test.ts",
  "test/migrate/docs.test.ts",
  "test/packs/packs.test.ts",
  "test/engine/budget.test.ts",
  "test/local/train.test.ts",
  "test/engine/eval-ledger.test.ts",
  "test/providers/selfhosted-cli.test.ts",
];

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.posix.join(dir, name);
    if (statSync(full).isDirectory()) return find(full);
    return name.endsWith(".test.ts") ? [full] : [];
  });
}
/** Every test file under test/ (paths relative to the repository root, which is the working folder), longest first. */
export function testFiles() {
  const all = find("test").sort();
  const first = LONGEST_FIRST.filter((f) => all.includes(f));
  return [...first, ...all.filter((f) => !first.includes(f))];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(testFiles().join("\n"));
