// Golden vectors made by scapy (harness/make-golden.py): both cores must produce exactly
// the bytes an independent implementation computed from scratch (harness/golden.ts), IPv4 and IPv6.
import t from "tap";
import { runGolden, GOLDEN_CASES } from "../harness/golden";

t.equal(GOLDEN_CASES, 52, "52 golden cases (28 IPv4, 24 IPv6): none lost from the fixture");
for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    for (const r of runGolden(kind)) t.equal(r.problem, undefined, r.name);
  });
}
