/**
 * First look at an uploaded file: from its first bytes, refuse what can never be a dataset (empty files, archives,
 * binaries, UTF-16/32 text, non-JSON text) with a message that says what the file is and what to do, and otherwise
 * tell the reader which container to expect (JSON Lines or one JSON array).
 */

export type SniffErrorCode =
  | "dataset_empty_file"
  | "dataset_archive"
  | "dataset_wrong_encoding"
  | "dataset_binary"
  | "dataset_not_json";

export type SniffResult =
  | { ok: true; hasBom: boolean; container: "jsonl" | "json-array" }
  | { ok: false; code: SniffErrorCode; message: string };

/** How many bytes of the file sniffFile expects to see (it copes with fewer). */
export const SNIFF_BYTES = 64 * 1024;

interface Magic {
  /** Bytes at `offset`; null matches any byte. */
  bytes: readonly (number | null)[];
  offset?: number;
  name: string;
}

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

/** Compressed files and archives: the dataset is probably inside. */
const ARCHIVES: readonly Magic[] = [
  { bytes: [0x50, 0x4b, 0x03, 0x04], name: "zip" },
  { bytes: [0x50, 0x4b, 0x05, 0x06], name: "zip" }, // empty zip
  { bytes: [0x1f, 0x8b], name: "gzip" },
  { bytes: [...ascii("BZh"), null, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59], name: "bzip2" },
  { bytes: [0xfd, ...ascii("7zXZ"), 0x00], name: "xz" },
  { bytes: [...ascii("7z"), 0xbc, 0xaf, 0x27, 0x1c], name: "7z" },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], name: "zstd" },
  { bytes: [...ascii("Rar!"), 0x1a, 0x07], name: "RAR" },
  { bytes: ascii("ustar"), offset: 257, name: "tar" },
];

/** Other binary files worth naming (with their article); `exportable`: data tools can export it as JSON Lines. */
const BINARIES: readonly (Magic & { exportable?: boolean })[] = [
  { bytes: [0x89, ...ascii("PNG"), 0x0d, 0x0a, 0x1a, 0x0a], name: "a PNG image" },
  { bytes: [0xff, 0xd8, 0xff], name: "a JPEG image" },
  { bytes: ascii("GIF8"), name: "a GIF image" },
  { bytes: ascii("%PDF-"), name: "a PDF document" },
  { bytes: [...ascii("SQLite format 3"), 0x00], name: "an SQLite database", exportable: true },
  { bytes: ascii("PAR1"), name: "a Parquet file", exportable: true },
  { bytes: ascii("ARROW1"), name: "an Arrow/Feather file", exportable: true },
  { bytes: [0x89, ...ascii("HDF"), 0x0d, 0x0a, 0x1a, 0x0a], name: "an HDF5 file", exportable: true },
  { bytes: [0x93, ...ascii("NUMPY")], name: "a NumPy array file" },
  {
    bytes: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    name: "a legacy Office document (.xls/.doc)",
    exportable: true,
  },
  { bytes: [0x7f, ...ascii("ELF")], name: "a program (ELF executable)" },
  // Python pickles (protocol 2-5) start with PROTO (0x80) and the protocol number.
  { bytes: [0x80, 0x02], name: "a Python pickle" },
  { bytes: [0x80, 0x03], name: "a Python pickle" },
  { bytes: [0x80, 0x04], name: "a Python pickle" },
  { bytes: [0x80, 0x05], name: "a Python pickle" },
];

function matches(head: Uint8Array, m: Magic): boolean {
  const at = m.offset ?? 0;
  if (head.length < at + m.bytes.length) return false;
  return m.bytes.every((b, i) => b === null || head[at + i] === b);
}

const fail = (code: SniffErrorCode, message: string): SniffResult => ({ ok: false, code, message });

const wrongEncoding = (encoding: string): SniffResult =>
  fail(
    "dataset_wrong_encoding",
    `The file is encoded as ${encoding}, not UTF-8. Open it in a text editor and save it as UTF-8 (without BOM), then upload it again.`,
  );

const isJsonSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * Decides whether the file can be a JSON dataset. `head` is the start of the file (up to SNIFF_BYTES), `totalBytes`
 * the file's size.
 */
export function sniffFile(head: Uint8Array, totalBytes: number): SniffResult {
  if (totalBytes === 0 || head.length === 0) {
    return fail(
      "dataset_empty_file",
      "The file is empty (0 bytes). Upload the .jsonl or .json file that holds the examples.",
    );
  }

  for (const m of ARCHIVES) {
    if (!matches(head, m)) continue;
    const message =
      m.name === "zip"
        ? "The file is a zip archive (perhaps renamed to .jsonl or .json), not JSON. Unzip it and upload the .jsonl or .json file inside. (An Excel .xlsx file is a zip archive too: export it as JSON Lines.)"
        : `The file is a ${m.name} archive or compressed file, not JSON. Unpack it and upload the .jsonl or .json file inside.`;
    return fail("dataset_archive", message);
  }

  // Byte order marks of UTF-32 first: the UTF-32LE BOM starts with the UTF-16LE one.
  if (head[0] === 0xff && head[1] === 0xfe && head[2] === 0x00 && head[3] === 0x00)
    return wrongEncoding("UTF-32 (little-endian)");
  if (head[0] === 0x00 && head[1] === 0x00 && head[2] === 0xfe && head[3] === 0xff)
    return wrongEncoding("UTF-32 (big-endian)");
  if (head[0] === 0xff && head[1] === 0xfe) return wrongEncoding("UTF-16 (little-endian)");
  if (head[0] === 0xfe && head[1] === 0xff) return wrongEncoding("UTF-16 (big-endian)");

  const known = BINARIES.find((m) => matches(head, m));
  if (known) {
    const advice = known.exportable
      ? "Export the examples as JSON Lines (one JSON object per line) and upload that file."
      : "Upload the .jsonl or .json file that holds the examples.";
    return fail("dataset_binary", `The file is ${known.name}, not a JSON dataset. ${advice}`);
  }

  // NUL bytes never occur in UTF-8 JSON. ASCII text saved as UTF-16/32 without a BOM has them at regular
  // positions (a NUL next to every character); anything else with NULs is binary.
  const nulByPosition = [0, 0, 0, 0];
  let nul = 0;
  let control = 0;
  for (let i = 0; i < head.length; i++) {
    const b = head[i];
    if (b === 0) {
      nul++;
      nulByPosition[i & 3]++;
    } else if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) || b === 0x7f) control++;
  }
  if (nul > 0) {
    const encoding = guessWideEncoding(nulByPosition, head.length);
    if (encoding) return wrongEncoding(encoding);
  }
  // A stray NUL or control character is left to the line checks (the line is then invalid JSON); a real binary
  // file has plenty.
  if (nul * 100 >= head.length || control * 20 >= head.length) {
    return fail(
      "dataset_binary",
      "The file looks binary (it contains NUL or control bytes), not a text JSON dataset. Upload the .jsonl or .json file that holds the examples.",
    );
  }

  let start = 0;
  const hasBom = head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
  if (hasBom) start = 3;
  while (start < head.length && isJsonSpace(head[start])) start++;
  if (start === head.length) {
    if (totalBytes <= head.length) {
      return fail(
        "dataset_empty_file",
        "The file contains only blank space. Upload the .jsonl or .json file that holds the examples.",
      );
    }
    return fail(
      "dataset_not_json",
      `The first ${Math.round(head.length / 1024)} KiB of the file are blank; expected JSON Lines or a JSON array. Remove the leading blank space and upload it again.`,
    );
  }
  const first = head[start];
  if (first === 0x7b) return { ok: true, hasBom, container: "jsonl" };
  if (first === 0x5b) return { ok: true, hasBom, container: "json-array" };

  const lineEnd = head.indexOf(0x0a, start);
  const firstLine = head.subarray(start, lineEnd === -1 ? head.length : lineEnd);
  const looksTabular = firstLine.includes(0x2c) || firstLine.includes(0x09);
  return fail(
    "dataset_not_json",
    `Expected JSON Lines or a JSON array, but the file starts with ${printableSnippet(firstLine, 40)}. ` +
      "The first character must be '{' (JSON Lines: one JSON object per line) or '[' (a JSON array of objects)." +
      (looksTabular
        ? " If this is CSV or TSV, convert it to JSON Lines first."
        : " Convert the file to JSON Lines and upload it again."),
  );
}

/**
 * Names the UTF-16/UTF-32 variant whose NUL pattern the counts show (NULs counted by byte position modulo 4), or
 * null. ASCII-heavy text has a NUL in 1 of every 2 bytes (UTF-16) or 3 of every 4 bytes (UTF-32) at fixed positions.
 */
function guessWideEncoding(byPos: number[], length: number): string | null {
  const quarter = length / 4;
  const high = (n: number) => n >= quarter * 0.7;
  const low = (n: number) => n <= quarter * 0.3;
  const [p0, p1, p2, p3] = byPos;
  if (length >= 8) {
    if (high(p1) && high(p2) && high(p3) && low(p0)) return "UTF-32 (little-endian)";
    if (high(p0) && high(p1) && high(p2) && low(p3)) return "UTF-32 (big-endian)";
  }
  const even = p0 + p2;
  const odd = p1 + p3;
  const half = length / 2;
  if (odd >= half * 0.3 && even * 10 <= odd) return "UTF-16 (little-endian)";
  if (even >= half * 0.3 && odd * 10 <= even) return "UTF-16 (big-endian)";
  return null;
}

const lenientUtf8 = new TextDecoder("utf-8");

/**
 * Quotes the start of some bytes for a message: decoded leniently, cut to `maxChars` characters, with control and
 * undecodable characters shown as '?', so a message never carries raw binary.
 */
export function printableSnippet(bytes: Uint8Array, maxChars: number): string {
  // 4 bytes per character at most: never decode more than needed.
  const chars = Array.from(lenientUtf8.decode(bytes.subarray(0, maxChars * 4 + 4)));
  const cut = chars.length > maxChars;
  const text = chars
    .slice(0, maxChars)
    .map((c) => (/[\p{Cc}\uFFFD]/u.test(c) ? "?" : c))
    .join("");
  return `"${text}${cut ? "..." : ""}"`;
}
