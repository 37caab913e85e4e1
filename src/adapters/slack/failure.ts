import crypto from "node:crypto";
import type { Outcome } from "../../../commands/dispatch.ts";
import { errorCard, text } from "../../core/cards.ts";
import { asTuneError } from "../../errors.ts";
import type { Logger } from "../../log.ts";

/** An error thrown by the adapter's own work (a download, a Slack call) as an Outcome to show the user. */
export function failureOutcome(err: unknown, log: Logger): Outcome {
  const te = asTuneError(err);
  if (te)
    return {
      card: errorCard(te.message, te.code),
      data: null,
      exitCode: 1,
      error: { code: te.code, message: te.message },
    };
  const ref = crypto.randomBytes(4).toString("hex");
  log.error({ err, ref }, "slack: request failed");
  return {
    card: {
      title: "Something went wrong",
      tone: "error",
      ephemeral: true,
      blocks: [
        text(
          `That was a bug in tuneloop or a hiccup talking to Slack, not something you did. Try again; if it keeps failing, give the bot's admin this reference: ${ref}.`,
        ),
      ],
    },
    data: null,
    exitCode: 2,
    error: { code: "internal", message: `internal error ${ref}` },
  };
}
