/**
 * `npm test` runs test/suites/*.ts, 3 at a time: each suite is one process that imports several test files of one
 * subject, so the app's modules load once per suite rather than once per file (docs/testing.md). A test file that no
 * suite imports would never run in `npm test` or CI: every test/**\/*.test.ts is imported by exactly one suite, except
 * the Postgres-only tests of test/pg, which `npm run test:pg` (.ci/test-pg) runs on its throwaway cluster.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";

const TEST = import.meta.dirname;
const SUITES = path.join(TEST, "suites");

function testFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return full === SUITES ? [] : testFiles(full);
    return e.name.endsWith(".test.ts") ? [path.relative(TEST, full)] : [];
  });
}

test("every test file is imported by exactly one suite of npm test (test/pg by npm run test:pg)", () => {
  const imported = new Map<string, string[]>();
  for (const name of fs.readdirSync(SUITES)) {
    const src = fs.readFileSync(path.join(SUITES, name), "utf8");
    for (const [, spec] of src.matchAll(/^import\s+"([^"]+)";/gm)) {
      const rel = path.relative(TEST, path.resolve(SUITES, spec));
      assert.ok(fs.existsSync(path.join(TEST, rel)), `test/suites/${name} imports ${spec}, which does not exist`);
      imported.set(rel, [...(imported.get(rel) ?? []), name]);
    }
  }
  const files = testFiles(TEST);
  assert.ok(files.length > 50, `found ${files.length} test files`);
  for (const f of files) {
    const by = imported.get(f) ?? [];
    if (f.startsWith(`pg${path.sep}`)) {
      assert.equal(by.length, 0, `test/${f} needs Postgres: npm run test:pg runs it, not a suite (${by.join(", ")})`);
      continue;
    }
    assert.equal(
      by.length,
      1,
      `test/${f} is imported by ${by.length ? by.join(" and ") : "no suite"}: add it to exactly one of test/suites/*.ts`,
    );
  }
  assert.match(fs.readFileSync(path.join(TEST, "..", ".ci", "test-pg"), "utf8"), /find [^\n]*test\/pg /);
});
