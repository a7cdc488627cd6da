// Golden vectors made by scapy (tests/fixtures/make-golden.py): both cores must produce exactly
// the bytes an independent implementation computed from scratch.
import t from "tap";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { coreSetup, addFlows, setMssClamp, ingressOf } from "./helpers/core-setup";
import * as L from "../assembly/layout";

const golden = JSON.parse(readFileSync(join(__dirname, "fixtures", "golden.json"), "utf8"));
const VERDICT: Record<string, number> = { forward: L.V_FORWARD, drop: L.V_DROP, slow: L.V_SLOW };

for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    const s = coreSetup();
    addFlows(s, golden.flows);
    const core = s.cores[kind];
    for (const c of golden.cases) {
      setMssClamp(s, c.mssClamp);
      const input = Buffer.from(c.input, "hex");
      s.u8.set(input, s.slot);
      const v = core.processPacket(s.slot, input.length, s.stats, ingressOf(s.u8, s.slot + L.VNET_HDR_LEN));
      t.equal(v, VERDICT[c.verdict], `${c.name}: verdict`);
      if (c.expect) {
        const out = Buffer.from(s.u8.subarray(s.slot, s.slot + input.length));
        t.equal(out.toString("hex"), c.expect, `${c.name}: bytes`);
      }
    }
  });
}
