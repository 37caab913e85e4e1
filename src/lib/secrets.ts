/**
 * The one secrets scrubber: the logger, every renderer of replies and every HTTP client hide known secrets with it.
 */

/** The shortest piece of a secret that is hidden on its own (a piece can give a secret away). */
export const MIN_SECRET_PIECE = 8;

interface Compiled {
  /** Every MIN_SECRET_PIECE-character window of every secret (and of its JSON-escaped form). */
  windows: Set<string>;
  /** Secrets shorter than a window: replaced whole. */
  short: string[];
}

const compiledCache = new WeakMap<readonly string[], Compiled>();

function compile(secrets: readonly string[]): Compiled {
  const cached = compiledCache.get(secrets);
  if (cached) return cached;
  const windows = new Set<string>();
  const short: string[] = [];
  for (const secret of secrets) {
    if (!secret) continue;
    // Logs are JSON: a secret with a quote or a backslash appears there escaped.
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
      if (form.length < MIN_SECRET_PIECE) short.push(form);
      for (let i = 0; i + MIN_SECRET_PIECE <= form.length; i++) windows.add(form.slice(i, i + MIN_SECRET_PIECE));
    }
  }
  const c = { windows, short };
  compiledCache.set(secrets, c);
  return c;
}

/**
 * Hides every known secret in a string, and every piece of one at least MIN_SECRET_PIECE characters long (a token
 * cut in half by a line break or a length limit still gives most of it away). Each run of text covered by windows
 * of a secret becomes "[redacted]". Linear in the text. Used by the logger and by every renderer of replies.
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  if (!text || !secrets.length) return text;
  const { windows, short } = compile(secrets);
  let out = "";
  let from = 0; // start of text not yet copied
  let hideFrom = -1; // start of the run being hidden
  let hideTo = -1; // end of the run being hidden
  const n = MIN_SECRET_PIECE;
  for (let i = 0; i + n <= text.length; i++) {
    if (!windows.has(text.slice(i, i + n))) continue;
    if (i > hideTo) {
      if (hideTo >= 0) {
        out += `${text.slice(from, hideFrom)}[redacted]`;
        from = hideTo;
      }
      hideFrom = i;
    }
    hideTo = i + n;
  }
  if (hideTo >= 0) {
    out += `${text.slice(from, hideFrom)}[redacted]`;
    from = hideTo;
  }
  out += text.slice(from);
  for (const s of short) if (out.includes(s)) out = out.split(s).join("[redacted]");
  return out;
}

/** A scrubber for a fixed list of secrets (empty ones ignored); compiled once. */
export function scrubberFor(secrets: readonly (string | null | undefined)[]): (text: string) => string {
  const list = secrets.filter((s): s is string => !!s);
  return (text) => scrubSecrets(text, list);
}
