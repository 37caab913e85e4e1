#!/usr/bin/env node
// `npm start`: runs the bot (the console chat when no chat platform is configured).
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
