/**
 * How deep a row's JSON nests. JSON.parse takes any depth, but nearly everything after it (JSON.stringify, hashing,
 * structured clone, recursive walks) recurses and overflows the stack somewhere past a few thousand levels; no
 * fine-tuning row needs more than a dozen. So uploads refuse rows nested deeper than MAX_JSON_DEPTH, and rows read
 * back from the store are checked again (a version stored before the limit must not crash what reads it).
 */

/** Levels of arrays and objects a row may nest, the record itself being level 1. */
export const MAX_JSON_DEPTH = 64;

/** Path segments shown before "…" in a field name (the full path of a too-deep value is 64+ segments long). */
const SHOWN_SEGMENTS = 5;

interface Frame {
  value: unknown;
  depth: number;
  key: string | number | null;
  parent: Frame | null;
}

/**
 * The first value nested deeper than `limit` (arrays and objects count; the record is level 1), as its field path
 * cut after a few segments ("tools[0].function.parameters.a…") and its depth; null when the row is within the limit.
 * Iterative, so a row nested 100,000 levels deep cannot overflow the stack here.
 */
export function tooDeep(value: unknown, limit = MAX_JSON_DEPTH): { field: string; depth: number } | null {
  if (value === null || typeof value !== "object") return null;
  const stack: Frame[] = [{ value, depth: 1, key: null, parent: null }];
  while (stack.length) {
    const f = stack.pop() as Frame;
    if (f.depth > limit) return { field: fieldOf(f), depth: f.depth };
    const v = f.value;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const c = v[i];
        if (c !== null && typeof c === "object") stack.push({ value: c, depth: f.depth + 1, key: i, parent: f });
      }
    } else {
      const keys = Object.keys(v as object);
      for (let i = keys.length - 1; i >= 0; i--) {
        const c = (v as Record<string, unknown>)[keys[i]];
        if (c !== null && typeof c === "object") stack.push({ value: c, depth: f.depth + 1, key: keys[i], parent: f });
      }
    }
  }
  return null;
}

function fieldOf(f: Frame): string {
  const keys: Array<string | number> = [];
  for (let x: Frame | null = f; x?.key !== null && x !== null; x = x.parent) keys.push(x.key as string | number);
  keys.reverse();
  let out = "";
  for (const k of keys.slice(0, SHOWN_SEGMENTS)) {
    if (typeof k === "number") out += `[${k}]`;
    else out += /^[A-Za-z_$][\w$]*$/.test(k) ? `${out ? "." : ""}${k}` : `[${JSON.stringify(k)}]`;
  }
  return keys.length > SHOWN_SEGMENTS ? `${out}…` : out;
}
