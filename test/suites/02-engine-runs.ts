// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../engine/runs.test.ts";
import "../engine/budget.test.ts";
import "../engine/isolation.test.ts";
