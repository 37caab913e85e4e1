/** Permission entries: ids, user:ID and role:NAME; a role's or group's name never stands for an id. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config.ts";
import { matchesAny, parsePrincipal } from "../../src/lib/principals.ts";

describe("permission entries", () => {
  test("ids match a user or a role by id, never by a name that spells them", () => {
    const admins = ["U0ADMIN01", "123456789012345678"];
    assert.ok(matchesAny(admins, { id: "U0ADMIN01" }));
    assert.ok(matchesAny(admins, { id: "U0OTHER01", roles: [{ id: "123456789012345678", name: "ops" }] }));
    // Names chosen to look like the admins' ids grant nothing, in any case.
    assert.ok(!matchesAny(admins, { id: "U0MALLORY", roles: [{ id: "S0FAKE001", name: "u0admin01" }] }));
    assert.ok(!matchesAny(admins, { id: "U0MALLORY", roles: [{ id: "S0FAKE001", name: "U0ADMIN01" }] }));
    assert.ok(!matchesAny(admins, { id: "U0MALLORY", roles: [{ id: "999", name: "123456789012345678" }] }));
    // An id compares exactly: a lower-case spelling is someone else.
    assert.ok(!matchesAny(admins, { id: "u0admin01" }));
  });

  test("role:NAME (and @handle) match by name, case-insensitive; user:ID only that user", () => {
    const m = { id: "U0CAROL01", roles: [{ id: "S0MLTEAM1", name: "ML-Team" }] };
    assert.ok(matchesAny(["role:ml-team"], m));
    assert.ok(matchesAny(["group:@ml-team"], m));
    assert.ok(matchesAny(["@ml-team"], m));
    assert.ok(!matchesAny(["role:S0MLTEAM1"], m), "role: takes a name, not an id");
    assert.ok(matchesAny(["user:U0CAROL01"], m));
    assert.ok(!matchesAny(["user:S0MLTEAM1"], m), "user: never matches a group");
    assert.ok(!matchesAny(["role:ml-team"], { id: "U0CAROL01", roles: [{ id: "S0MLTEAM1" }] }), "no name known");
  });

  test("a bare name is refused when settings load, with how to write it", () => {
    assert.equal(typeof parsePrincipal("trainers"), "string");
    assert.throws(
      () => loadConfig({ TUNELOOP_DATA: "/tmp/x", TUNELOOP_SPENDERS: "U0ALICE01,trainers", TUNELOOP_ADMINS: "admins" }),
      (err: Error) =>
        /TUNELOOP_SPENDERS: "trainers" is not an id: write role:trainers/.test(err.message) &&
        /TUNELOOP_ADMINS: "admins"/.test(err.message),
    );
    assert.throws(
      () => loadConfig({ TUNELOOP_DATA: "/tmp/x", TUNELOOP_ADMINS: "user:alice" }),
      /user: takes a user id/,
    );
    const ok = loadConfig({
      TUNELOOP_DATA: "/tmp/x",
      TUNELOOP_SPENDERS: "U0ALICE01, role:trainers, @ml-team, 123456789012345678",
      TUNELOOP_ADMINS: "user:U0ADMIN01",
    });
    assert.equal(ok.permissions.spenders.length, 4);
  });
});
