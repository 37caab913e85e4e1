/** The CLI's entry (bin/tuneloop.mjs runs its build): runs src/cli.ts's main on the process's arguments. */
import { main } from "./cli.ts";

// A reader that stops early (`| head`, or jq giving up) closes the pipe: stop quietly, as other command-line tools do.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tuneloop: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
