import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, test } from "node:test";
import { MODEL_FILES, resolveModelDir } from "../../src/providers/local/model-files.ts";
import { tmpDir } from "../helpers.ts";
import { localModelDir } from "./helpers.ts";

let server: http.Server;
let base = "";
const hits: string[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url ?? "");
    const [, mode, file] = (req.url ?? "").split("/");
    const src = path.join(localModelDir, file ?? "");
    if ((mode !== "ok" && mode !== "bad") || !file || !fs.existsSync(src)) {
      res.writeHead(404).end("not found");
      return;
    }
    let body = fs.readFileSync(src);
    if (mode === "bad" && file === "stories260K.bin") {
      body = Buffer.from(body);
      body[1000] ^= 0x55; // one flipped byte
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

test("download: both files land in the cache with the right sha256, and are reused", async () => {
  const cache = tmpDir("local-model-cache");
  hits.length = 0;
  const dir = await resolveModelDir({ cacheDir: cache, baseUrl: `${base}/ok` });
  assert.equal(dir, path.join(cache, "stories260K"));
  for (const [file, want] of Object.entries(MODEL_FILES)) {
    assert.equal(sha(path.join(dir, file)), want.sha256);
    assert.equal(fs.statSync(path.join(dir, file)).size, want.bytes);
  }
  assert.deepEqual(hits.sort(), ["/ok/stories260K.bin", "/ok/tok512.bin"]);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["stories260K.bin", "tok512.bin"], "no temporary files left");
  hits.length = 0;
  assert.equal(await resolveModelDir({ cacheDir: cache, baseUrl: `${base}/ok` }), dir);
  assert.deepEqual(hits, [], "a verified cache is not downloaded again");
});

test("download: a sha256 mismatch is refused and nothing is saved", async () => {
  const cache = tmpDir("local-model-cache");
  await assert.rejects(
    resolveModelDir({ cacheDir: cache, baseUrl: `${base}/bad` }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, "local_model_unavailable");
      assert.match(err.message, /stories260K\.bin/);
      assert.match(err.message, /sha256/);
      assert.match(err.message, /set TUNELOOP_LOCAL_MODEL_DIR to a folder with stories260K\.bin and tok512\.bin/);
      return true;
    },
  );
  const dir = path.join(cache, "stories260K");
  assert.ok(!fs.existsSync(path.join(dir, "stories260K.bin")));
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes(".tmp")),
    [],
  );
});

test("download: an unreachable origin or an HTTP error says what to do", async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(
    resolveModelDir({ cacheDir: tmpDir("local-model-cache"), baseUrl: `http://127.0.0.1:${port}/x` }),
    (err: Error) => {
      assert.match(
        err.message,
        new RegExp(
          `^could not download http://127\\.0\\.0\\.1:${port}/x/stories260K\\.bin \\(.+\\); set TUNELOOP_LOCAL_MODEL_DIR to a folder with stories260K\\.bin and tok512\\.bin`,
        ),
      );
      return true;
    },
  );
  await assert.rejects(
    resolveModelDir({ cacheDir: tmpDir("local-model-cache"), baseUrl: `${base}/missing` }),
    /could not download .*\/missing\/stories260K\.bin \(HTTP 404.*TUNELOOP_LOCAL_MODEL_DIR/,
  );
  const failing: typeof fetch = async () => {
    throw new TypeError("fetch failed", { cause: new Error("getaddrinfo ENOTFOUND huggingface.co") });
  };
  await assert.rejects(resolveModelDir({ cacheDir: tmpDir("local-model-cache"), fetchImpl: failing }), (err: Error) => {
    assert.match(
      err.message,
      /^could not download https:\/\/huggingface\.co\/karpathy\/tinyllamas\/resolve\/main\/stories260K\/stories260K\.bin/,
    );
    assert.match(err.message, /ENOTFOUND/);
    assert.match(err.message, /set TUNELOOP_LOCAL_MODEL_DIR/);
    return true;
  });
});

test("a model folder: used as is when both files are there, a clear error naming TUNELOOP_LOCAL_MODEL_DIR when not", async () => {
  assert.equal(await resolveModelDir({ modelDir: localModelDir, cacheDir: tmpDir("unused") }), localModelDir);
  const empty = tmpDir("empty-model-dir");
  fs.copyFileSync(path.join(localModelDir, "tok512.bin"), path.join(empty, "tok512.bin"));
  await assert.rejects(
    resolveModelDir({ modelDir: empty, cacheDir: tmpDir("unused") }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, "local_model_unavailable");
      assert.match(err.message, /TUNELOOP_LOCAL_MODEL_DIR/);
      assert.match(err.message, /stories260K\.bin is not there/);
      assert.ok(err.message.includes(empty));
      return true;
    },
  );
});
