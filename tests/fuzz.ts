// npm run fuzz [-- --count N] [-- --seed S]: the differential run of the two cores at any size,
// then every property of harness/fuzz-properties.ts with N inputs, each with a random seed (or S).
// Prints the seed of anything that fails, shrunk to its smallest input, and exits 1.
import { runDifferential } from "../harness/differential";
import { PROPERTIES } from "../harness/fuzz-properties";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const count = arg("--count", 1_000_000);
const seedOf = (): number => arg("--seed", Math.floor(Math.random() * 0x7fffffff));
let failed = 0;

const seed = seedOf();
const t0 = performance.now();
const r = runDifferential(count, seed);
console.log(
  JSON.stringify({ differential: { seed, ...r, seconds: ((performance.now() - t0) / 1000).toFixed(1) } }, null, 1),
);
if (r.mismatches.length || r.badChecksums.length) failed++;

for (const [name, property] of Object.entries(PROPERTIES)) {
  const s = seedOf();
  const t1 = performance.now();
  const p = property(s, Math.max(1000, Math.floor(count / 20)));
  console.log(
    `${p.failed ? "FAILED" : "ok"} ${name}: ${p.numRuns} inputs, seed ${s}, ${((performance.now() - t1) / 1000).toFixed(1)} s`,
  );
  if (p.failed) {
    failed++;
    console.log(p.report);
  }
}
process.exit(failed ? 1 : 0);
