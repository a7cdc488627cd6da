// Every input surface a stranger controls, fuzzed by property (harness/fuzz-properties.ts) with a
// fixed seed and a bounded count, so that a run is repeatable; `npm run fuzz` runs the same
// properties long with random seeds. fast-check shrinks a failure to its smallest input.
import t from "tap";
import { PROPERTIES, verdictMix, verdictMix6 } from "../harness/fuzz-properties";

const SEED = 20261205;
const RUNS: Record<string, number> = {
  "the packet cores agree (WASM and TS), checksums stay right": 3000,
  "the packet cores agree on IPv6, routed and behind NPTv6": 3000,
};

for (const [name, property] of Object.entries(PROPERTIES)) {
  t.test(name, async (t) => {
    const numRuns = RUNS[name] ?? 1000;
    const r = property(SEED, numRuns);
    t.notOk(r.failed, r.failed ? r.report : `${numRuns} generated inputs (seed ${SEED})`);
  });
}

t.test("the packets generated reach every path of the cores", async (t) => {
  for (const [family, mix] of [
    ["IPv4", verdictMix],
    ["IPv6", verdictMix6],
  ] as const) {
    const all = mix.forward + mix.drop + mix.slow;
    for (const [verdict, n] of Object.entries(mix)) t.ok(n >= all * 0.05, `${family} ${verdict}: ${n} of ${all}`);
  }
});
