import { spawnSync } from "node:child_process";
import { type Ran, runCliInProcess } from "./helpers.ts";

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

/**
 * A documented command line, `[NAME=value ...] npx tuneloop <words>` (a trailing `| jq ...` already cut off), as a
 * shell splits it: the settings it sets and the CLI's arguments. The words are split by `sh` itself, so quotes and
 * escapes mean what they mean to a user's shell. Null for a line that is not an `npx tuneloop` command.
 */
export function docCommand(line: string): { env: Record<string, string>; args: string[] } | null {
  const m = /^((?:[A-Za-z_]\w*=\S*\s+)*)npx tuneloop\b(.*)$/.exec(line.trim());
  if (!m) return null;
  const env = Object.fromEntries(
    m[1]
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
  );
  const r = spawnSync("sh", ["-c", `set -- ${m[2]}; for a in "$@"; do printf '%s\\0' "$a"; done`], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`sh could not split: ${line}\n${r.stderr}`);
  return { env, args: r.stdout.split("\0").slice(0, -1) };
}

/**
 * Runs a documented `npx tuneloop ...` line in this process (runCliInProcess: the CLI's main, the code the bin runs)
 * with the line's own settings over `env`, from `cwd`. The docs tests keep a few lines going through a real shell and
 * `npx`; the rest of a walkthrough runs here, without a node, npm and bundle start per line.
 */
export function runDocLine(line: string, env: NodeJS.ProcessEnv, cwd: string): Promise<Ran> {
  const cmd = docCommand(line);
  if (!cmd) throw new Error(`not an npx tuneloop line: ${line}`);
  return runCliInProcess(cmd.args, { ...env, ...cmd.env }, { cwd });
}
