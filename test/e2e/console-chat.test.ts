/** The console chat, spawned as `npm start` would run it and driven through stdin like a person would. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { repoRoot, sharedDataset, testEnv, tmpDir } from "../helpers.ts";

function chat(
  lines: string[],
  env: NodeJS.ProcessEnv,
  opts: { closeStdin?: boolean } = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, "bin", "start.mjs")], {
      cwd: repoRoot,
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
    child.stdin.write(lines.map((l) => `${l}\n`).join(""));
    if (opts.closeStdin !== false) child.stdin.end();
  });
}

test("console chat: upload a real file and a broken one, list, help, then Ctrl-D exits cleanly", async () => {
  const data = tmpDir();
  const broken = path.join(tmpDir("broken"), "broken.jsonl");
  fs.writeFileSync(
    broken,
    [
      JSON.stringify({
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: "hello" },
        ],
      }),
      JSON.stringify({
        messages: [
          { role: "human", content: "hi" },
          { role: "assistant", content: "hello" },
        ],
      }),
      '{"messages": [{"role": "user"',
    ].join("\n"),
  );
  const r = await chat(
    [
      "/tune help",
      `/attach ${sharedDataset("openai-cookbook/toy_chat_fine_tuning.jsonl")}`,
      "/tune dataset upload toy",
      `/tune dataset upload --file ${broken}`,
      "/tune dataset list",
      "/tune dataset upload",
      "hello bot",
    ],
    testEnv(data),
  );
  assert.equal(r.code, 0, r.err);
  const out = r.out;
  // help, grouped
  assert.match(out, /Datasets:/);
  assert.match(out, /\/tune dataset upload \[name\]/);
  // the upload report as the bot posts it, with a message id
  assert.match(out, /tuneloop · m\d+\n\s+✓ Stored toy@v1/);
  assert.match(out, /Format\s+OpenAI chat/);
  assert.match(out, /Tokens per row\s+[\d,]+ total/);
  assert.match(out, /local\s+stories260K\s+20\s+[\d,]+\s+\$0/);
  // the broken file: refused, problems named by line and field, shown only to the user
  assert.match(out, /✗ Upload refused: 2 problems in 2 of 3 rows\s+\(only you can see this\)/);
  assert.match(out, /line 2 \(messages\[0\]\.role\)/);
  assert.match(out, /invalid_json \(1\):\n\s+- line 3/);
  assert.match(out, /--drop-bad-rows/);
  // list shows only the stored one
  assert.match(out, /toy@v1\s+5/);
  assert.doesNotMatch(out, /broken@v1/);
  // missing attachment and chatter get guidance, not a crash
  assert.match(out, /Attach a file to \/tune dataset upload/);
  assert.match(out, /Not a command\. Type \/tune help/);
  assert.match(out, /bye\n$/);
});

test("console chat: /quit exits cleanly while stdin stays open", async () => {
  const r = await chat(["/tune dataset list", "/quit"], testEnv(tmpDir()), { closeStdin: false });
  assert.equal(r.code, 0);
  assert.match(r.out, /No datasets yet/);
  assert.match(r.out, /bye/);
});
