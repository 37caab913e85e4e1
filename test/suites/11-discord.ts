// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../adapters/discord/bot.test.ts";
import "../adapters/discord/commands.test.ts";
import "../adapters/discord/hostile.test.ts";
import "../adapters/discord/iterations.test.ts";
import "../adapters/discord/packs.test.ts";
import "../adapters/discord/parity.test.ts";
import "../adapters/discord/render.test.ts";
import "../adapters/discord/start.test.ts";
