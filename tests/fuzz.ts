// npm run fuzz -- --count N [--seed S]: the differential run at any size.
import { runDifferential } from "../harness/differential";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const count = arg("--count", 1_000_000),
  seed = arg("--seed", Date.now() & 0xffffffff);
const t0 = performance.now();
const r = runDifferential(count, seed);
console.log(JSON.stringify({ seed, ...r, seconds: ((performance.now() - t0) / 1000).toFixed(1) }, null, 1));
process.exit(r.mismatches.length || r.badChecksums.length ? 1 : 0);
