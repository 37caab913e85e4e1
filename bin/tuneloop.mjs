#!/usr/bin/env node
// The CLI: `tuneloop <command words> [--json]`. Registers tsx so the TypeScript sources run as they are.
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
