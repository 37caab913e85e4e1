// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../adapters/slack/hostile.test.ts";
import "../adapters/slack/http.test.ts";
import "../adapters/slack/iterations.test.ts";
import "../adapters/slack/packs.test.ts";
import "../adapters/slack/parity.test.ts";
import "../adapters/slack/socket.test.ts";
import "../adapters/slack/units.test.ts";
import "../chat/layers.test.ts";
import "../chat/parity.test.ts";
