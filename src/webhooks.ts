/**
 * Provider webhooks: POST /webhooks/openai (fine_tuning.job.* events, verified by their Standard Webhooks
 * signature) wakes the poller of that job, so a finished job is noticed at once instead of at the next poll.
 * Served on TUNELOOP_WEBHOOK_PORT when OPENAI_WEBHOOK_SECRET is set.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "./log.ts";
import { handleOpenAIWebhook } from "./providers/openai.ts";

export async function startWebhookServer(opts: {
  port: number;
  openaiSecret: string;
  log: Logger;
}): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/webhooks/openai") {
        res.writeHead(404).end();
        return;
      }
      const out = handleOpenAIWebhook(req.headers, Buffer.concat(chunks), opts.openaiSecret);
      if (out.ok) {
        res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      } else {
        opts.log.warn({ status: out.status, error: out.error }, "webhook refused");
        res.writeHead(out.status, { "content-type": "application/json" }).end(JSON.stringify({ error: out.error }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(opts.port, r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
