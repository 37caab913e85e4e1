import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import zlib from "node:zlib";
import { printableSnippet, SNIFF_BYTES, type SniffResult, sniffFile } from "../../src/core/datasets/sniff.ts";
import { sharedDataset } from "../helpers.ts";

const sniff = (bytes: Uint8Array | string): SniffResult => {
  const b = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
  return sniffFile(b.subarray(0, SNIFF_BYTES), b.length);
};

function refused(r: SniffResult, code: string, ...mentions: RegExp[]): void {
  assert.equal(r.ok, false, "expected a refusal");
  if (r.ok) return;
  assert.equal(r.code, code, r.message);
  for (const m of mentions) assert.match(r.message, m);
}

const JSONL = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n';

describe("sniffFile: accepted files", () => {
  it("JSON Lines", () => {
    assert.deepEqual(sniff(JSONL), { ok: true, hasBom: false, container: "jsonl" });
  });

  it("a JSON array, after leading whitespace", () => {
    assert.deepEqual(sniff(' \r\n\t[\n  {"text": "a"}\n]\n'), { ok: true, hasBom: false, container: "json-array" });
  });

  it("a UTF-8 BOM is reported and skipped", () => {
    assert.deepEqual(sniff(`\uFEFF${JSONL}`), { ok: true, hasBom: true, container: "jsonl" });
    assert.deepEqual(sniff('\uFEFF\n[{"text": "a"}]'), { ok: true, hasBom: true, container: "json-array" });
  });

  it("only the head is needed: totalBytes may be far larger", () => {
    assert.deepEqual(sniffFile(Buffer.from(JSONL), 90 * 1024 * 1024), { ok: true, hasBom: false, container: "jsonl" });
  });

  it("the real shared datasets", () => {
    const expected: Record<string, string> = {
      "openai-cookbook/toy_chat_fine_tuning.jsonl": "jsonl",
      "together-cookbook/small_coqa_10.jsonl": "jsonl",
      "llama-factory/alpaca_en_demo.json": "json-array",
      "llama-factory/identity.json": "json-array",
      "llama-factory/glaive_toolcall_en_demo.json": "json-array",
      "mlx-examples-lora/train.jsonl": "jsonl",
    };
    for (const [file, container] of Object.entries(expected)) {
      const r = sniff(fs.readFileSync(sharedDataset(file)));
      assert.deepEqual(r, { ok: true, hasBom: false, container }, file);
    }
  });
});

describe("sniffFile: refusals", () => {
  it("an empty file", () => {
    refused(sniffFile(new Uint8Array(0), 0), "dataset_empty_file", /empty/);
  });

  it("a file of blank space only", () => {
    refused(sniff(" \n\r\n\t\n"), "dataset_empty_file", /only blank space/);
    refused(sniff("\uFEFF\n\n"), "dataset_empty_file");
  });

  it("a head of blank space in front of a larger file", () => {
    refused(sniffFile(Buffer.alloc(SNIFF_BYTES, 0x20), SNIFF_BYTES * 2), "dataset_not_json", /blank/);
  });

  it("a zip archive renamed to .jsonl", () => {
    // A minimal real zip: local file header of "train.jsonl".
    const zip = Buffer.concat([
      Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0x08, 0]),
      Buffer.alloc(16),
      Buffer.from("train.jsonl"),
    ]);
    refused(sniff(zip), "dataset_archive", /zip archive/, /Unzip it/, /\.jsonl or \.json file inside/);
  });

  it("gzip, bzip2, xz, 7z, zstd and tar files", () => {
    refused(sniff(zlib.gzipSync(JSONL)), "dataset_archive", /gzip/, /Unpack it/);
    refused(sniff(Buffer.from("BZh91AY&SY\x00\x01", "latin1")), "dataset_archive", /bzip2/);
    refused(sniff(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04])), "dataset_archive", /xz/);
    refused(sniff(Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04])), "dataset_archive", /7z/);
    refused(sniff(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00])), "dataset_archive", /zstd/);
    const tar = Buffer.alloc(1024);
    tar.write("train.jsonl", 0);
    tar.write("ustar\x0000", 257, "latin1");
    refused(sniff(tar), "dataset_archive", /tar/);
  });

  it("UTF-16 and UTF-32 files with a BOM", () => {
    refused(
      sniff(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSONL, "utf16le")])),
      "dataset_wrong_encoding",
      /UTF-16 \(little-endian\)/,
      /save it as UTF-8/,
    );
    refused(
      sniff(Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(JSONL, "utf16le").swap16()])),
      "dataset_wrong_encoding",
      /UTF-16 \(big-endian\)/,
    );
    const utf32le = Buffer.alloc(4 * (JSONL.length + 1));
    utf32le.writeUInt32LE(0xfeff, 0);
    for (let i = 0; i < JSONL.length; i++) utf32le.writeUInt32LE(JSONL.charCodeAt(i), 4 * (i + 1));
    refused(sniff(utf32le), "dataset_wrong_encoding", /UTF-32 \(little-endian\)/);
    refused(sniff(Buffer.from(utf32le).swap32()), "dataset_wrong_encoding", /UTF-32 \(big-endian\)/);
  });

  it("UTF-16 and UTF-32 files without a BOM, by their NUL bytes", () => {
    const utf16le = Buffer.from(JSONL.repeat(3), "utf16le");
    refused(sniff(utf16le), "dataset_wrong_encoding", /UTF-16 \(little-endian\)/, /save it as UTF-8/);
    refused(sniff(Buffer.from(utf16le).swap16()), "dataset_wrong_encoding", /UTF-16 \(big-endian\)/);
    const utf32le = Buffer.alloc(4 * JSONL.length);
    for (let i = 0; i < JSONL.length; i++) utf32le.writeUInt32LE(JSONL.charCodeAt(i), 4 * i);
    refused(sniff(utf32le), "dataset_wrong_encoding", /UTF-32 \(little-endian\)/);
  });

  it("UTF-16 text with many non-ASCII characters is still recognised", () => {
    const mixed = Buffer.from(`{"text": "${"日本語のテキスト abc ".repeat(20)}"}\n`, "utf16le");
    refused(sniff(mixed), "dataset_wrong_encoding", /UTF-16/);
  });

  it("known binary files are named", () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.from([0, 0, 0, 13]),
      Buffer.from("IHDR"),
    ]);
    refused(sniff(png), "dataset_binary", /PNG image/);
    refused(sniff("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "dataset_binary", /PDF document/);
    refused(
      sniff(Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(84)])),
      "dataset_binary",
      /SQLite database/,
      /Export the examples as JSON Lines/,
    );
    refused(sniff(Buffer.concat([Buffer.from("PAR1"), Buffer.alloc(32, 1)])), "dataset_binary", /Parquet file/);
    refused(sniff(Buffer.from([0x80, 0x04, 0x95, 0x10, 0, 0, 0])), "dataset_binary", /Python pickle/);
  });

  it("other binary data: NUL bytes or many control characters", () => {
    const random = Buffer.alloc(4096);
    for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) % 251;
    refused(sniff(random), "dataset_binary", /binary/);
    const controls = Buffer.from(`{${"\x01\x02\x03abc".repeat(100)}}`);
    refused(sniff(controls), "dataset_binary", /control/);
  });

  it("a stray NUL in a text file is left to the line checks", () => {
    const r = sniff(`${JSONL.repeat(50)}{"text": "a\0b"}\n`);
    assert.deepEqual(r, { ok: true, hasBom: false, container: "jsonl" });
  });

  it("text that is not JSON quotes its first line, sanitised", () => {
    refused(
      sniff("instruction,input,output\nSay hi,,hi\n"),
      "dataset_not_json",
      /expected JSON Lines or a JSON array/i,
      /"instruction,input,output"/,
      /CSV or TSV/,
    );
    const long = sniff(`  Hello\x07 world, this line is much longer than forty characters\n{"a":1}`);
    refused(long, "dataset_not_json", /"Hello\? world, this line is much longer t\.\.\."/);
    refused(sniff("\uFEFF# My dataset\n"), "dataset_not_json", /"# My dataset"/, /Convert the file to JSON Lines/);
  });
});

describe("printableSnippet", () => {
  it("cuts by characters, not bytes, and masks control and broken characters", () => {
    assert.equal(printableSnippet(Buffer.from("héllo wörld"), 5), '"héllo..."');
    assert.equal(printableSnippet(Buffer.from([0x61, 0x00, 0xff, 0x62]), 10), '"a??b"');
    assert.equal(printableSnippet(Buffer.from("😀😀"), 2), '"😀😀"');
  });
});
