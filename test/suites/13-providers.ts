// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../providers/answer-limits.test.ts";
import "../providers/openai-compatible.test.ts";
import "../providers/openai.test.ts";
import "../providers/selfhosted-cli.test.ts";
import "../providers/selfhosted-python.test.ts";
import "../providers/selfhosted.test.ts";
import "../providers/together-engine.test.ts";
import "../providers/together-settings.test.ts";
import "../providers/together.test.ts";
import "../providers/webhook-server.test.ts";
