// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../iterations/schedules.test.ts";
import "../iterations/sweeps-digest.test.ts";
import "../migrate/docs.test.ts";
import "../migrate/migrate.test.ts";
import "../migrate/units.test.ts";
import "../security/host-paths.test.ts";
import "../security/limits.test.ts";
import "../security/principals.test.ts";
import "../security/scrub.test.ts";
import "../security/tmp-sweep.test.ts";
