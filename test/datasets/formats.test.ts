import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { classifyRecord, detectFormat, normalizeRecord } from "../../src/core/datasets/formats.ts";
import type { DatasetFormat, IssueKind, NormalizedRow } from "../../src/core/datasets/types.ts";
import { sharedDataset } from "../helpers.ts";
import { readShared } from "./shared-rows.ts";

const user = (content: string) => ({ role: "user", content });
const assistant = (content: string) => ({ role: "assistant", content });

/** Normalises a record that must be valid, and returns its row. */
function valid(value: unknown, format: DatasetFormat): NormalizedRow {
  const { row, issues } = normalizeRecord(value, format, 1);
  assert.deepEqual(issues, []);
  assert.ok(row);
  return row;
}

/** Normalises a record that must be refused, and returns [kind, field] of each issue (all on `line`). */
function problems(value: unknown, format: DatasetFormat, line = 7): Array<[IssueKind, string | undefined]> {
  const { row, issues } = normalizeRecord(value, format, line);
  assert.equal(row, undefined, "no row when there are issues");
  assert.ok(issues.length > 0, "expected issues");
  for (const issue of issues) assert.equal(issue.line, line);
  return issues.map((i) => [i.kind, i.field]);
}

/** The message of the one issue of `kind`. */
function messageOf(value: unknown, format: DatasetFormat, kind: IssueKind): string {
  const found = normalizeRecord(value, format, 1).issues.filter((i) => i.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}`);
  return found[0].message;
}

describe("classifyRecord", () => {
  it("recognises each format by its keys", () => {
    assert.equal(classifyRecord({ messages: [user("a"), assistant("b")] }), "openai-chat");
    assert.equal(classifyRecord({ messages: [] }), "openai-chat");
    assert.equal(classifyRecord({ messages: [{ from: "human", value: "a" }] }), "sharegpt");
    assert.equal(classifyRecord({ conversations: [{ from: "human", value: "a" }] }), "sharegpt");
    assert.equal(classifyRecord({ prompt: "a", completion: "b" }), "prompt-completion");
    assert.equal(classifyRecord({ instruction: "a", input: "", output: "b" }), "alpaca");
    assert.equal(classifyRecord({ text: "a" }), "text");
  });

  it("prefers OpenAI chat when messages have role/content, even with extra keys", () => {
    assert.equal(classifyRecord({ messages: [{ role: "user", content: "a", from: "x" }] }), "openai-chat");
  });

  it("a complete pair wins; a lone key still points to its format", () => {
    assert.equal(classifyRecord({ text: "a", instruction: "b", output: "c" }), "alpaca");
    assert.equal(classifyRecord({ instruction: "a" }), "alpaca");
    assert.equal(classifyRecord({ completion: "a" }), "prompt-completion");
  });

  it("null for anything else", () => {
    for (const v of [null, 3, "text", [{ text: "a" }], {}, { question: "a", answer: "b" }])
      assert.equal(classifyRecord(v), null);
  });
});

describe("detectFormat", () => {
  it("takes the majority", () => {
    assert.equal(
      detectFormat([{ text: "a" }, { prompt: "a", completion: "b" }, { prompt: "c", completion: "d" }]),
      "prompt-completion",
    );
  });

  it("breaks ties by the earliest record, and ignores unrecognised ones", () => {
    assert.equal(detectFormat([null, { foo: 1 }, { text: "a" }, { prompt: "a", completion: "b" }]), "text");
    assert.equal(detectFormat([{ prompt: "a", completion: "b" }, { text: "a" }]), "prompt-completion");
  });

  it("null when nothing is recognised", () => {
    assert.equal(detectFormat([]), null);
    assert.equal(detectFormat([{ foo: 1 }, 2]), null);
  });
});

describe("normalizeRecord: OpenAI chat", () => {
  it("keeps messages and their optional keys exactly, and the tools", () => {
    const call = { id: "call_1", type: "function", function: { name: "f", arguments: "{}" } };
    const tools = [{ type: "function", function: { name: "f", parameters: {} } }];
    const row = valid(
      {
        messages: [
          { role: "developer", content: "Be brief." },
          { role: "user", content: "Hi", name: "ann" },
          { role: "assistant", content: null, tool_calls: [call] },
          { role: "tool", content: "42", tool_call_id: "call_1" },
          { role: "assistant", content: "It is 42.", weight: 1 },
        ],
        tools,
        parallel_tool_calls: false,
      },
      "openai-chat",
    );
    assert.deepEqual(row, {
      kind: "chat",
      messages: [
        { role: "developer", content: "Be brief." },
        { role: "user", content: "Hi", name: "ann" },
        { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", content: "42", tool_call_id: "call_1" },
        { role: "assistant", content: "It is 42.", weight: 1 },
      ],
      tools,
    });
  });

  it("legacy functions and function_call are kept", () => {
    const functions = [{ name: "f", parameters: {} }];
    const row = valid(
      {
        messages: [
          user("x"),
          { role: "assistant", content: null, function_call: { name: "f", arguments: "{}" } },
          { role: "function", name: "f", content: "1" },
          assistant("one"),
        ],
        functions,
      },
      "openai-chat",
    );
    assert.deepEqual(row.tools, functions);
    assert.deepEqual(row.messages?.[1], {
      role: "assistant",
      content: null,
      function_call: { name: "f", arguments: "{}" },
    });
  });

  it("data_type: the record is not an object", () => {
    for (const v of [[1], "x", 3, null]) assert.deepEqual(problems(v, "openai-chat"), [["data_type", undefined]]);
    assert.match(
      messageOf([], "openai-chat", "data_type"),
      /The record is an array, not a JSON object.*\{"messages": \[/,
    );
  });

  it("missing_messages_list, with unknown keys reported too", () => {
    assert.deepEqual(problems({ messages: null }, "openai-chat"), [["missing_messages_list", "messages"]]);
  });

  it("empty_conversation", () => {
    assert.deepEqual(problems({ messages: [] }, "openai-chat"), [["empty_conversation", "messages"]]);
  });

  it("message_missing_key: role or content absent", () => {
    assert.deepEqual(problems({ messages: [{ content: "hi" }, { role: "assistant" }] }, "openai-chat"), [
      ["message_missing_key", "messages[0].role"],
      ["message_missing_key", "messages[1].content"],
    ]);
  });

  it("message_unrecognized_key", () => {
    assert.deepEqual(problems({ messages: [user("a"), { ...assistant("b"), refusal: null }] }, "openai-chat"), [
      ["message_unrecognized_key", "messages[1].refusal"],
    ]);
    assert.match(
      messageOf({ messages: [{ ...user("a"), foo: 1 }, assistant("b")] }, "openai-chat", "message_unrecognized_key"),
      /^messages\[0\]: unrecognized key "foo"; a message may only have role, content, name, function_call, tool_calls, tool_call_id, weight\. Remove it/,
    );
  });

  it("unrecognized_role, with a rename suggestion when there is an obvious one", () => {
    assert.deepEqual(
      problems({ messages: [user("a"), { role: "bot", content: "b" }, assistant("c")] }, "openai-chat"),
      [["unrecognized_role", "messages[1].role"]],
    );
    const bot = messageOf(
      { messages: [user("a"), user("x"), user("y"), { role: "bot", content: "b" }] },
      "openai-chat",
      "unrecognized_role",
    );
    assert.equal(
      bot,
      `messages[3]: role "bot" is not one of system, developer, user, assistant, tool, function. Rename it to "assistant".`,
    );
    assert.match(
      messageOf({ messages: [{ role: "User", content: "a" }, assistant("b")] }, "openai-chat", "unrecognized_role"),
      /Rename it to "user"\./,
    );
    const other = messageOf(
      { messages: [{ role: "narrator", content: "b" }, assistant("c")] },
      "openai-chat",
      "unrecognized_role",
    );
    assert.match(
      other,
      /role "narrator" is not one of .*ShareGPT-style data with from: human\/gpt belongs in a "conversations" list/,
    );
    assert.match(
      messageOf({ messages: [{ role: 3, content: "b" }, assistant("c")] }, "openai-chat", "unrecognized_role"),
      /^messages\[0\]: role must be a string, one of system, developer, user, assistant, tool, function, but it is a number\.$/,
    );
  });

  it("missing_content: not a string, empty, a parts list, or null without tool calls", () => {
    assert.deepEqual(
      problems(
        {
          messages: [
            { role: "user", content: 5 },
            { role: "user", content: "  " },
            { role: "user", content: [{ type: "text", text: "a" }] },
            { role: "assistant", content: null },
            { role: "user", content: null, tool_calls: [] },
            assistant("ok"),
          ],
        },
        "openai-chat",
      ),
      [
        ["missing_content", "messages[0].content"],
        ["missing_content", "messages[1].content"],
        ["missing_content", "messages[2].content"],
        ["missing_content", "messages[3].content"],
        ["missing_content", "messages[4].content"],
      ],
    );
    assert.match(
      messageOf({ messages: [user(""), assistant("a")] }, "openai-chat", "missing_content"),
      /^messages\[0\]: content is empty/,
    );
  });

  it("example_missing_assistant_message (and then no last_message_not_assistant)", () => {
    assert.deepEqual(problems({ messages: [{ role: "system", content: "s" }, user("u")] }, "openai-chat"), [
      ["example_missing_assistant_message", "messages"],
    ]);
  });

  it("last_message_not_assistant", () => {
    assert.deepEqual(problems({ messages: [user("a"), assistant("b"), user("c")] }, "openai-chat"), [
      ["last_message_not_assistant", "messages[2].role"],
    ]);
    assert.match(
      messageOf({ messages: [user("a"), assistant("b"), user("c")] }, "openai-chat", "last_message_not_assistant"),
      /ends with a "user" message/,
    );
  });

  it("a row without a user message is still valid, as in the cookbook", () => {
    valid({ messages: [{ role: "system", content: "s" }, assistant("You're great!")] }, "openai-chat");
  });

  it("unknown_key at the top of the record", () => {
    assert.deepEqual(problems({ messages: [user("a"), assistant("b")], id: 3, meta: {} }, "openai-chat"), [
      ["unknown_key", "id"],
      ["unknown_key", "meta"],
    ]);
    assert.match(
      messageOf({ messages: [user("a"), assistant("b")], id: 3 }, "openai-chat", "unknown_key"),
      /may only have messages, tools, functions, parallel_tool_calls/,
    );
  });

  it("wrong_type: name, weight, tool_calls, tool_call_id, function_call, tools, parallel_tool_calls, a message", () => {
    assert.deepEqual(
      problems(
        {
          messages: [
            { role: "user", content: "a", name: 1 },
            { role: "user", content: "a", weight: 1 },
            { role: "assistant", content: "b", weight: 0.5 },
            { role: "assistant", content: "b", tool_calls: {} },
            { role: "tool", content: "c", tool_call_id: 7 },
            { role: "assistant", content: "b", function_call: "f()" },
            "hello",
            assistant("d"),
          ],
          tools: "none",
          parallel_tool_calls: "yes",
        },
        "openai-chat",
      ),
      [
        ["wrong_type", "tools"],
        ["wrong_type", "parallel_tool_calls"],
        ["wrong_type", "messages[0].name"],
        ["wrong_type", "messages[1].weight"],
        ["wrong_type", "messages[2].weight"],
        ["wrong_type", "messages[3].tool_calls"],
        ["wrong_type", "messages[4].tool_call_id"],
        ["wrong_type", "messages[5].function_call"],
        ["wrong_type", "messages[6]"],
      ],
    );
  });

  it("wrong_type: messages is not a list", () => {
    assert.deepEqual(problems({ messages: "hi" }, "openai-chat"), [["wrong_type", "messages"]]);
  });

  it("reports every problem of a row, not only the first", () => {
    assert.deepEqual(
      problems({ messages: [{ role: "bot", content: 1, extra: true }, { content: "x" }], id: 1 }, "openai-chat", 12),
      [
        ["unknown_key", "id"],
        ["message_unrecognized_key", "messages[0].extra"],
        ["unrecognized_role", "messages[0].role"],
        ["missing_content", "messages[0].content"],
        ["message_missing_key", "messages[1].role"],
        ["example_missing_assistant_message", "messages"],
      ],
    );
  });

  it("format_mismatch: a record of another format", () => {
    assert.deepEqual(problems({ instruction: "a", output: "b" }, "openai-chat"), [["format_mismatch", undefined]]);
    assert.equal(
      messageOf({ conversations: [{ from: "human", value: "a" }] }, "openai-chat", "format_mismatch"),
      'This record looks like ShareGPT (conversations with from/value), but the file is OpenAI chat (detected from its first records). Convert it to OpenAI chat, e.g. {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}, or upload the two formats as separate files.',
    );
  });
});

describe("normalizeRecord: prompt/completion", () => {
  it("becomes a user and an assistant message", () => {
    assert.deepEqual(valid({ prompt: "2+2=", completion: " 4" }, "prompt-completion"), {
      kind: "chat",
      messages: [user("2+2="), assistant(" 4")],
    });
  });

  it("missing_field, empty_field, wrong_type, unknown_key", () => {
    assert.deepEqual(problems({ prompt: "a", completion: "" }, "prompt-completion"), [["empty_field", "completion"]]);
    assert.deepEqual(problems({ completion: "b", id: 2 }, "prompt-completion"), [
      ["unknown_key", "id"],
      ["missing_field", "prompt"],
    ]);
    assert.deepEqual(problems({ prompt: ["a"], completion: null }, "prompt-completion"), [
      ["wrong_type", "prompt"],
      ["missing_field", "completion"],
    ]);
    assert.equal(
      messageOf({ prompt: "a", completion: "" }, "prompt-completion", "empty_field"),
      '"completion" is empty. Write the expected completion, or remove the record.',
    );
  });
});

describe("normalizeRecord: Alpaca", () => {
  it("instruction and input become the user message, output the assistant's", () => {
    assert.deepEqual(valid({ instruction: "Translate", input: "chat", output: "cat" }, "alpaca").messages, [
      user("Translate\n\nchat"),
      assistant("cat"),
    ]);
    assert.deepEqual(valid({ instruction: "Hi", input: "", output: "Hello" }, "alpaca").messages, [
      user("Hi"),
      assistant("Hello"),
    ]);
    assert.deepEqual(valid({ instruction: "", input: "Only input", output: "ok" }, "alpaca").messages, [
      user("Only input"),
      assistant("ok"),
    ]);
  });

  it("system and history come first", () => {
    assert.deepEqual(
      valid(
        { instruction: "And now?", input: "", output: "Done.", system: "Be kind.", history: [["First?", "Yes."]] },
        "alpaca",
      ).messages,
      [
        { role: "system", content: "Be kind." },
        user("First?"),
        assistant("Yes."),
        user("And now?"),
        assistant("Done."),
      ],
    );
  });

  it("missing_field, empty_field, wrong_type, unknown_key", () => {
    assert.deepEqual(problems({ instruction: "a" }, "alpaca"), [["missing_field", "output"]]);
    assert.deepEqual(problems({ instruction: "a", input: "", output: " " }, "alpaca"), [["empty_field", "output"]]);
    assert.deepEqual(problems({ instruction: "", output: "x" }, "alpaca"), [["empty_field", "instruction"]]);
    assert.deepEqual(problems({ instruction: "a", output: "x", history: [["q", " "]] }, "alpaca"), [
      ["empty_field", "history[0]"],
    ]);
    assert.deepEqual(problems({ instruction: "a", input: 3, output: "b", history: [["q"]], source: "web" }, "alpaca"), [
      ["unknown_key", "source"],
      ["wrong_type", "input"],
      ["wrong_type", "history[0]"],
    ]);
    assert.equal(
      messageOf({ instruction: "a" }, "alpaca", "missing_field"),
      '"output" is missing: an Alpaca record needs it. Add the expected answer.',
    );
  });
});

describe("normalizeRecord: ShareGPT", () => {
  it("maps speakers to chat roles, keeps the system prompt and the tools", () => {
    const row = valid(
      {
        system: "You can call tools.",
        tools: '[{"name": "f"}]',
        conversations: [
          { from: "human", value: "Find it" },
          { from: "function_call", value: '{"name": "f", "arguments": {}}' },
          { from: "observation", value: '{"found": true}' },
          { from: "gpt", value: "Found." },
        ],
      },
      "sharegpt",
    );
    assert.deepEqual(row, {
      kind: "chat",
      messages: [
        { role: "system", content: "You can call tools." },
        user("Find it"),
        assistant('{"name": "f", "arguments": {}}'),
        { role: "tool", content: '{"found": true}' },
        assistant("Found."),
      ],
      tools: '[{"name": "f"}]',
    });
  });

  it("accepts a `messages` list of from/value turns", () => {
    assert.deepEqual(
      valid(
        {
          messages: [
            { from: "user", value: "a" },
            { from: "assistant", value: "b" },
          ],
        },
        "sharegpt",
      ).messages,
      [user("a"), assistant("b")],
    );
  });

  it("unrecognized_role, message_missing_key, message_unrecognized_key, missing_content", () => {
    assert.deepEqual(
      problems(
        {
          conversations: [
            { from: "bot", value: "a" },
            { value: "b" },
            { from: "human" },
            { from: "human", value: 3 },
            { from: "gpt", value: "c", weight: 1 },
            { from: "gpt", value: "" },
          ],
        },
        "sharegpt",
      ),
      [
        ["unrecognized_role", "conversations[0].from"],
        ["message_missing_key", "conversations[1].from"],
        ["message_missing_key", "conversations[2].value"],
        ["missing_content", "conversations[3].value"],
        ["message_unrecognized_key", "conversations[4].weight"],
        ["missing_content", "conversations[5].value"],
      ],
    );
    assert.match(
      messageOf(
        {
          conversations: [
            { from: "bot", value: "a" },
            { from: "gpt", value: "b" },
          ],
        },
        "sharegpt",
        "unrecognized_role",
      ),
      /^conversations\[0\]: from "bot" is not one of human, gpt, system, function_call, observation/,
    );
  });

  it("missing_messages_list, empty_conversation, example_missing_assistant_message, last_message_not_assistant", () => {
    assert.deepEqual(problems({ system: "s" }, "sharegpt"), [["missing_messages_list", "conversations"]]);
    assert.deepEqual(problems({ conversations: [] }, "sharegpt"), [["empty_conversation", "conversations"]]);
    assert.deepEqual(problems({ conversations: [{ from: "human", value: "a" }] }, "sharegpt"), [
      ["example_missing_assistant_message", "conversations"],
    ]);
    assert.deepEqual(
      problems(
        {
          conversations: [
            { from: "human", value: "a" },
            { from: "gpt", value: "b" },
            { from: "human", value: "c" },
          ],
        },
        "sharegpt",
      ),
      [["last_message_not_assistant", "conversations[2].from"]],
    );
    assert.match(
      messageOf(
        {
          conversations: [
            { from: "human", value: "a" },
            { from: "gpt", value: "b" },
            { from: "observation", value: "c" },
          ],
        },
        "sharegpt",
        "last_message_not_assistant",
      ),
      /ends with a from "observation" message/,
    );
  });

  it("unknown_key and wrong_type at the top", () => {
    assert.deepEqual(
      problems(
        {
          conversations: [
            { from: "human", value: "a" },
            { from: "gpt", value: "b" },
          ],
          id: "x",
          tools: 5,
          system: [],
        },
        "sharegpt",
      ),
      [
        ["unknown_key", "id"],
        ["wrong_type", "system"],
        ["wrong_type", "tools"],
      ],
    );
  });

  it("format_mismatch: OpenAI messages in a ShareGPT file", () => {
    assert.deepEqual(problems({ messages: [user("a"), assistant("b")] }, "sharegpt"), [["format_mismatch", undefined]]);
  });
});

describe("normalizeRecord: text", () => {
  it("a text row", () => {
    assert.deepEqual(valid({ text: "Once upon a time" }, "text"), { kind: "text", text: "Once upon a time" });
  });

  it("missing, empty or not a string; unknown keys", () => {
    assert.deepEqual(problems({ text: "" }, "text"), [["empty_field", "text"]]);
    assert.deepEqual(problems({ text: 5, meta: 1 }, "text"), [
      ["unknown_key", "meta"],
      ["wrong_type", "text"],
    ]);
    assert.deepEqual(problems({ body: "x" }, "text"), [
      ["unknown_key", "body"],
      ["missing_field", "text"],
    ]);
  });
});

describe("the real shared datasets, through readRecords + detectFormat + normalizeRecord", () => {
  it("openai-cookbook/toy_chat_fine_tuning.jsonl: 5 chat rows, one without a user message", async () => {
    const { format, rows, issues } = await readShared("openai-cookbook/toy_chat_fine_tuning.jsonl");
    assert.equal(format, "openai-chat");
    assert.deepEqual(issues, []);
    assert.equal(rows.length, 5);
    assert.deepEqual(rows[2], {
      line: 3,
      kind: "chat",
      messages: [user("I lost my book today."), assistant("You can read everything on ebooks these days!")],
    });
    assert.deepEqual(
      rows[3].messages?.map((m) => m.role),
      ["system", "assistant"],
    );
    assert.ok((rows[4].messages?.at(-1)?.content ?? "").startsWith("Eat a banana!Eat a banana!"));
  });

  it("together-cookbook/small_coqa_10.jsonl: 10 long chat rows", async () => {
    const { format, rows, issues } = await readShared("together-cookbook/small_coqa_10.jsonl");
    assert.equal(format, "openai-chat");
    assert.deepEqual(issues, []);
    assert.equal(rows.length, 10);
    for (const row of rows) {
      assert.ok((row.messages?.length ?? 0) >= 11 && (row.messages?.length ?? 0) <= 43);
      assert.equal(row.messages?.at(-1)?.role, "assistant");
    }
    assert.match(
      rows[0].messages?.[0].content ?? "",
      /^Read the story and extract answers for the questions\.\nStory: The Vatican Apostolic Library/,
    );
  });

  it("llama-factory/alpaca_en_demo.json: 999 Alpaca rows from a JSON array", async () => {
    const { format, rows, issues } = await readShared("llama-factory/alpaca_en_demo.json");
    assert.equal(format, "alpaca");
    assert.deepEqual(issues, []);
    assert.equal(rows.length, 999);
    assert.equal(rows[0].line, 2);
    assert.deepEqual(rows[0].messages?.[0], user("Describe a process of making crepes."));
    assert.match(rows[0].messages?.[1].content ?? "", /^Making crepes is an easy and delicious process!/);
    // The input, when there is one, follows the instruction after a blank line.
    const raw = JSON.parse(fs.readFileSync(sharedDataset("llama-factory/alpaca_en_demo.json"), "utf8"));
    assert.deepEqual(
      rows.map((r) => r.messages),
      raw.map((r: { instruction: string; input: string; output: string }) => [
        user(r.input ? `${r.instruction}\n\n${r.input}` : r.instruction),
        assistant(r.output),
      ]),
    );
    assert.equal(raw.filter((r: { input: string }) => r.input !== "").length, 412);
  });

  it("llama-factory/identity.json: 91 Alpaca rows with their placeholders", async () => {
    const { format, rows, issues } = await readShared("llama-factory/identity.json");
    assert.equal(format, "alpaca");
    assert.deepEqual(issues, []);
    assert.equal(rows.length, 91);
    assert.deepEqual(rows[0], {
      line: 2,
      kind: "chat",
      messages: [
        user("hi"),
        assistant("Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today?"),
      ],
    });
  });

  it("llama-factory/glaive_toolcall_en_demo.json: 300 ShareGPT rows with tool calls, results and tools", async () => {
    const { format, rows, issues } = await readShared("llama-factory/glaive_toolcall_en_demo.json");
    assert.equal(format, "sharegpt");
    assert.deepEqual(issues, []);
    assert.equal(rows.length, 300);
    const first = rows[0];
    assert.equal(first.line, 2);
    assert.deepEqual(
      first.messages?.map((m) => m.role),
      ["user", "assistant", "user", "assistant", "tool", "assistant", "user", "assistant"],
    );
    assert.equal(
      first.messages?.[3].content,
      '{"name": "search_recipes", "arguments": {"ingredients": ["chicken", "bell peppers", "rice"]}}',
    );
    assert.equal(typeof first.tools, "string");
    assert.equal(JSON.parse(first.tools as string)[0].name, "search_recipes");
    const toolTurns = rows.reduce((n, r) => n + (r.messages?.filter((m) => m.role === "tool").length ?? 0), 0);
    assert.equal(toolTurns, 211);
  });

  it("mlx-examples-lora/train.jsonl: 1000 text rows", async () => {
    const { format, rows, issues } = await readShared("mlx-examples-lora/train.jsonl");
    assert.equal(format, "text");
    assert.deepEqual(issues, []);
    assert.equal(rows.length, 1000);
    assert.equal(rows[0].kind, "text");
    assert.match(rows[0].text ?? "", /^table: 1-1000181-1\ncolumns: State\/territory/);
    assert.match(rows[999].text ?? "", /\nA: SELECT /);
  });
});
