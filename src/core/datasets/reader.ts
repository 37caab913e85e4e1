/**
 * Streaming record reader: turns the bytes of a JSON Lines file or of one big JSON array into parsed records, with
 * one issue per unusable line/element. Memory stays flat whatever the file size: only the current record's bytes are
 * kept, and never more than `maxLineBytes` of them (an oversized record is skipped while being discarded).
 *
 * JSON Lines is split with Buffer.indexOf (memchr), so the per-byte work is done by native code; a JSON array is
 * split by a small byte-level state machine that tracks strings, escapes and bracket depth. Each record's bytes are
 * then decoded with a fatal UTF-8 TextDecoder and given to JSON.parse.
 */
import { fmt } from "../format.ts";
import { printableSnippet } from "./sniff.ts";
import type { RowIssue } from "./types.ts";

export type Container = "jsonl" | "json-array";

export interface ReaderOptions {
  container: Container;
  /** Largest record (a line of JSON Lines, an element of a JSON array) accepted, in bytes. */
  maxLineBytes: number;
}

/**
 * A parsed record, or a problem. `index` is the 0-based position among the file's records (valid or not): issues
 * that stand for a record (invalid JSON or UTF-8, too large) carry its index; file-level ones (BOM, blank line,
 * separators between array elements, an unclosed array) carry null.
 */
export type ReaderItem =
  | { type: "record"; line: number; index: number; value: unknown }
  | { type: "issue"; index: number | null; issue: RowIssue };

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const EMPTY = Buffer.alloc(0);

/**
 * Source chunks are fed to the splitter in slices of at most this size, so the items waiting to be yielded stay few
 * whatever chunk size the source uses.
 */
const SLICE_BYTES = 256 * 1024;

export async function* readRecords(source: AsyncIterable<Uint8Array>, opts: ReaderOptions): AsyncGenerator<ReaderItem> {
  const { hasBom, chunks } = await peelBom(source);
  if (hasBom) yield bomIssue(1);
  const splitter: Splitter =
    opts.container === "jsonl" ? new JsonLinesSplitter(opts.maxLineBytes) : new JsonArraySplitter(opts.maxLineBytes);
  const out = splitter.out;
  for await (const chunk of chunks) {
    for (let p = 0; p < chunk.length; p += SLICE_BYTES) {
      splitter.push(chunk.length <= SLICE_BYTES ? chunk : chunk.subarray(p, p + SLICE_BYTES));
      for (const item of out) yield item;
      out.length = 0;
    }
  }
  splitter.end();
  for (const item of out) yield item;
}

/** Turns bytes into items, appended to `out` (which the caller drains after each call). */
interface Splitter {
  readonly out: ReaderItem[];
  push(chunk: Buffer): void;
  /** The input is over. */
  end(): void;
}

function bomIssue(line: number): ReaderItem {
  return {
    type: "issue",
    index: null,
    issue: {
      line,
      kind: "bom",
      message: `Line ${line} starts with a UTF-8 byte order mark (BOM). It was ignored, but some tools reject it: save the file as UTF-8 without BOM.`,
    },
  };
}

const asBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

const startsWithBom = (b: Uint8Array): boolean => b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;

/** Reads enough of the stream to see whether it starts with a UTF-8 BOM, and hands back the rest without it. */
async function peelBom(source: AsyncIterable<Uint8Array>): Promise<{ hasBom: boolean; chunks: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < 3) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = asBuffer(r.value);
    head.push(b);
    headBytes += b.length;
  }
  let first = head.length === 1 ? head[0] : Buffer.concat(head, headBytes);
  const hasBom = startsWithBom(first);
  if (hasBom) first = first.subarray(3);
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (first.length) yield first;
      while (!ended) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          return;
        }
        if (r.value.length) yield asBuffer(r.value);
      }
    } finally {
      // The consumer stopped early: let the source release its file handle.
      if (!ended) await it.return?.();
    }
  }
  return { hasBom, chunks: rest() };
}

const formatBytes = fmt.bytes;

const hex = (b: number) => `0x${b.toString(16).toUpperCase().padStart(2, "0")}`;

/**
 * Offset of the first byte that is not part of a valid UTF-8 sequence (overlong forms, surrogates and code points
 * above U+10FFFF included), or -1. Only run once the fast decode has failed.
 */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const extra = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (extra < 0 || i + extra >= b.length) return i;
    for (let k = 1; k <= extra; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1];
    if (
      (c === 0xe0 && c1 < 0xa0) ||
      (c === 0xed && c1 > 0x9f) ||
      (c === 0xf0 && c1 < 0x90) ||
      (c === 0xf4 && c1 > 0x8f)
    ) {
      return i;
    }
    i += extra + 1;
  }
  return -1;
}

interface JsonFailure {
  /** JSON.parse's explanation, shortened. */
  reason: string;
  /** Character offset of the problem in the text, when JSON.parse gives one. */
  position: number | null;
  /** The text stops before the value is complete (cut off, or a record spread over several lines). */
  unfinished: boolean;
}

function jsonFailure(err: unknown, text: string): JsonFailure {
  const raw = err instanceof Error ? err.message : String(err);
  const reason = raw.length > 160 ? `${raw.slice(0, 157)}...` : raw;
  const match = /at position (\d+)/.exec(raw);
  const position = match ? Number(match[1]) : null;
  const unfinished =
    raw.includes("end of JSON input") ||
    raw.includes("Unterminated string") ||
    (position !== null && position >= text.trimEnd().length);
  return { reason, position, unfinished };
}

// ---------------------------------------------------------------------------------------------------------------
/**
 * The bytes of a record that spans chunks, held until it ends; once they pass the splitter's limit, only counted
 * (nothing more is kept for a record that will be refused).
 */
class HeldBytes {
  parts: Buffer[] = [];
  bytes = 0;
  /** Set once the record is over the limit: from then on its bytes are only counted. */
  skipping = false;
  skippedBytes = 0;

  /** Whether nothing of a record is held or counted. */
  get empty(): boolean {
    return this.bytes === 0 && !this.skipping;
  }

  hold(piece: Buffer, limit: number): void {
    if (this.skipping) this.skippedBytes += piece.length;
    else if (this.bytes + piece.length > limit) {
      this.skipping = true;
      this.skippedBytes = this.bytes + piece.length;
      this.parts = [];
      this.bytes = 0;
    } else if (piece.length) {
      this.parts.push(piece);
      this.bytes += piece.length;
    }
  }

  clear(): void {
    this.parts = [];
    this.bytes = 0;
    this.skipping = false;
  }
}

// JSON Lines

class JsonLinesSplitter implements Splitter {
  readonly out: ReaderItem[] = [];
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  /** Number of the last line started. */
  private line = 0;
  private index = 0;
  /** The current line, while it spans chunks. Holds at most maxLineBytes + 1 bytes (+1: a CR before the LF). */
  private readonly held = new HeldBytes();
  /** Blank lines are reported once a non-blank line follows: blank lines at the end of the file are fine. */
  private blankFrom = 0;
  private blankCount = 0;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      if (nl === -1) {
        this.hold(chunk.subarray(pos));
        return;
      }
      this.line++;
      if (this.held.empty) {
        // The whole line is in this chunk: no copy.
        this.handleLine(chunk.subarray(pos, nl));
      } else {
        this.hold(chunk.subarray(pos, nl));
        this.completeHeldLine();
      }
      pos = nl + 1;
    }
  }

  end(): void {
    // A last line without a final LF.
    if (!this.held.empty) {
      this.line++;
      this.completeHeldLine();
    }
  }

  private hold(piece: Buffer): void {
    this.held.hold(piece, this.maxLineBytes + 1);
  }

  private completeHeldLine(): void {
    const h = this.held;
    if (h.skipping) this.tooLong(h.skippedBytes);
    else this.handleLine(h.parts.length === 1 ? h.parts[0] : Buffer.concat(h.parts, h.bytes));
    h.clear();
  }

  private flushBlanks(): void {
    for (let n = this.blankFrom; n < this.blankFrom + this.blankCount; n++) {
      this.out.push({
        type: "issue",
        index: null,
        issue: { line: n, kind: "blank_line", message: `Line ${n} is blank. Remove empty lines between records.` },
      });
    }
    this.blankCount = 0;
  }

  private tooLong(size: number): void {
    this.flushBlanks();
    const line = this.line;
    this.out.push({
      type: "issue",
      index: this.index++,
      issue: {
        line,
        kind: "line_too_long",
        message: `Line ${line} is ${formatBytes(size)}, over the limit of ${formatBytes(this.maxLineBytes)} for one record. Shorten or split this example (or check that the line breaks between records were not lost).`,
      },
    });
  }

  /** One complete line, without its LF. */
  private handleLine(bytes: Buffer): void {
    const line = this.line;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    if (end > this.maxLineBytes) {
      this.tooLong(end);
      return;
    }
    let start = 0;
    if (startsWithBom(bytes)) {
      // The file's own BOM is taken by peelBom: this is a later one, typically from files concatenated together.
      this.flushBlanks();
      this.out.push(bomIssue(line));
      start = 3;
    }
    let i = start;
    while (i < end && (bytes[i] === SPACE || bytes[i] === TAB || bytes[i] === CR)) i++;
    if (i === end) {
      if (this.blankCount === 0) this.blankFrom = line;
      this.blankCount++;
      return;
    }
    this.flushBlanks();
    const index = this.index++;
    const body = bytes.subarray(start, end);
    let text: string;
    try {
      text = this.decoder.decode(body);
    } catch {
      const at = firstInvalidUtf8(body);
      const where = at >= 0 ? ` (byte ${hex(body[at])} at byte ${start + at + 1} of the line)` : "";
      this.out.push({
        type: "issue",
        index,
        issue: {
          line,
          kind: "invalid_utf8",
          message: `Line ${line} is not valid UTF-8${where}. The file is probably in another encoding (such as Windows-1252 or Latin-1): save it as UTF-8.`,
        },
      });
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const { reason, unfinished } = jsonFailure(err, text);
      const advice = unfinished
        ? "The line ends before the JSON value is complete: it was cut off (truncated), or one record is spread over several lines. In JSON Lines each record must be complete on a single line."
        : "Each line must be one complete JSON object: fix or remove this line.";
      this.out.push({
        type: "issue",
        index,
        issue: { line, kind: "invalid_json", message: `Line ${line} is not valid JSON (${reason}). ${advice}` },
      });
      return;
    }
    this.out.push({ type: "record", line, index, value });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON array

// Where the array splitter is.
/** Before the opening '['. */
const AT_START = 0;
/** After '[' or ',': an element or ']' comes next. */
const AT_VALUE = 1;
/** After an element: ',' or ']' comes next. */
const AT_SEPARATOR = 2;
/** Inside an element. */
const AT_ELEMENT = 3;
/** After the closing ']': only whitespace may follow. */
const AT_END = 4;

class JsonArraySplitter implements Splitter {
  readonly out: ReaderItem[] = [];
  private readonly decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  private at = AT_START;
  /** Line of the byte being looked at. */
  private line = 1;
  /** Line of the last non-blank byte outside elements, or of the last element's end. */
  private lastLine = 1;
  private index = 0;
  private afterComma = false;
  private garbageReported = false;

  // The element being read.
  private elemLine = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** A number/true/false/null element: it ends at whitespace, ',', ']' or '}'. */
  private bare = false;
  /** The current element, while it spans chunks (at most maxLineBytes bytes). */
  private readonly held = new HeldBytes();

  // Positions of the next quote, backslash and newline in the current chunk (its length: none left), looked up
  // lazily while scanning strings. Kept across elements so that each chunk is searched once for each.
  private nextQuote = -1;
  private nextBackslash = -1;
  private nextNewline = -1;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): void {
    this.nextQuote = this.nextBackslash = this.nextNewline = -1;
    const n = chunk.length;
    let i = 0;
    // Where the current element starts in this chunk (0 when it began in an earlier chunk).
    let elemStart = 0;
    while (i < n) {
      if (this.at === AT_ELEMENT) {
        const end = this.scanElement(chunk, i);
        if (end === -1) break;
        this.finishElement(chunk.subarray(elemStart, end));
        i = end;
        continue;
      }
      const c = chunk[i];
      if (c === NL) this.line++;
      else if (c === SPACE || c === TAB || c === CR) {
        // whitespace between elements
      } else {
        this.lastLine = this.line;
        if (this.at === AT_START) {
          if (c === OPEN_BRACKET) this.at = AT_VALUE;
          else {
            this.fileIssue(
              `Line ${this.line}: expected a JSON array starting with '[', found ${printableSnippet(chunk.subarray(i), 20)}. Upload JSON Lines or one JSON array of records.`,
            );
            this.at = AT_END;
            this.garbageReported = true;
          }
        } else if (this.at === AT_END) {
          if (!this.garbageReported) {
            this.fileIssue(
              `Line ${this.line}: unexpected text after the closing ']' of the array: ${printableSnippet(chunk.subarray(i), 20)}. A JSON file must hold a single array: remove the extra text, or move it into the array.`,
            );
            this.garbageReported = true;
          }
        } else if (c === CLOSE_BRACKET) {
          if (this.at === AT_VALUE && this.afterComma) {
            this.fileIssue(
              `Line ${this.line}: a comma before the closing ']' is not allowed in JSON. Remove the trailing comma.`,
            );
          }
          this.at = AT_END;
        } else if (c === COMMA) {
          if (this.at === AT_VALUE)
            this.fileIssue(`Line ${this.line}: an extra comma with no element before it. Remove it.`);
          this.at = AT_VALUE;
          this.afterComma = true;
        } else {
          if (this.at === AT_SEPARATOR) {
            this.fileIssue(
              `Line ${this.line}: missing comma between elements ${this.index} and ${this.index + 1} of the array. Add a ',' between them.`,
            );
          }
          this.startElement(c);
          elemStart = i;
        }
      }
      i++;
    }
    if (this.at === AT_ELEMENT) this.hold(chunk.subarray(elemStart));
  }

  end(): void {
    if (this.at === AT_ELEMENT) {
      if (this.bare && !this.inString) this.finishElement(EMPTY);
      else {
        const n = this.index++;
        this.out.push({
          type: "issue",
          index: n,
          issue: {
            line: this.elemLine,
            kind: "invalid_json",
            message: `The file ends inside element ${n + 1} of the array, which starts at line ${this.elemLine}: the file looks truncated. Upload the complete file, or remove the unfinished element and close the array with ']'.`,
          },
        });
        return;
      }
    }
    if (this.at === AT_START) {
      this.fileIssue(
        "The file holds no JSON array (expected '[' ... ']'). Upload JSON Lines or one JSON array of records.",
      );
    } else if (this.at !== AT_END) {
      const count = `${this.index} element${this.index === 1 ? "" : "s"}`;
      this.fileIssue(
        `The file ends before the array's closing ']' (after ${count}): it looks truncated. Upload the complete file, or add the missing ']'.`,
      );
    }
  }

  private fileIssue(message: string): void {
    this.out.push({ type: "issue", index: null, issue: { line: this.lastLine, kind: "invalid_json", message } });
  }

  private startElement(c: number): void {
    this.at = AT_ELEMENT;
    this.afterComma = false;
    this.elemLine = this.line;
    this.depth = c === OPEN_BRACE || c === OPEN_BRACKET ? 1 : 0;
    this.inString = c === QUOTE;
    this.escaped = false;
    this.bare = this.depth === 0 && !this.inString;
  }

  /**
   * The hot loop: scans the element from `from` (the byte after its first one, or the chunk's start) and returns
   * the offset just past its end, or -1 when it goes on in the next chunk. Inside strings, where most bytes are, it
   * jumps from one quote or backslash to the next with indexOf; elsewhere it steps byte by byte. Newlines are
   * counted everywhere, even where JSON forbids them, so that line numbers stay right in broken input.
   * The state lives in locals while scanning and is written back at the end.
   */
  private scanElement(chunk: Buffer, from: number): number {
    const n = chunk.length;
    const bare = this.bare;
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    let line = this.line;
    let nextQuote = this.nextQuote;
    let nextBackslash = this.nextBackslash;
    let nextNewline = this.nextNewline;
    let i = from;
    let end = -1;
    while (i < n) {
      if (inString) {
        if (escaped) {
          escaped = false;
          if (chunk[i] === NL) line++;
          i++;
          continue;
        }
        if (nextQuote < i) nextQuote = indexOrEnd(chunk, QUOTE, i);
        if (nextBackslash < i) nextBackslash = indexOrEnd(chunk, BACKSLASH, i);
        const stop = Math.min(nextQuote, nextBackslash);
        if (nextNewline < i) nextNewline = indexOrEnd(chunk, NL, i);
        while (nextNewline < stop) {
          line++;
          nextNewline = indexOrEnd(chunk, NL, nextNewline + 1);
        }
        i = stop + 1;
        if (stop === n) break; // the string goes on in the next chunk
        if (stop === nextBackslash) escaped = true;
        else {
          inString = false;
          if (depth === 0 && !bare) {
            end = i;
            break;
          }
        }
        continue;
      }
      const c = chunk[i];
      if (c === QUOTE) inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (bare && depth === 0) {
          end = i;
          break;
        }
        if (--depth === 0 && !bare) {
          end = i + 1;
          break;
        }
      } else if (c === NL) {
        if (bare && depth === 0) {
          end = i;
          break;
        }
        line++;
      } else if (bare && depth === 0 && (c === COMMA || c === SPACE || c === TAB || c === CR)) {
        end = i;
        break;
      }
      i++;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    this.line = line;
    this.nextQuote = nextQuote;
    this.nextBackslash = nextBackslash;
    this.nextNewline = nextNewline;
    return end;
  }

  /** Keeps the element's bytes seen so far, or only counts them once the element is over the limit. */
  private hold(piece: Buffer): void {
    this.held.hold(piece, this.maxLineBytes);
  }

  /** Takes the element's bytes (those held plus `tail`) and turns them into a record or an issue. */
  private finishElement(tail: Buffer): void {
    this.at = AT_SEPARATOR;
    this.lastLine = this.line;
    const n = this.index++;
    const h = this.held;
    const size = (h.skipping ? h.skippedBytes : h.bytes) + tail.length;
    if (h.skipping || size > this.maxLineBytes) {
      this.out.push({
        type: "issue",
        index: n,
        issue: {
          line: this.elemLine,
          kind: "line_too_long",
          message: `Element ${n + 1} of the array (starting at line ${this.elemLine}) is ${formatBytes(size)}, over the limit of ${formatBytes(this.maxLineBytes)} for one record. Shorten or split this example.`,
        },
      });
    } else {
      const bytes = h.parts.length === 0 ? tail : Buffer.concat([...h.parts, tail], size);
      this.out.push(this.parseElement(bytes, n));
    }
    h.clear();
  }

  private parseElement(bytes: Buffer, n: number): ReaderItem {
    const elemLine = this.elemLine;
    const what = `Element ${n + 1} of the array (starting at line ${elemLine})`;
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      const offset = firstInvalidUtf8(bytes);
      const where =
        offset >= 0
          ? ` (byte ${hex(bytes[offset])} on line ${elemLine + countNewlines(bytes.subarray(0, offset))})`
          : "";
      return {
        type: "issue",
        index: n,
        issue: {
          line: elemLine,
          kind: "invalid_utf8",
          message: `${what} is not valid UTF-8${where}. The file is probably in another encoding (such as Windows-1252 or Latin-1): save it as UTF-8.`,
        },
      };
    }
    try {
      return { type: "record", line: elemLine, index: n, value: JSON.parse(text) };
    } catch (err) {
      const { reason, position } = jsonFailure(err, text);
      const where = position === null ? "" : ` on line ${elemLine + text.slice(0, position).split("\n").length - 1}`;
      return {
        type: "issue",
        index: n,
        issue: {
          line: elemLine,
          kind: "invalid_json",
          message: `${what} is not valid JSON${where} (${reason}). Fix or remove this element.`,
        },
      };
    }
  }
}

/** Position of the next `byte` in `chunk` from `from`, or the chunk's length when there is none. */
function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
  const at = chunk.indexOf(byte, from);
  return at === -1 ? chunk.length : at;
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let i = bytes.indexOf(NL); i !== -1; i = bytes.indexOf(NL, i + 1)) count++;
  return count;
}
