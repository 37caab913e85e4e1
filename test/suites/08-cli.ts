// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../e2e/cli-datasets.test.ts";
import "../e2e/cli-text.test.ts";
import "../e2e/console-chat.test.ts";
import "../e2e/bots-start.test.ts";
