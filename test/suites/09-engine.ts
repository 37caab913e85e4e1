// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../engine/estimates.test.ts";
import "../engine/eval-ledger.test.ts";
import "../engine/eval-usage.test.ts";
import "../engine/evals.test.ts";
import "../engine/hyper.test.ts";
import "../engine/runners.test.ts";
import "../engine/verdict-charts.test.ts";
import "../engine/worker-providers.test.ts";
