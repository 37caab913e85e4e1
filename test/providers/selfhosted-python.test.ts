/**
 * The default Python trainer's own tests (trainers/test_hf_peft_sft.py): job-file parsing and assistant-only label
 * masking run with plain python3; the real chat-template check runs where transformers is importable and is
 * skipped with a message elsewhere. Also: the trainer started without torch fails by the contract, with an error
 * event that says what to install.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { repoRoot, runProcess, tmpDir } from "../helpers.ts";

const python = ["/usr/bin/python3", "/usr/local/bin/python3"].find((p) => fs.existsSync(p));

describe("the default Python trainer", { skip: python ? false : "no python3 on this machine" }, () => {
  test("its unittest suite passes (torch-free parts always; the real template where transformers is)", async () => {
    const r = await runProcess(python as string, [path.join("trainers", "test_hf_peft_sft.py")], {
      cwd: repoRoot,
      env: process.env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Ran \d+ tests/);
    assert.match(r.stderr, /test_loss_on_assistant_tokens_only .* ok/);
    assert.match(r.stderr, /test_errors_name_the_field .* ok/);
  });

  test("without its requirements it reports an error event naming what to install", async (t) => {
    const probe = await runProcess(python as string, ["-c", "import torch"], { cwd: repoRoot, env: process.env });
    if (probe.code === 0) return t.skip("torch is installed here");
    const dir = tmpDir("py-trainer");
    fs.writeFileSync(
      path.join(dir, "train.jsonl"),
      '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n',
    );
    const job = {
      version: 1,
      runId: 1,
      baseModel: "Qwen/Qwen2.5-0.5B-Instruct",
      trainFile: path.join(dir, "train.jsonl"),
      rows: 1,
      outputDir: path.join(dir, "out"),
      adapterName: "tl-r1-00000000",
      hyper: { epochs: 1, learningRate: 1e-4, batchSize: 1, loraRank: 8, loraAlpha: 16 },
    };
    fs.writeFileSync(path.join(dir, "job.json"), JSON.stringify(job));
    const r = await runProcess(
      python as string,
      [path.join("trainers", "hf_peft_sft.py"), path.join(dir, "job.json")],
      {
        cwd: repoRoot,
        env: process.env,
      },
    );
    assert.equal(r.code, 1);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1) as string);
    assert.equal(last.event, "error");
    assert.match(last.message, /No module named 'torch'.*pip install -r trainers\/requirements\.txt/);
  });
});
