/**
 * Rows nested deeper than 64 levels: refused at upload with their line and field; and a version stored before that
 * check (written here straight into the store) makes export, check-overlap and run start give a coded error that
 * names the row, never an internal error.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { runCommand } from "../../commands/dispatch.ts";
import { datasetRepo } from "../../db/repos/datasets.ts";
import { MAX_JSON_DEPTH, tooDeep } from "../../src/core/datasets/depth.ts";
import type { LocatedRow } from "../../src/core/datasets/types.ts";
import { ctxFor, engineApp, seedExperiment } from "../engine/engine-helpers.ts";
import { tmpDir } from "../helpers.ts";

/** A value nested `depth` objects deep: {"a": {"a": ... 1}}. */
const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

const chatRow = (i: number) =>
  JSON.stringify({
    messages: [
      { role: "user", content: `question ${i}` },
      { role: "assistant", content: `answer ${i}` },
    ],
  });

describe("rows nested too deep", () => {
  test("tooDeep: the depth counts containers (the record is level 1) and names the path; it never recurses", () => {
    assert.equal(tooDeep({ messages: [{ role: "user" }] }), null);
    assert.equal(tooDeep(nested(MAX_JSON_DEPTH - 1)), null);
    assert.deepEqual(tooDeep({ x: [nested(MAX_JSON_DEPTH)] }), {
      field: "x[0].a.a.a…",
      depth: MAX_JSON_DEPTH + 1,
    });
    assert.ok(tooDeep(nested(200_000)), "deeper than any call stack");
  });

  test("an upload with a row nested 100 (or 20,000) levels deep is refused with its line and field", async () => {
    const { app } = await engineApp();
    try {
      for (const depth of [100, 20_000]) {
        const file = path.join(tmpDir("deep"), "deep.jsonl");
        const rows = Array.from({ length: 12 }, (_, i) => chatRow(i));
        // a tool definition whose parameters nest `depth` levels deep
        rows.push(
          `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"tools":[{"type":"function","function":{"name":"f","parameters":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}}]}`,
        );
        fs.writeFileSync(file, `${rows.join("\n")}\n`);
        const out = await runCommand(["dataset", "upload", "--file", file, "--name", "deep"], ctxFor(app));
        const data = out.data as {
          stored: boolean;
          errors: Array<{ line: number; field: string; kind: string; message: string }>;
        };
        assert.equal(out.exitCode, 1, JSON.stringify(out.data).slice(0, 500));
        assert.equal(data.stored, false);
        assert.equal(data.errors.length, 1);
        const [e] = data.errors;
        assert.equal(e.line, 13);
        assert.equal(e.kind, "too_deep");
        assert.equal(e.field, "tools[0].function.parameters.a…");
        assert.match(e.message, /nested more than 64 levels deep/);
      }
      assert.equal(app.datasets.list().length, 0, "nothing stored");
    } finally {
      await app.close();
    }
  });

  test("a version stored before the limit: export, check-overlap and run start give coded errors naming the row", async () => {
    const { app } = await engineApp();
    try {
      const { train, eval: evalRef } = await seedExperiment(app, { rows: 40 });
      // An older tuneloop stored this version: the training rows plus one whose tools nest 5,000 levels deep.
      const source = app.datasets.get(train);
      const rows = await app.datasets.allRows(source);
      const deep: LocatedRow = {
        kind: "chat",
        messages: [
          { role: "user", content: "What colour is the deep item?" },
          { role: "assistant", content: "red" },
        ],
        tools: [{ type: "function", function: { name: "f", parameters: "DEEP" } }],
        line: rows.length + 1,
        index: rows.length,
      };
      // (written as text: JSON.stringify itself overflows on a value this deep)
      const deepLine = JSON.stringify(deep).replace('"DEEP"', `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`);
      const body = `${[...rows.map((r) => JSON.stringify(r)), deepLine].join("\n")}\n`;
      const put = async (content: Buffer, label: string) => {
        const sha = (await import("node:crypto")).createHash("sha256").update(content).digest("hex");
        const tmp = app.blobs.tmpPath(label);
        fs.writeFileSync(tmp, content);
        await app.blobs.adopt(tmp, sha);
        return sha;
      };
      const normSha = await put(Buffer.from(body), "old.jsonl");
      const counts = [...app.datasets.tokenCounts(source), 20];
      const tokensSha = await put(Buffer.from(Uint32Array.from(counts).buffer), "old.tokens");
      datasetRepo(app.db!).addVersion({
        ...source,
        name: "olddeep",
        sha256: normSha,
        normSha256: normSha,
        tokensSha256: tokensSha,
        rows: rows.length + 1,
        createdAt: new Date(),
      });

      const expectCoded = async (words: string[]) => {
        const out = await runCommand(words, ctxFor(app));
        assert.equal(out.exitCode, 1, `${words.join(" ")}: ${JSON.stringify(out.data).slice(0, 300)}`);
        assert.equal(out.error?.code, "dataset_row_too_deep", words.join(" "));
        assert.match(
          out.error?.message ?? "",
          new RegExp(
            `^olddeep@v1 line ${rows.length + 1} \\(tools\\[0\\]\\.function\\.parameters\\.a…\\) is nested more than 64 levels deep`,
          ),
        );
        assert.match(out.error?.message ?? "", /upload the file again/);
      };
      await expectCoded(["dataset", "export", "olddeep", "--format", "openai"]);
      await expectCoded(["dataset", "check-overlap", "olddeep", evalRef]);
      await expectCoded(["run", "start", "olddeep", "--experiment", "exp", "--yes"]);
      assert.equal(app.engine.listRuns().length, 0, "no run was created");
    } finally {
      await app.close();
    }
  });
});
