/**
 * How every reply writes numbers: money, counts and plurals, shares, points, sizes, durations and times.
 * Chat cards, the console, the CLI and error messages all format through here, so "$1,000,000.00", "1 row" and
 * "2 min 48 s" read the same everywhere. Times are UTC unless a zone is given, and always say which.
 */

const INT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const CENTS = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** Irregular plurals of the nouns replies count; the rest follow English spelling ("row" -> "rows", "family" -> "families"). */
const IRREGULAR: Record<string, string> = {
  hypothesis: "hypotheses",
  this: "these",
  person: "people",
  analysis: "analyses",
  epoch: "epochs",
  stomach: "stomachs",
};

/** The plural of a noun phrase: its last word changes ("near-duplicate pair" -> "near-duplicate pairs"). */
export function pluralOf(noun: string): string {
  const m = /^(.*?)([A-Za-z-]+)$/.exec(noun);
  if (!m) return noun;
  const [, head, word] = m;
  const lower = word.toLowerCase();
  let out: string;
  if (IRREGULAR[lower]) out = IRREGULAR[lower];
  else if (/[^aeiou]y$/i.test(word)) out = `${word.slice(0, -1)}ies`;
  else if (/(s|x|z|ch|sh)$/i.test(word)) out = `${word}es`;
  else out = `${word}s`;
  return head + out;
}

function plural(noun: string, n: number): string {
  return Math.abs(n) === 1 ? noun : pluralOf(noun);
}

/**
 * Money in US dollars: "$0" for nothing, cents with thousands separators from one cent up ("$1,000,000.00"),
 * and two significant digits below a cent ("$0.0042", "$0.000012"), so a sub-cent eval never reads as "$0.0000".
 */
function usd(n: number): string {
  if (!Number.isFinite(n)) return "$?";
  const sign = n < 0 ? "-" : "";
  const a = Math.abs(n);
  if (a === 0) return "$0";
  if (a < 0.000001) return `${sign}<$0.000001`;
  if (a < 0.01) {
    const digits = 1 - Math.floor(Math.log10(a));
    const s = a.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "");
    return `${sign}$${s}`;
  }
  return `${sign}$${CENTS.format(a)}`;
}

/** A duration: "850 ms" under a second, "12.6 s" under a minute, "2 min 48 s" under an hour, then "1 h 5 min". */
function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const totalS = Math.round(ms / 1000);
  if (totalS < 3600) return `${Math.floor(totalS / 60)} min ${totalS % 60} s`;
  const totalMin = Math.round(totalS / 60);
  const h = Math.floor(totalMin / 60);
  const m = totalMin % 60;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/**
 * Dollars where cents mislead (budgets, what an attempt booked): rounded to a millionth first (0.03 - 0.02 is
 * $0.01), and under $1 with up to four decimals, so that "$0.0155 left" is never shown as the "$0.02" of an estimate
 * it does not cover.
 */
function usdFine(x: number): string {
  if (!Number.isFinite(x)) return "$?";
  const r = Math.round(x * 1e6) / 1e6;
  if (r === 0) return "$0";
  const sign = r < 0 ? "-" : "";
  const a = Math.abs(r);
  if (a >= 1) return `${sign}$${CENTS.format(a)}`;
  if (a < 1e-4) return `${sign}$${a.toPrecision(2)}`;
  return `${sign}$${Number(a.toFixed(4))}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** "2026-03-02 18:27 UTC" */
function time(d: Date): string {
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} UTC`;
}

/** "2026-03-02 19:27 Europe/Berlin": a time in a named zone (schedules), in the same shape as `time`, zone written out. */
function zoned(d: Date, tz: string): string {
  if (tz === "UTC" || tz === "Etc/UTC") return time(d);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${tz}`;
}

export const fmt = {
  /** 12,345 */
  int: (n: number) => INT.format(Math.round(n)),
  /** "1 row", "2 rows", "3 families": the count with its noun, in the right number. */
  count: (n: number, noun: string, pluralNoun?: string) =>
    `${INT.format(Math.round(n))} ${Math.abs(n) === 1 ? noun : (pluralNoun ?? pluralOf(noun))}`,
  /** The noun alone in the right number: "row" or "rows". */
  noun: (n: number, noun: string, pluralNoun?: string) =>
    pluralNoun && Math.abs(n) !== 1 ? pluralNoun : plural(noun, n),
  usd,
  usdFine,
  /** 0.253 -> "25.3%" */
  pct: (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`,
  /** A difference of shares in percentage points: 0.053 -> "+5.3 pts" (signed unless `signed: false`). */
  pts: (x: number, opts: { digits?: number; signed?: boolean } = {}) => {
    let v = (x * 100).toFixed(opts.digits ?? 1);
    if (Number(v) === 0) v = (0).toFixed(opts.digits ?? 1);
    return `${opts.signed !== false && !v.startsWith("-") ? "+" : ""}${v} pts`;
  },
  /** A file size: "512 B", "3.4 KB", "12.0 MB". */
  bytes: (n: number) =>
    n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 ** 2).toFixed(1)} MB`,
  /** Megabytes of a byte count, for limits: "100 MB". */
  mb: (n: number, digits = 1) => `${(n / 1024 ** 2).toFixed(digits)} MB`,
  duration,
  /** A duration given in seconds. */
  seconds: (s: number) => duration(s * 1000),
  /** Milliseconds as milliseconds (latencies): "291 ms". */
  ms: (n: number) => `${INT.format(Math.round(n))} ms`,
  /** A p-value: "p < 0.001" or "p = 0.042". */
  p: (p: number) => (p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`),
  time,
  /** The UTC day: "2026-03-02". */
  day: (d: Date) => time(d).slice(0, 10),
  zoned,
};
