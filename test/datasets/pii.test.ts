import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { luhnValid, scanPii, scanRowPii } from "../../src/core/datasets/pii.ts";
import type { NormalizedRow, PiiKind } from "../../src/core/datasets/types.ts";

function expectKinds(kind: PiiKind, positives: string[], negatives: string[]): void {
  for (const s of positives) assert.ok(scanPii(s).includes(kind), `expected ${kind} in: ${s}`);
  for (const s of negatives)
    assert.ok(!scanPii(s).includes(kind), `did not expect ${kind} in: ${s} (got ${scanPii(s)})`);
}

describe("scanPii", () => {
  it("email", () => {
    expectKinds(
      "email",
      ["Contact john.doe+news@acme-corp.co.uk for details", "mail me: a_b@sub.domain.io.", "<jane@startup.ai>"],
      [
        "Send it to user@example.com (documentation domain)",
        "ping admin@localhost or test@foo.test",
        "retina image logo@2x.png",
        "npm i @types/node and follow @openai",
        "version pkg@1.2.3",
        "no at sign at all",
      ],
    );
  });

  it("phone", () => {
    expectKinds(
      "phone",
      [
        "Call +1 415 555 0132 today",
        "Tel: +44 (0)20 7946 0958",
        "WhatsApp +49 30 12345678",
        "+33 1 23 45 67 89",
        "US office (415) 555-0132",
        "call 415-555-0132 or 1-800-555-0199",
        "phone 212.555.0198",
        "London 020 7946 0958",
        "mobile 07700 900123",
        "Paris 01 23 45 67 89",
      ],
      [
        "The year 2023 and the date 2023-10-05 and 05/10/2023",
        "Version 1.2.3.4 and IP 192.168.100.200",
        "SELECT * FROM orders WHERE id = 4155550132",
        "order #12345678901 shipped",
        "Population: 8,336,817 people",
        "Range 100-200-300 items",
        "Score 3 - 2 at 10:45:30",
        "math: 1 + 2 + 3 = 6, and +5 is positive",
        "ISBN 978-3-16-148410-0",
        "Temperature -40.5 to +45.2 degrees",
        "timestamps 1700000000 1700000001",
        "coordinates 40.7128, -74.0060",
      ],
    );
  });

  it("card_number (Luhn + issuer prefix)", () => {
    expectKinds(
      "card_number",
      [
        "card 4111 1111 1111 1111 exp 12/27",
        "Visa 4012888888881881",
        "MC 5555-5555-5555-4444",
        "Amex 3782 822463 10005",
        "Discover 6011111111111117",
      ],
      [
        "card 4111 1111 1111 1112", // fails Luhn
        "id 1234567812345678", // no issuer prefix
        "0000 0000 0000 0000",
        "tracking 9400111899223345678901",
        "timestamp 1700000000123 ms",
        "pi = 3.14159265358979323846",
        "phone +1 415 555 0132",
      ],
    );
    assert.equal(luhnValid("79927398713"), true);
    assert.equal(luhnValid("79927398710"), false);
  });

  it("national_id (US SSN, UK NINO, Canadian SIN)", () => {
    expectKinds(
      "national_id",
      ["SSN 123-45-6789", "ssn: 219-09-9999.", "NI number AB123456C", "NINO JG 10 37 56 A", "SIN 130-692-544"],
      [
        "SSN 000-12-3456", // area 000
        "SSN 666-12-3456", // area 666
        "SSN 912-34-5678", // area 9xx
        "SSN 123-00-4567", // group 00
        "SSN 123-45-0000", // serial 0000
        "code 123-456-789", // SIN shape failing Luhn
        "GB123456A BG123456A QQ123456A", // invalid NINO prefixes
        "date 2023-10-05, part 12-34-56",
        "hello AB12 world",
      ],
    );
  });

  it("api_key", () => {
    expectKinds(
      "api_key",
      [
        "OPENAI_API_KEY=sk-proj-4fA9xQ2mZ7bL1cV8nT3kR6wY0pH5jD2s",
        "key sk-ant-api03-AbCdEf123456GhIjKl7890MnOpQr",
        "legacy sk-abcdefghij1234567890ABCDEFGHIJ",
        "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "aws AKIAZ7QW3ERT5YUI9OPA",
        "token ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "slack xoxb-2345678901-2345678901234-AbCdEfGhIjKlMnOpQrStUvWx",
        "maps AIzaSyD3x9-q0T7uZ8vW1yX2zA3bC4dE5fG6hI7",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...",
        "-----BEGIN PRIVATE KEY-----",
      ],
      [
        "set OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxx",
        "sk-... (your key here)",
        "Authorization: Bearer YOUR_ACCESS_TOKEN_HERE",
        "Authorization: Bearer <token>",
        "AWS example key AKIAIOSFODNN7EXAMPLE",
        "the task-management tool and risk-free back-end",
        "-----BEGIN PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----",
        "ghp_short",
      ],
    );
  });

  it("plain prose, code and SQL have nothing", () => {
    const samples = [
      "Making crepes is easy: 1 cup flour, 2 eggs, 1/2 cup milk. Cook 1-2 minutes per side.",
      "SELECT id, name FROM users WHERE created_at > '2023-01-01' AND id IN (1001, 1002, 1003) LIMIT 100;",
      "def f(x):\n    return x ** 2 + 3 * x - 12345\n",
      "The Apollo 11 mission landed on July 20, 1969 at 20:17 UTC; 600 million people watched.",
    ];
    for (const s of samples) assert.deepEqual(scanPii(s), [], s);
  });
});

describe("scanRowPii", () => {
  it("reports kind and field per finding, never the value", () => {
    const email = "maria.garcia@contoso.org";
    const ssn = "123-45-6789";
    const row: NormalizedRow = {
      kind: "chat",
      messages: [
        { role: "system", content: "You are helpful." },
        { role: "user", content: `My email is ${email} and my SSN is ${ssn}.` },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "c1", type: "function", function: { name: "send", arguments: JSON.stringify({ to: email }) } },
          ],
        },
      ],
    };
    const findings = scanRowPii(row, 17);
    assert.deepEqual(findings, [
      { line: 17, kind: "email", field: "messages[1].content" },
      { line: 17, kind: "national_id", field: "messages[1].content" },
      { line: 17, kind: "email", field: "messages[2].tool_calls" },
    ]);
    const dump = JSON.stringify(findings);
    assert.ok(!dump.includes(email) && !dump.includes(ssn));
  });

  it("text rows use the `text` field; clean rows give nothing", () => {
    assert.deepEqual(scanRowPii({ kind: "text", text: "call +1 415 555 0132" }, 3), [
      { line: 3, kind: "phone", field: "text" },
    ]);
    assert.deepEqual(scanRowPii({ kind: "text", text: "nothing here" }, 4), []);
  });
});
