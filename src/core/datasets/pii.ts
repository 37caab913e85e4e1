/**
 * Conservative PII / secret scanner for training rows. It reports WHAT kind of value was seen and WHERE
 * (row line + field path), never the value itself.
 *
 * Kinds and rules (chosen to keep false positives low on ordinary training text, code and SQL):
 *  - email        local@domain.tld; reserved/documentation domains (example.com/.org/.net, *.example, *.test,
 *                 *.invalid, *.localhost) and file-name look-alikes (`logo@2x.png`) are ignored.
 *  - phone        +CC international numbers with 9-15 digits in total and at least one group of 2+
 *                 digits; North-American (NPA) NXX-XXXX with area code and exchange starting 2-9 and
 *                 consistent separators; trunk-prefixed national numbers (0…, 10-11 digits, separated
 *                 groups, e.g. UK `020 7946 0958`, `07700 900123`, FR `01 23 45 67 89`). Bare digit runs,
 *                 dates, times, versions, IP addresses and SQL ids are not phones.
 *  - card_number  13-19 digits, optionally grouped by one kind of separator (space or dash) in groups of
 *                 3-6, with a known issuer prefix (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay)
 *                 that PASS the Luhn check; all-same-digit strings are ignored.
 *  - national_id  US SSN ddd-dd-dddd (area not 000/666/9xx, group not 00, serial not 0000); UK National
 *                 Insurance number (two valid prefix letters, six digits, suffix A-D); Canadian SIN
 *                 ddd-ddd-ddd passing Luhn.
 *  - api_key      OpenAI/Anthropic-style `sk-…` (incl. sk-proj-, sk-ant-), Stripe `sk_live_`/`rk_live_`,
 *                 AWS access key ids AKIA/ASIA + 16, GitHub ghp_/gho_/ghu_/ghs_/ghr_ and github_pat_,
 *                 Slack xox[bpars]-, Google AIza + 35, `Bearer <20+ char token>`, and PEM
 *                 `-----BEGIN … PRIVATE KEY-----`. Tokens without both a letter and a digit (placeholders
 *                 like sk-xxxxxxxx…) and AWS's documented example key are ignored.
 *
 * Speed: each field is first tested with cheap gates — `indexOf("@")`, one regex for a digit run of 6+
 * characters, a few `indexOf` calls for the API-key prefixes — and the specific patterns only run on
 * fields that pass a gate.
 */
import type { NormalizedRow, PiiFinding, PiiKind } from "./types.ts";

export const PII_KINDS: readonly PiiKind[] = ["email", "phone", "card_number", "national_id", "api_key"];

const EMAIL = 1;
const PHONE = 2;
const CARD = 4;
const NATIONAL_ID = 8;
const API_KEY = 16;
const KIND_BITS: ReadonlyArray<[number, PiiKind]> = [
  [EMAIL, "email"],
  [PHONE, "phone"],
  [CARD, "card_number"],
  [NATIONAL_ID, "national_id"],
  [API_KEY, "api_key"],
];

// ---- gates ------------------------------------------------------------------------------------------------
/** Every digit-based pattern below contains two digits followed by 3+ digits/separators and a digit. */
const DIGIT_GATE = /[0-9]{2}[0-9 ().-]{3,}[0-9]/;
const UNDERSCORE_KEYS = /gh[pousr]_|github_pat_|[sr]k_/;

/** Cheap test for the API-key prefixes (indexOf is several times faster than one alternation regex). */
function apiGate(s: string): boolean {
  return (
    s.indexOf("k-") >= 0 || // sk-, sk-proj-, sk-ant-
    (s.indexOf("_") >= 0 && UNDERSCORE_KEYS.test(s)) || // ghp_ … github_pat_, sk_live_, rk_live_
    s.indexOf("AKIA") >= 0 ||
    s.indexOf("ASIA") >= 0 ||
    s.indexOf("AIza") >= 0 ||
    s.indexOf("xox") >= 0 ||
    s.indexOf("Bearer") >= 0 ||
    s.indexOf("-----") >= 0
  );
}

// ---- email ------------------------------------------------------------------------------------------------
const EMAIL_RE =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})(?![A-Za-z0-9-])/g;
const RESERVED_DOMAIN = /(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost)$/i;
const FILE_TLD =
  /\.(?:png|jpe?g|gif|svg|webp|ico|bmp|tiff?|js|mjs|cjs|ts|tsx|jsx|css|scss|html?|json|ya?ml|toml|md|txt|py|rb|go|rs|java|kt|swift|php|sh|lock|xml|csv|pdf|zip|gz|tar|wasm|map)$/i;

function hasEmail(s: string): boolean {
  EMAIL_RE.lastIndex = 0;
  for (let m = EMAIL_RE.exec(s); m !== null; m = EMAIL_RE.exec(s)) {
    const domain = m[1];
    if (RESERVED_DOMAIN.test(domain) || FILE_TLD.test(domain)) continue;
    return true;
  }
  return false;
}

// ---- digits helpers -------------------------------------------------------------------------------------
function digitsOf(s: string): string {
  let d = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) d += s[i];
  }
  return d;
}

/** Luhn (mod 10) check of a digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

// ---- phone ------------------------------------------------------------------------------------------------
const PHONE_INTL = /(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){1,6}(?![\w]|[.-]\d)/g;
const PHONE_NANP =
  /(?<![\w+./-])(?:1[ .-])?(?:\([2-9]\d{2}\) ?[2-9]\d{2}[-. ]\d{4}|[2-9]\d{2}([-. ])[2-9]\d{2}\1\d{4})(?![\w-]|\.\d)/g;
const PHONE_TRUNK =
  /(?<![\w+./-])(?:0\d{1,4}[ -]\d{3,4}[ -]?\d{3,4}|0\d(?:([ .-])\d{2})(?:\1\d{2}){3})(?![\w-]|[.:/]\d)/g;

function hasPhone(s: string): boolean {
  PHONE_INTL.lastIndex = 0;
  for (let m = PHONE_INTL.exec(s); m !== null; m = PHONE_INTL.exec(s)) {
    const t = m[0];
    const digits = digitsOf(t).length;
    if (digits < 9 || digits > 15) continue;
    if (!/\d{2}/.test(t.slice(t.search(/[ .(-]/) + 1))) continue; // some group of 2+ digits after the CC
    if ((t.match(/\(/g)?.length ?? 0) !== (t.match(/\)/g)?.length ?? 0)) continue;
    return true;
  }
  PHONE_NANP.lastIndex = 0;
  if (PHONE_NANP.test(s)) return true;
  PHONE_TRUNK.lastIndex = 0;
  for (let m = PHONE_TRUNK.exec(s); m !== null; m = PHONE_TRUNK.exec(s)) {
    const digits = digitsOf(m[0]).length;
    if (digits >= 10 && digits <= 11) return true;
  }
  return false;
}

// ---- card numbers -----------------------------------------------------------------------------------------
const CARD_RE = /(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d-]|[.,]\d)/g;
const CARD_IIN =
  /^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|3(?:0[0-5]|[689])|6(?:011|5|4[4-9]|2)|35(?:2[89]|[3-8]\d))/;

function plausibleCard(t: string): boolean {
  const hasSpace = t.includes(" ");
  const hasDash = t.includes("-");
  if (hasSpace && hasDash) return false;
  if (hasSpace || hasDash) {
    const groups = t.split(hasSpace ? " " : "-");
    if (groups.length < 3 || groups.length > 5) return false;
    for (const g of groups) if (g.length < 3 || g.length > 6) return false;
  }
  const d = digitsOf(t);
  if (d.length < 13 || d.length > 19) return false;
  if (/^(\d)\1+$/.test(d)) return false;
  return CARD_IIN.test(d) && luhnValid(d);
}

function hasCard(s: string): boolean {
  CARD_RE.lastIndex = 0;
  for (let m = CARD_RE.exec(s); m !== null; m = CARD_RE.exec(s)) {
    if (plausibleCard(m[0])) return true;
  }
  return false;
}

// ---- national ids -----------------------------------------------------------------------------------------
const SSN = /(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])/;
const UK_NINO =
  /(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/;
const CA_SIN = /(?<![\w-])[1-79]\d{2}-\d{3}-\d{3}(?![\w-])/g;

function hasNationalId(s: string): boolean {
  if (SSN.test(s) || UK_NINO.test(s)) return true;
  CA_SIN.lastIndex = 0;
  for (let m = CA_SIN.exec(s); m !== null; m = CA_SIN.exec(s)) {
    if (luhnValid(digitsOf(m[0]))) return true;
  }
  return false;
}

// ---- API keys / secrets -----------------------------------------------------------------------------------
const LETTER = /[A-Za-z]/;
const DIGIT = /\d/;
const KEY_PATTERNS: readonly RegExp[] = [
  /(?<![\w-])sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-|admin\d\d-)?)?[A-Za-z0-9_-]{20,}/g,
  /(?<![\w-])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}/g,
  /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  /(?<!\w)gh[pousr]_[A-Za-z0-9]{36,}(?!\w)/g,
  /(?<!\w)github_pat_[A-Za-z0-9_]{22,}/g,
  /(?<![\w-])xox[bpars]-[A-Za-z0-9-]{10,}/g,
  /(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{20,}/g,
];
const PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;
const PLACEHOLDER = /your|token|example|x{6}|\.\.\./i;

function hasApiKey(s: string): boolean {
  if (PRIVATE_KEY.test(s)) return true;
  for (const re of KEY_PATTERNS) {
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      const t = m[0];
      const body = t.startsWith("Bearer") ? t.replace(/^Bearer\s+/, "") : t;
      if (!LETTER.test(body) || !DIGIT.test(body) || PLACEHOLDER.test(body)) continue;
      return true;
    }
  }
  return false;
}

// ---- public API -------------------------------------------------------------------------------------------

function scanMask(s: string): number {
  if (s.length < 6) return 0;
  let mask = 0;
  if (s.indexOf("@") >= 0 && hasEmail(s)) mask |= EMAIL;
  if (DIGIT_GATE.test(s)) {
    if (hasPhone(s)) mask |= PHONE;
    if (hasCard(s)) mask |= CARD;
    if (hasNationalId(s)) mask |= NATIONAL_ID;
  }
  if (apiGate(s) && hasApiKey(s)) mask |= API_KEY;
  return mask;
}

/** Kinds of PII found in a text (each at most once, in PII_KINDS order). */
export function scanPii(text: string): PiiKind[] {
  const mask = scanMask(text);
  const out: PiiKind[] = [];
  if (mask === 0) return out;
  for (const [bit, kind] of KIND_BITS) if (mask & bit) out.push(kind);
  return out;
}

function pushFindings(out: PiiFinding[], line: number, field: string, mask: number): void {
  if (mask === 0) return;
  for (const [bit, kind] of KIND_BITS) if (mask & bit) out.push({ line, kind, field });
}

function jsonOf(v: unknown): string {
  return typeof v === "string" ? v : (JSON.stringify(v) ?? "");
}

/**
 * PII findings of a row: one per (field, kind). Fields: `messages[i].content`, `messages[i].name`,
 * `messages[i].tool_calls`, `messages[i].function_call` (their JSON text), `text`, `tools`.
 */
export function scanRowPii(row: NormalizedRow, line: number): PiiFinding[] {
  const out: PiiFinding[] = [];
  if (row.messages) {
    const msgs = row.messages;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i];
      if (typeof m.content === "string") pushFindings(out, line, `messages[${i}].content`, scanMask(m.content));
      if (m.name !== undefined) pushFindings(out, line, `messages[${i}].name`, scanMask(m.name));
      if (m.tool_calls !== undefined && m.tool_calls.length > 0) {
        pushFindings(out, line, `messages[${i}].tool_calls`, scanMask(jsonOf(m.tool_calls)));
      }
      if (m.function_call !== undefined && m.function_call !== null) {
        pushFindings(out, line, `messages[${i}].function_call`, scanMask(jsonOf(m.function_call)));
      }
    }
  }
  if (typeof row.text === "string") pushFindings(out, line, "text", scanMask(row.text));
  if (row.tools !== undefined && row.tools !== null) pushFindings(out, line, "tools", scanMask(jsonOf(row.tools)));
  return out;
}
