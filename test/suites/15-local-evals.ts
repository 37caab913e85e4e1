// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../evals/eval-show.test.ts";
import "../evals/freeze.test.ts";
import "../evals/grade-pool.test.ts";
import "../evals/graders.test.ts";
import "../local/attention.test.ts";
import "../local/batches.test.ts";
import "../local/client.test.ts";
import "../local/model-files.test.ts";
import "../local/model.test.ts";
import "../local/template.test.ts";
import "../local/tokenizer.test.ts";
import "../local/train.test.ts";
