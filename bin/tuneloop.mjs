#!/usr/bin/env node
// The CLI: `tuneloop <command words> [--json]`. Runs the build in bin/dist, made first where missing or stale.
import { launch } from "./launch.mjs";

await launch("tuneloop", "src/cli-main.ts");
