/**
 * A small local fake of the S3 API (path-style: /<bucket>/<key>) for the object-store blob tests: PutObject (with
 * If-None-Match: * and x-amz-checksum-sha256 honoured, as S3 and MinIO do), GetObject, HeadObject. Objects live in
 * memory; `puts` counts the writes that stored something.
 */
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeS3 {
  url: string;
  objects: Map<string, Buffer<ArrayBufferLike>>;
  puts: number;
  close(): Promise<void>;
}

const xmlError = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

/** Undoes aws-chunked content encoding (`<hex size>[;chunk-signature=...]\r\n<data>\r\n ... 0\r\n<trailers>`). */
function unchunk(buf: Buffer): Buffer<ArrayBufferLike> {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", i);
    if (eol < 0) break;
    const size = Number.parseInt(buf.subarray(i, eol).toString().split(";")[0], 16);
    if (!size) break;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

export async function startFakeS3(): Promise<FakeS3> {
  const objects = new Map<string, Buffer<ArrayBufferLike>>();
  const state = { puts: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const key = decodeURIComponent((req.url ?? "/").split("?")[0]);
      const send = (status: number, body = "", headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/xml", ...headers });
        res.end(body);
      };
      if (req.method === "PUT") {
        let body: Buffer<ArrayBufferLike> = Buffer.concat(chunks);
        if (String(req.headers["content-encoding"] ?? "").includes("aws-chunked")) body = unchunk(body);
        if (req.headers["if-none-match"] === "*" && objects.has(key))
          return send(
            412,
            xmlError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold"),
          );
        const want = req.headers["x-amz-checksum-sha256"];
        if (typeof want === "string" && crypto.createHash("sha256").update(body).digest("base64") !== want)
          return send(400, xmlError("BadDigest", "The SHA256 you specified did not match the calculated checksum."));
        objects.set(key, body);
        state.puts++;
        return send(200, "", { etag: `"${crypto.createHash("md5").update(body).digest("hex")}"` });
      }
      const obj = objects.get(key);
      if (req.method === "HEAD") {
        if (!obj) return send(404);
        return send(200, "", { "content-length": String(obj.length) });
      }
      if (req.method === "GET") {
        if (!obj) return send(404, xmlError("NoSuchKey", "The specified key does not exist."));
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(obj.length) });
        return res.end(obj);
      }
      send(405, xmlError("MethodNotAllowed", "not in this fake"));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    objects,
    get puts() {
      return state.puts;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
