/**
 * The object-store blob store (TUNELOOP_BLOB_URL=s3://bucket/prefix) against a local fake of the S3 API: a dataset
 * uploaded on one "machine" (data folder) is read on another that never saw it, stored once under its sha256, and
 * bytes that do not match their name are refused.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { s3BlobStore } from "../../src/scale/s3-blobs.ts";
import { loadConfig } from "../../src/config.ts";
import { repoRoot, runProcess, tmpDir } from "../helpers.ts";
import { engineApp, writeTask } from "../engine/engine-helpers.ts";
import { startFakeS3 } from "../fakes/s3.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test-access-key";
process.env.AWS_SECRET_ACCESS_KEY ??= "test-secret-key";

const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

test("a dataset uploaded on one machine is read on another through the object store, stored once by its sha256", async () => {
  const s3 = await startFakeS3();
  const env = { TUNELOOP_BLOB_URL: "s3://tuneloop-blobs/team-a", TUNELOOP_S3_ENDPOINT: s3.url };
  const a = await engineApp({ env });
  try {
    const file = writeTask(tmpDir("task"), 40);
    await a.app.datasets.upload({ filePath: file, filename: "task.jsonl", name: "task" });
    const v = a.app.datasets.get("task");
    const keys = [...s3.objects.keys()].sort();
    assert.equal(keys.length, 3, keys.join("\n")); // the upload as sent, its normalised rows, its token counts
    assert.ok(
      keys.every((k) => /^\/tuneloop-blobs\/team-a\/[0-9a-f]{2}\/[0-9a-f]{62}$/.test(k)),
      keys.join("\n"),
    );
    const norm = s3.objects.get(`/tuneloop-blobs/team-a/${v.normSha256.slice(0, 2)}/${v.normSha256.slice(2)}`);
    assert.ok(norm && sha(norm) === v.normSha256, "the object's bytes are the blob its name says");

    // Another machine (a process with its own empty data folder) reads it through the same object store.
    const b = await runProcess(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(repoRoot, "test", "pg", "s3-machine-b.ts"),
        tmpDir("machine-b"),
        s3.url,
        v.normSha256,
        "0".repeat(64),
      ],
      { cwd: repoRoot, env: process.env },
    );
    assert.equal(b.code, 0, b.stderr);
    const seen = JSON.parse(b.stdout) as {
      hasBefore: boolean;
      hasAfter: boolean;
      sha256: string;
      lines: number;
      missingError: string;
    };
    assert.deepEqual(
      { hasBefore: seen.hasBefore, hasAfter: seen.hasAfter, sha256: seen.sha256, lines: seen.lines },
      { hasBefore: false, hasAfter: true, sha256: v.normSha256, lines: 40 },
    );
    // A blob nobody stored: a clear error, not an empty file.
    assert.match(seen.missingError, /could not fetch blob 0{64} from the object store/);

    // The same content again: the store keeps the object it has (If-None-Match), nothing is written twice.
    const store = s3BlobStore(tmpDir("machine-c"), {
      bucket: "tuneloop-blobs",
      prefix: "team-a",
      endpoint: s3.url,
      region: "us-east-1",
    });
    try {
      const puts = s3.puts;
      const again = store.tmpPath("again");
      fs.writeFileSync(again, norm);
      await store.adopt(again, v.normSha256);
      assert.equal(s3.puts, puts);
      assert.equal(store.has(v.normSha256), true);
      // Bytes that are not the blob they claim to be are refused by the store (the upload carries its SHA-256).
      const liar = store.tmpPath("liar");
      fs.writeFileSync(liar, "not those rows\n");
      const claimed = sha(Buffer.from("something else"));
      await assert.rejects(store.adopt(liar, claimed), /SHA256|checksum|BadDigest/i);
      assert.equal(s3.objects.has(`/tuneloop-blobs/team-a/${claimed.slice(0, 2)}/${claimed.slice(2)}`), false);
      assert.equal(store.has(claimed), false);
    } finally {
      await store.close();
    }
  } finally {
    await a.app.close();
    await s3.close();
  }
});

test("TUNELOOP_BLOB_URL must be s3://bucket[/prefix]", () => {
  assert.throws(
    () => loadConfig({ TUNELOOP_DATA: tmpDir(), TUNELOOP_BLOB_URL: "http://minio:9000/bucket" }),
    /TUNELOOP_BLOB_URL="http:\/\/minio:9000\/bucket": write s3:\/\/bucket or s3:\/\/bucket\/prefix/,
  );
  const c = loadConfig({ TUNELOOP_DATA: tmpDir(), TUNELOOP_BLOB_URL: "s3://my-bucket/a/b/" });
  assert.deepEqual(c.scale.blob, {
    kind: "s3",
    bucket: "my-bucket",
    prefix: "a/b",
    endpoint: undefined,
    region: "us-east-1",
  });
});
