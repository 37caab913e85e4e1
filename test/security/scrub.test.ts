/** The secrets scrubber: whole secrets and any 8+ character piece of one are hidden in replies and logs. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config.ts";
import { createLogger, scrubSecrets } from "../../src/log.ts";
import { cpuMsSince, tmpDir } from "../helpers.ts";

const KEY = "sk-proj-Zq81KDt5vQ0aLm3Xw9YbNc7R";
const TOKEN = "xoxb-1234567890-0987654321-FAKEbotTOKENvalue";

describe("scrubSecrets", () => {
  test("hides a whole secret", () => {
    assert.equal(scrubSecrets(`key=${KEY}.`, [KEY]), "key=[redacted].");
  });

  test("hides any piece of 8 or more characters of a secret, wherever it sits", () => {
    for (const [from, to] of [
      [0, 8],
      [3, 20],
      [KEY.length - 8, KEY.length],
      [10, 18],
    ] as const) {
      const piece = KEY.slice(from, to);
      const out = scrubSecrets(`before ${piece} after`, [KEY]);
      assert.equal(out, "before [redacted] after", piece);
    }
    // Pieces of two secrets side by side, and one piece cut across two words of a message.
    const out = scrubSecrets(`a${KEY.slice(4, 16)}${TOKEN.slice(9, 30)}b`, [KEY, TOKEN]);
    assert.equal(out, "a[redacted]b");
    assert.equal(scrubSecrets(`see ${TOKEN.slice(0, 12)}…`, [TOKEN]), "see [redacted]…");
  });

  test("leaves 7-character pieces and text that merely shares letters alone", () => {
    const seven = KEY.slice(5, 12);
    assert.equal(scrubSecrets(`x ${seven} y`, [KEY]), `x ${seven} y`);
    assert.equal(scrubSecrets("nothing secret here", [KEY, TOKEN]), "nothing secret here");
    assert.equal(scrubSecrets("", [KEY]), "");
    assert.equal(scrubSecrets("abc", []), "abc");
  });

  test("a long message with many near misses is scrubbed in linear time", () => {
    const text = `${"sk-proj-Zq8".repeat(50_000)}${KEY.slice(2, 14)}`;
    const t0 = process.cpuUsage();
    const out = scrubSecrets(text, [KEY, TOKEN]);
    assert.ok(out.endsWith("[redacted]"));
    assert.ok(!out.includes(KEY.slice(2, 14)));
    // Generous: a quadratic scan of 550 kB would take minutes.
    assert.ok(cpuMsSince(t0) < 5000, `${cpuMsSince(t0).toFixed(0)} ms of CPU`);
  });

  test("the log hides partial secrets too, also where JSON escaped them", async () => {
    const dir = tmpDir("scrub-log");
    const file = path.join(dir, "t.log");
    const quoted = 'pa"ss\\word-1234567';
    const config = loadConfig({
      TUNELOOP_DATA: dir,
      TUNELOOP_LOG_FILE: file,
      OPENAI_API_KEY: KEY,
      DB_PASSWORD: quoted,
      LOG_LEVEL: "info",
    });
    const log = createLogger(config);
    log.info({ note: `the key starts ${KEY.slice(0, 14)}` }, `tail ${KEY.slice(-10)}`);
    log.info({ pw: quoted.slice(0, 12) }, "quoted");
    let out = "";
    for (const until = Date.now() + 120_000; !out.includes('"msg":"quoted"') && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 20));
      out = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    }
    assert.match(out, /"msg":"quoted"/);
    assert.ok(!out.includes(KEY.slice(0, 14)) && !out.includes(KEY.slice(-10)), out);
    assert.ok(!out.includes(JSON.stringify(quoted.slice(0, 12)).slice(1, -1)), out);
    assert.match(out, /\[redacted\]/);
  });
});
