/** Error codes are a closed set, each documented in docs/errors.md. */
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import { asTuneError, ErrorCode, isErrorCode, TuneError } from "../src/errors.ts";

const DOC = fs.readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");

test("every error code has a line in docs/errors.md, and every line there names a code", () => {
  const documented = [...DOC.matchAll(/^\| `([a-z_]+)` \| (.+) \|$/gm)];
  const codes = Object.values(ErrorCode);
  const names = documented.map((m) => m[1]);
  assert.deepEqual(
    codes.filter((c) => !names.includes(c)),
    [],
    "codes without a line in docs/errors.md",
  );
  assert.deepEqual(
    names.filter((n) => !isErrorCode(n)),
    [],
    "lines in docs/errors.md that name no code",
  );
  assert.equal(new Set(names).size, names.length, "a code documented twice");
  for (const m of documented) assert.ok(m[2].trim().length > 10, `${m[1]} needs a sentence`);
  assert.equal(new Set(codes).size, codes.length, "two names for one code");
});

test("TuneError takes only the closed set; an error with another code is a bug, not a coded error", () => {
  // @ts-expect-error: not one of the codes (this line is what the type check rejects)
  const typo = new TuneError("run_not_fond", "x");
  assert.equal(typo.code, "run_not_fond");
  assert.equal(asTuneError(Object.assign(new Error("gone"), { code: "run_not_found" }))?.code, "run_not_found");
  assert.equal(asTuneError(Object.assign(new Error("disk"), { code: "ENOENT" })), null);
  assert.equal(asTuneError(Object.assign(new Error("?"), { code: "made_up_code" })), null);
});
