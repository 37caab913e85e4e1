/** Cards as Discord messages: embeds, buttons and files within Discord's limits. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fields, list, table, text, type Card } from "../../../src/core/cards.ts";
import { ButtonCommands, clipMarkdown, LIMITS, renderMessage } from "../../../src/adapters/discord/render.ts";
import { messageProblems } from "../../fakes/discord.ts";

const opts = () => ({ secrets: ["s3cret-token-abcdefgh"], buttons: new ButtonCommands() });
const problems = (m: ReturnType<typeof renderMessage>) =>
  messageProblems({
    ...m,
    attachments: m.files.map((f) => ({ id: f.name, filename: f.name, size: f.data.length, url: "", proxy_url: "" })),
  } as unknown as Parameters<typeof messageProblems>[0]);

describe("render", () => {
  test("a card is an embed: title, colour by tone, fields, tables in code blocks, buttons", () => {
    const card: Card = {
      title: "Run 3 · running",
      tone: "success",
      blocks: [
        text("intro"),
        fields([
          ["State", "running"],
          ["Hyperparameters", "epochs 3 · lr 0.0002 · batch 8 · LoRA r 8 α 16 · seed 1"],
        ]),
        table(["model", "score"], [["a", "1"]]),
        list(["x"], "Warnings"),
      ],
      actions: [
        { id: "confirm", label: "Confirm", command: "run confirm 3", style: "primary" },
        { id: "cancel", label: "Cancel", command: "run cancel 3", style: "danger" },
      ],
    };
    const m = renderMessage(card, opts());
    const e = m.embeds[0];
    assert.equal(e.title, "Run 3 · running");
    assert.equal(e.color, 0x57f287);
    assert.equal(e.description, "intro");
    assert.deepEqual(
      e.fields?.map((f) => [f.name, f.inline]),
      [
        ["State", true],
        ["Hyperparameters", false],
        ["\u200b", undefined],
        ["\u200b", undefined],
      ],
    );
    assert.match(e.fields?.[2].value ?? "", /^```\nmodel {2}score\n/);
    assert.deepEqual(
      m.components[0].components.map((b) => [b.custom_id, b.style]),
      [
        ["tune:run confirm 3", 1],
        ["tune:run cancel 3", 4],
      ],
    );
    assert.deepEqual(problems(m), []);
  });

  test("an untitled line of text is plain content (thread progress)", () => {
    const m = renderMessage({ blocks: [text("Run 3 started.")] }, opts());
    assert.equal(m.content, "Run 3 started.");
    assert.deepEqual(m.embeds, []);
  });

  test("over the limits: cut at a line, code blocks closed, and the whole card attached as a file", () => {
    const rows = Array.from({ length: 400 }, (_, i) => [`model-${i}`, `${i}%`]);
    const card: Card = {
      title: "T".repeat(300),
      blocks: [
        table(["model", "score"], rows),
        fields(Array.from({ length: 30 }, (_, i) => [`f${i}`, "v".repeat(1200)] as [string, string])),
      ],
      files: Array.from({ length: 10 }, (_, i) => ({ name: `f${i}.txt`, content: "x" })),
    };
    const m = renderMessage(card, opts());
    assert.deepEqual(problems(m), []);
    const e = m.embeds[0];
    assert.equal(e.title?.length, LIMITS.title);
    assert.equal((e.description?.match(/```/g) ?? []).length % 2, 0, "code fence closed");
    assert.equal(m.files.length, LIMITS.files);
    const full = m.files.find((f) => f.name.endsWith("-full.txt"));
    assert.ok(full, "the whole card as a file");
    assert.match(full.data.toString(), /model-399/);
    assert.match(e.footer?.text ?? "", /whole reply is in/);
    assert.match(e.footer?.text ?? "", /more file\(s\) left out|Longer than Discord shows/);
  });

  test("long plain text becomes a description, then a file", () => {
    const m = renderMessage({ blocks: [text("line\n".repeat(1500))] }, opts());
    assert.deepEqual(problems(m), []);
    assert.ok((m.embeds[0].description?.length ?? 0) <= LIMITS.description);
    assert.ok(m.files.some((f) => f.name === "reply-full.txt"));
  });

  test("5 rows of 5 buttons at most; a command too long for a custom id is kept by hash", () => {
    const buttons = new ButtonCommands();
    const long = `compare ${"x".repeat(120)} run:1`;
    const m = renderMessage(
      {
        title: "many",
        blocks: [],
        actions: [
          { id: "long", label: "L".repeat(100), command: long },
          ...Array.from({ length: 30 }, (_, i) => ({ id: `b${i}`, label: `b${i}`, command: `run status ${i}` })),
        ],
      },
      { secrets: [], buttons },
    );
    assert.equal(m.components.length, 5);
    assert.ok(m.components.every((r) => r.components.length <= 5));
    const first = m.components[0].components[0];
    assert.ok(first.custom_id.length <= 100 && first.custom_id.startsWith("tune#"));
    assert.equal(buttons.command(first.custom_id), long);
    assert.equal(first.label?.length, LIMITS.label);
    assert.equal(buttons.command("tune:run cancel 4"), "run cancel 4");
    assert.equal(buttons.command("someone-else"), null);
    assert.deepEqual(problems(m), []);
  });

  test("secrets are scrubbed from every string and text file", () => {
    const s = "s3cret-token-abcdefgh";
    const m = renderMessage(
      {
        title: `t ${s}`,
        blocks: [text(s), fields([[s, s]])],
        actions: [{ id: "a", label: s, command: "help" }],
        files: [{ name: "r.txt", content: `x ${s}` }],
      },
      opts(),
    );
    assert.ok(!JSON.stringify(m.embeds).includes(s));
    assert.ok(!JSON.stringify(m.components).includes(s));
    assert.ok(!m.files[0].data.toString().includes(s));
    assert.match(m.embeds[0].title ?? "", /\[redacted\]/);
  });

  test("clipMarkdown keeps within the limit", () => {
    for (const n of [10, 100, 1024]) {
      const s = clipMarkdown(`\`\`\`\n${"abc\n".repeat(500)}\`\`\``, n);
      assert.ok(s.length <= n, `${s.length} > ${n}`);
    }
  });
});
