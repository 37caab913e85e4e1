/**
 * docs/migrate.md followed as written: every `npx tuneloop` line of its walkthrough runs against the rehearsal fakes
 * (test/fakes/serve-migrate.ts), in order, and what the page shows under a command is what it printed. Each line is
 * split as a shell splits it and runs in this process through the CLI's main (runDocLine); the README's lines in
 * test/e2e/docs.test.ts are the docs' process smoke tests.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { REHEARSAL_KEY, startMigrationRehearsal } from "../fakes/serve-migrate.ts";
import type { FakeOpenAI } from "../fakes/openai.ts";
import type { FakeTogether } from "../fakes/together.ts";
import { codeBlocks, runDocLine } from "../markdown.ts";
import { repoRoot, tmpDir } from "../helpers.ts";

describe("docs/migrate.md, against the OpenAI and Together fakes", () => {
  let fakes: { openai: FakeOpenAI; together: FakeTogether };
  before(async () => {
    fakes = await startMigrationRehearsal();
  });
  after(async () => {
    await fakes?.openai.close();
    await fakes?.together.close();
  });

  test("every command of the walkthrough runs as written and prints what the page shows", {
    timeout: 600_000,
  }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", TUNELOOP_CONSOLE_USER: "you" };
    for (const k of Object.keys(env))
      if (/^(TUNELOOP_|TOGETHER_|OPENAI_|SLACK_|DISCORD_)/.test(k) && k !== "TUNELOOP_CONSOLE_USER") delete env[k];
    Object.assign(env, {
      TUNELOOP_DATA: path.join(tmpDir("migrate-docs"), "data"),
      OPENAI_API_KEY: REHEARSAL_KEY,
      OPENAI_BASE_URL: fakes.openai.baseUrl,
      TOGETHER_API_KEY: REHEARSAL_KEY,
      TOGETHER_BASE_URL: fakes.together.baseUrl,
      TUNELOOP_POLL_INTERVAL_MS: "100",
      TUNELOOP_POLL_MAX_MS: "300",
    });
    const blocks = codeBlocks(fs.readFileSync(path.join(repoRoot, "docs", "migrate.md"), "utf8"));
    let ran = 0;
    for (const [i, b] of blocks.entries()) {
      if (b.lang !== "sh") continue;
      for (const written of b.lines.filter((l) => l.startsWith("npx tuneloop"))) {
        // `| jq .a.b` is applied here (jq may not be installed).
        const jq = /\s*\|\s*jq\s+(\.[\w.]*)\s*$/.exec(written);
        const line = jq ? written.slice(0, jq.index) : written;
        const r = await runDocLine(line, env, repoRoot);
        ran++;
        const refused = written.includes("Pr3fEr9n");
        assert.equal(r.code, refused ? 1 : 0, `${written}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
        const shown = blocks[i + 1];
        if (shown?.lang === "json") {
          let json = JSON.parse(r.stdout) as unknown;
          for (const k of (jq?.[1] ?? "").split(".").filter(Boolean)) json = (json as Record<string, unknown>)[k];
          assert.deepEqual(json, JSON.parse(shown.lines.join("\n")), written);
        }
        if (shown?.lang === "text") {
          const printed = `${r.stdout}\n${r.stderr}`;
          for (const l of shown.lines.filter((x) => x.trim() && x.trim() !== "..."))
            assert.ok(printed.includes(l.trim()), `${written}: "${l.trim()}" is not in:\n${printed}`);
        }
      }
    }
    assert.ok(ran >= 5, `ran ${ran} commands`);
  });
});
