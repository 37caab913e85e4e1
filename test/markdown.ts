/** Fenced code blocks of a Markdown page, for the tests that follow the docs as written. */
export interface Block {
  lang: string;
  lines: string[];
}

export function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let cur: Block | null = null;
  for (const line of markdown.split("\n")) {
    const fence = /^```(\w*)\s*$/.exec(line);
    if (fence && !cur) cur = { lang: fence[1], lines: [] };
    else if (fence && cur) {
      blocks.push(cur);
      cur = null;
    } else cur?.lines.push(line);
  }
  return blocks;
}
