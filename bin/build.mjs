#!/usr/bin/env node
/**
 * Builds the CLI and the bot into bin/dist/ (gitignored, never committed): plain-JS bundles of the TypeScript
 * sources, so a command starts without compiling anything. Runs at `npm ci` (the `prepare` script); the launchers
 * (bin/tuneloop.mjs, bin/start.mjs, through bin/launch.mjs) build again when a source is newer than the build.
 *
 * - Modules imported with import() are split into files of their own, so a command loads vega, resvg, tfjs, a chat
 *   SDK or the tokenizer only when it uses them. Pure-JS packages the CLI loads at start (zod, drizzle, openai) are
 *   bundled in: one file loads several times faster than hundreds. Native addons and packages that find files of
 *   their own at run time stay imports from node_modules (EXTERNAL).
 * - Every file is named by its content's hash, and bin/dist/manifest.json (written last, atomically) names the
 *   entries. Files of older builds stay until they are a day old, so a bot that is running loads its own lazy chunks
 *   after a newer build has been made beside it.
 * - Inside a bundle `import.meta.url` is the bundle's place, not the source file's, and the sources use it to find
 *   files beside them (prices.json, migrations, worker modules): each source's `import.meta.url` is rewritten to its
 *   own file's URL, relative to the bundle, so the build keeps working wherever the checkout is moved.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const OUT = path.join(ROOT, "bin", "dist");
export const MANIFEST = path.join(OUT, "manifest.json");
const ENTRIES = { tuneloop: "src/cli-main.ts", start: "src/main.ts" };
/** Packages loaded from node_modules as they are: native addons, and packages that find files of their own. */
const EXTERNAL = [
  "better-sqlite3",
  "@resvg/resvg-js",
  "@tensorflow/*",
  "pino",
  "pg",
  "pg-boss",
  "@aws-sdk/*",
  "esbuild",
  "tsx",
  "tsx/*",
  "vega",
  "vega-lite",
  "dejavu-fonts-ttf",
  // optional native speed-ups that discord.js and ws try to load
  "bufferutil",
  "utf-8-validate",
  "zlib-sync",
  "erlpack",
];
const KEEP_OLD_MS = 24 * 3600 * 1000;

const sourceUrlPlugin = {
  name: "source-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const text = await fs.promises.readFile(args.path, "utf8");
      const rel = path.relative(OUT, args.path).split(path.sep).join("/");
      const contents = text.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, import.meta.url).href`);
      return { contents, loader: "ts" };
    });
  },
};

/** Writes a file whole (a reader sees the old name missing or the complete file, never a part). */
function writeWhole(file, contents) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, contents);
  fs.renameSync(tmp, file);
}

export async function build() {
  const esbuild = await import("esbuild");
  const started = Date.now();
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: EXTERNAL,
    outdir: OUT,
    outExtension: { ".js": ".mjs" },
    entryNames: "[name]-[hash]",
    chunkNames: "[name]-[hash]",
    sourcemap: "linked",
    // Bundled CommonJS packages (discord.js, Bolt) call require() and read __dirname: give each file its own.
    banner: {
      js: [
        'import { createRequire as __tuneloopCreateRequire } from "node:module";',
        'import { fileURLToPath as __tuneloopFileURLToPath } from "node:url";',
        "const require = __tuneloopCreateRequire(import.meta.url);",
        "const __filename = __tuneloopFileURLToPath(import.meta.url);",
        "const __dirname = __tuneloopFileURLToPath(new URL('.', import.meta.url));",
      ].join("\n"),
    },
    metafile: true,
    write: false,
    logLevel: "warning",
    plugins: [sourceUrlPlugin],
  });
  fs.mkdirSync(OUT, { recursive: true });
  const written = new Set();
  for (const f of result.outputFiles) {
    written.add(path.basename(f.path));
    if (!fs.existsSync(f.path)) writeWhole(f.path, f.contents);
  }
  const entries = {};
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    if (!out.entryPoint) continue;
    const name = Object.keys(ENTRIES).find((k) => ENTRIES[k] === out.entryPoint);
    if (name) entries[name] = path.basename(file);
  }
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith("node_modules/"));
  const hash = crypto.createHash("sha256").update(JSON.stringify(entries)).digest("hex").slice(0, 12);
  writeWhole(MANIFEST, JSON.stringify({ builtAt: started, hash, entries, inputs }));
  // Older builds' files: removed once a day old (a bot started before this build may still import them).
  for (const name of fs.readdirSync(OUT)) {
    if (written.has(name) || name === "manifest.json" || name === ".lock") continue;
    const file = path.join(OUT, name);
    try {
      if (Date.now() - fs.statSync(file).mtimeMs > KEEP_OLD_MS) fs.rmSync(file, { force: true });
    } catch {
      // Removed by another build meanwhile.
    }
  }
  return { ms: Date.now() - started, inputs: inputs.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await build();
  console.log(`tuneloop: built bin/dist from ${r.inputs} sources in ${r.ms} ms`);
}
