// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../demo/task.test.ts";
