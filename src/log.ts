import fs from "node:fs";
import path from "node:path";
import { pino, type Logger } from "pino";
import type { Config } from "./config.ts";
import { scrubSecrets } from "./lib/secrets.ts";

export type { Logger };

export { MIN_SECRET_PIECE, scrubSecrets } from "./lib/secrets.ts";

/**
 * Structured logs (pino). The console chat owns the terminal, so there logs go to a file in the data folder
 * (or TUNELOOP_LOG_FILE); elsewhere to stderr. Known secret values are scrubbed from every line.
 */
export function createLogger(config: Config, opts: { toFile?: boolean } = {}): Logger {
  const file = config.logFile ?? (opts.toFile ? path.join(config.dataDir, "tuneloop.log") : undefined);
  let dest: NodeJS.WritableStream = process.stderr;
  if (file) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    dest = fs.createWriteStream(file, { flags: "a" });
  }
  const secrets = config.secrets;
  const stream = {
    write(line: string) {
      dest.write(secrets.length ? scrubSecrets(line, secrets) : line);
    },
  };
  return pino(
    {
      level: config.logLevel,
      redact: { paths: ["*.token", "*.apiKey", "*.authorization", "headers.authorization"], censor: "[redacted]" },
    },
    stream,
  );
}
