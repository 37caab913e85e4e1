/**
 * Temporary files of an upload killed mid-way are removed at the next start, while another process's files in
 * flight (a running bot's download, when the CLI starts beside it) are left alone.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { createApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { repoRoot, tmpDir } from "../helpers.ts";

/** A child that creates a temporary file through the blob store (as a download does), prints its path, and waits. */
function writer(dataDir: string): { child: ChildProcess; file: Promise<string> } {
  const script = `
    import fs from "node:fs";
    import { fsBlobStore } from ${JSON.stringify(path.join(repoRoot, "src/lib/blobs.ts"))};
    const p = fsBlobStore(process.argv[1]).tmpPath("slack-F0UPLOAD");
    fs.writeFileSync(p, "half a dataset");
    process.stdout.write(p + "\\n");
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, dataDir], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const file = new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("exit", (code) => reject(new Error(`writer exited early (${code})`)));
  });
  return { child, file };
}

const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once("exit", r));

describe("temporary files at start", () => {
  test("a killed process's files go at the next start; a live process's stay", async () => {
    const dataDir = tmpDir("sweep");
    const killed = writer(dataDir);
    const alive = writer(dataDir);
    try {
      const [deadFile, liveFile] = await Promise.all([killed.file, alive.file]);
      killed.child.kill("SIGKILL");
      await exited(killed.child);
      assert.ok(fs.existsSync(deadFile) && fs.existsSync(liveFile));

      const config = loadConfig({ TUNELOOP_DATA: dataDir, LOG_LEVEL: "silent" });
      const app = createApp(config, createLogger(config));
      try {
        assert.ok(!fs.existsSync(deadFile), "the killed upload's file is gone at once, not after 24 h");
        assert.ok(fs.existsSync(liveFile), "the running process's file in flight is kept");
      } finally {
        await app.close();
      }
    } finally {
      alive.child.kill("SIGKILL");
      killed.child.kill("SIGKILL");
      await Promise.all([exited(alive.child), exited(killed.child)]);
    }
  });
});
