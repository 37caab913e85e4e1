// One process of `npm test`: these files' tests, one after another (docs/testing.md).
import "../packs/clusters.test.ts";
import "../packs/judge-equivalence.test.ts";
import "../packs/pack-commands.test.ts";
import "../packs/packs.test.ts";
import "../packs/propose.test.ts";
