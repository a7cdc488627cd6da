// The drop reasons' names (status, metrics) are kept by hand beside the R_* constants of
// assembly/layout.ts: each name must be its constant's, lower-cased, at its number.
import t from "tap";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REASON_NAMES } from "../host/observe/reasons";
import * as L from "../assembly/layout";

const constants = [
  ...readFileSync(join(__dirname, "..", "assembly", "layout.ts"), "utf8").matchAll(/^export const R_(\w+) = (\d+);/gm),
]
  .filter((m) => m[1] !== "COUNT")
  .map((m) => ({ name: m[1].toLowerCase(), value: Number(m[2]) }));

t.equal(REASON_NAMES.length, L.R_COUNT, `one name per reason (${L.R_COUNT})`);
t.equal(constants.length, L.R_COUNT, "the constants number R_COUNT, from 0");
for (const c of constants)
  t.equal(REASON_NAMES[c.value], c.name, `R_${c.name.toUpperCase()} = ${c.value} is "${c.name}"`);
t.ok(L.S_DROPS + L.R_COUNT <= L.S_WRITE_ERRORS, "the drop counters end before the worker's own slots");
t.ok(
  L.S_SLOW_ERRORS < L.STATS_SLOTS && L.STATS_SLOTS * 8 <= L.W_DESC - L.W_STATS,
  "the stats slots fit the worker block",
);
