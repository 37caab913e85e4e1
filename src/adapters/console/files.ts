import fs from "node:fs";
import path from "node:path";
import type { CardFile } from "../../core/cards.ts";

/** Writes a card's files into `<data>/files/` (the console and CLI's stand-in for an upload) and returns the paths. */
export function saveCardFiles(dataDir: string, files: CardFile[] | undefined): string[] {
  if (!files?.length) return [];
  const dir = path.join(dataDir, "files");
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  return files.map((f) => {
    if (f.path) return f.path;
    const safe = path.basename(f.name).replace(/[^\w.-]+/g, "_") || "file";
    const p = path.join(dir, `${stamp}-${safe}`);
    fs.writeFileSync(p, f.content);
    return p;
  });
}
