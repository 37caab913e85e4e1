/**
 * The local trainer on this machine: tokens/s and seconds per step with the batch shape, and the whole demo loop
 * (upload, split, experiment, LoRA training, greedy evals of base and tuned, comparison) against its 3-minute target.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCommand } from "../commands/dispatch.ts";
import { createApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { makeDemoTask } from "../src/core/demo/task.ts";
import { createLogger } from "../src/log.ts";
import { LocalTrainerClient } from "../src/providers/local/client.ts";
import { chatToExample } from "../src/providers/local/template.ts";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function benchTrainer(modelDir: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneloop-bench-train-"));
  try {
    const task = makeDemoTask({ seed: 1, trainRows: 450, evalRows: 150 });
    const examples = task.train.map((r) => chatToExample(r.messages)).filter((x) => x !== null);
    const client = new LocalTrainerClient({ modelDir });
    const steps: Array<{ t: number; tokens: number }> = [];
    const hyper = { epochs: 2, learningRate: 3e-3, batchSize: 16, loraRank: 8, loraAlpha: 16, seed: 1 };
    const out = await client.train(
      { examples, hyper, adapterDir: path.join(dir, "adapter") },
      (p) => steps.push({ t: p.elapsedMs, tokens: p.tokens }),
      new AbortController().signal,
    );
    const gens = [];
    const prompts = task.eval.map((r) => chatToExample(r.messages)?.prompt ?? "");
    const g0 = performance.now();
    gens.push(...(await client.generate(prompts, { adapterDir: out.adapterDir, maxTokens: 8 })));
    const genMs = performance.now() - g0;
    client.close();
    const perStep = steps.slice(1).map((s, i) => s.t - steps[i].t);
    const tokPerStep = steps.slice(1).map((s, i) => s.tokens - steps[i].tokens);
    const tps = out.tokens / (out.wallMs / 1000);
    console.log(`\n## Local trainer (stories260K, LoRA r8 on q,k,v,o + output, wasm backend)`);
    console.log(
      `batch ${hyper.batchSize} rows x ~${Math.round(median(tokPerStep) / hyper.batchSize)} tokens (median), ${out.steps} steps over ${hyper.epochs} epochs of ${examples.length} rows`,
    );
    console.log(`seconds per step (median)                  ${(median(perStep) / 1000).toFixed(3)} s`);
    console.log(
      `throughput                                 ${Math.round(tps).toLocaleString("en-US")} tokens/s   ratio to the 5,500 tokens/s calibration ${(tps / 5500).toFixed(2)}x`,
    );
    console.log(
      `greedy generation, ${prompts.length} eval rows   ${(genMs / 1000).toFixed(1)} s (${(((genMs / prompts.length) * 1000) / 1000).toFixed(1)} ms/row)`,
    );

    const data = path.join(dir, "data");
    const config = loadConfig({ TUNELOOP_DATA: data, LOG_LEVEL: "silent", TUNELOOP_LOCAL_MODEL_DIR: modelDir });
    const app = createApp(config, createLogger(config));
    try {
      const t0 = performance.now();
      const res = await runCommand(["demo"], {
        app,
        user: { id: "bench", name: "bench" },
        channelId: "bench",
        surface: "cli",
        progress: () => {},
      });
      const wall = (performance.now() - t0) / 1000;
      const d = res.data as {
        base: { accuracy: number; n: number };
        tuned: { accuracy: number };
        comparison: { pValue: number };
      };
      console.log(`\n## Demo loop (npm run tune -- demo): upload, split, run, evals of base and tuned, compare`);
      console.log(
        `wall ${wall.toFixed(1)} s   ratio to the 180 s target ${(wall / 180).toFixed(2)}x  ${wall < 180 ? "PASS" : "FAIL"}`,
      );
      console.log(
        `base ${(d.base.accuracy * 100).toFixed(1)}% -> tuned ${(d.tuned.accuracy * 100).toFixed(1)}% exact match on ${d.base.n} held-out rows, McNemar p = ${d.comparison.pValue.toExponential(2)}`,
      );
    } finally {
      await app.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
