/** The one retry policy of every HTTP client: Retry-After honoured, backoff capped, an unsure create never retried. */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { ApiClient, ProviderUnavailableError } from "../../src/providers/hosted.ts";
import { maybeReceived, nextRetryMs, retryDelayMs } from "../../src/lib/retry.ts";

describe("nextRetryMs", () => {
  test("honours Retry-After in seconds and as an HTTP date, else backs off with jitter up to a cap", () => {
    assert.equal(nextRetryMs(0, { status: 429, retryAfter: "3" }, { maxRetries: 2 }), 3000);
    assert.equal(nextRetryMs(0, { status: 503, retryAfter: "0.05" }, { maxRetries: 2 }), 50);
    const at = nextRetryMs(
      1,
      { status: 503, retryAfter: new Date(Date.now() + 5000).toUTCString() },
      { maxRetries: 2 },
    );
    assert.ok(at !== null && at > 3000 && at <= 5000, `HTTP date: ${at}`);
    // A date in the past or an empty header: no wait from the header.
    assert.equal(retryDelayMs(0, "Wed, 21 Oct 2015 07:28:00 GMT"), 0);
    assert.equal(retryDelayMs(2, "", { random: () => 1 }), 2000);
    assert.equal(retryDelayMs(2, null, { random: () => 0 }), 1000);
    assert.equal(retryDelayMs(20, null, { random: () => 1 }), 30_000);
    // Retry-After is honoured up to 4 x the cap, never an hour.
    assert.equal(retryDelayMs(0, "3600"), 120_000);
  });

  test("gives up when the retries are used up", () => {
    assert.equal(nextRetryMs(2, { status: 503 }, { maxRetries: 2 }), null);
    assert.equal(nextRetryMs(0, { status: 503 }, { maxRetries: 0 }), null);
  });

  test("an unsure create is never retried: timeout, cut connection or 5xx; a 429 or a connection never made is", () => {
    const create = { maxRetries: 5, create: true, random: () => 0 };
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const timeout = new DOMException("The operation was aborted due to timeout", "TimeoutError");
    assert.equal(nextRetryMs(0, { status: 503 }, create), null);
    assert.equal(nextRetryMs(0, { status: null, error: timeout }, create), null);
    assert.equal(nextRetryMs(0, { status: null, error: reset }, create), null);
    assert.equal(nextRetryMs(0, { status: 429, retryAfter: "1" }, create), 1000);
    const refused = new Error("fetch failed", { cause: Object.assign(new Error("x"), { code: "ECONNREFUSED" }) });
    assert.equal(nextRetryMs(0, { status: null, error: refused }, create), 250);
    assert.equal(maybeReceived({ status: null, error: refused }), false);
    // Not a create: all of those are retried.
    for (const f of [{ status: 503 }, { status: null, error: timeout }, { status: null, error: reset }])
      assert.ok((nextRetryMs(0, f, { maxRetries: 5 }) ?? -1) >= 0);
  });
});

test("a provider's job create that got a 503 is sent once; a read after a 503 is retried", async () => {
  let creates = 0;
  let reads = 0;
  const server = http.createServer((req, res) => {
    if (req.method === "POST") creates++;
    else reads++;
    const fail = req.method === "POST" || reads === 1;
    res.writeHead(fail ? 503 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify(fail ? { error: { message: "overloaded" } } : { ok: true }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const retries: number[] = [];
    const api = new ApiClient(
      {
        name: "Fake",
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiKey: "k",
        timeoutMs: 10_000,
        maxRetries: 3,
        retryBaseMs: 1,
      },
      { onRetry: (i) => retries.push(i.attempt) },
    );
    await assert.rejects(
      api.json("POST", "/jobs", { body: { model: "m" }, retryUnsure: false }),
      (e: Error) => e instanceof ProviderUnavailableError && /after 1 tries \(last: HTTP 503/.test(e.message),
    );
    assert.equal(creates, 1, "an unsure create is not sent again");
    assert.deepEqual(await api.json("GET", "/jobs/1"), { ok: true });
    assert.equal(reads, 2);
    assert.deepEqual(retries, [0]);
  } finally {
    server.close();
  }
});

test("Slack calls that are not paced per channel wait out a 429 through the same policy, then give up", async () => {
  const { webApi } = await import("@slack/bolt");
  const { withRateLimitRetry } = await import("../../src/adapters/slack/outbox.ts");
  const limited = () =>
    Object.assign(new Error("rate limited"), { code: webApi.ErrorCode.RateLimitedError, retryAfter: 0 });
  let calls = 0;
  const seen: number[] = [];
  const out = await withRateLimitRetry(
    async () => {
      if (++calls < 3) throw limited();
      return "sent";
    },
    5,
    (sec) => seen.push(sec),
  );
  assert.equal(out, "sent");
  assert.deepEqual(seen, [0, 0]);
  calls = 0;
  await assert.rejects(
    withRateLimitRetry(async () => {
      calls++;
      throw limited();
    }, 2),
    /rate limited/,
  );
  assert.equal(calls, 3, "the first try and 2 retries");
});
