#!/usr/bin/env node
// `npm start`: runs the bot (the console chat when no chat platform is configured), from the build in bin/dist.
import { launch } from "./launch.mjs";

await launch("start", "src/main.ts");
