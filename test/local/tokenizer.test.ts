import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { BOS, EOS, Tokenizer } from "../../src/providers/local/tokenizer.ts";
import { localModelDir } from "./helpers.ts";

const tok = Tokenizer.fromFile(path.join(localModelDir, "tok512.bin"));

test("tokenizer: known ids of the known story's first sentence (llama2.c encode, dummy prefix, BPE merges)", () => {
  const ids = tok.encode("Once upon a time, there was a little girl named Lily.", { bos: true });
  assert.deepEqual(ids, [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426]);
  assert.equal(tok.piece(403), " Once");
  assert.equal(tok.piece(410), " ");
});

test("tokenizer: BOS/EOS flags, empty text, byte fallback for characters outside the vocabulary", () => {
  assert.deepEqual(tok.encode("", { bos: true, eos: true }), [BOS, EOS]);
  assert.deepEqual(tok.encode(""), []);
  const ids = tok.encode("a\nb");
  assert.ok(ids.includes(13), "newline is the byte-fallback token <0x0A> (id 13)");
  const emoji = tok.encode("😀", { dummyPrefix: false });
  assert.deepEqual(
    emoji,
    [...Buffer.from("😀", "utf8")].map((b) => b + 3),
  );
});

test("tokenizer: decode(encode(text)) round-trips (the dummy-prefix space is dropped after BOS, as in llama2.c)", () => {
  const texts = [
    "Once upon a time, there was a little girl named Lily.",
    "Tom lost his red kite at the park.\nHow did Tom feel?",
    "Zoë ate crème brûlée — 3 spoons! 😀 ¿qué?",
    "  two leading spaces, tabs\tand trailing space ",
    "<s> and </s> are plain text here",
  ];
  for (const t of texts) {
    assert.equal(tok.decode(tok.encode(t, { bos: true, eos: true })), t);
    // Without BOS the dummy-prefix space stays.
    assert.equal(tok.decode(tok.encode(t)), ` ${t}`);
    assert.equal(tok.decode(tok.encode(t, { dummyPrefix: false })), t);
  }
});
