// The golden vectors (golden.json, made by scapy with make-golden.py: an implementation that is
// not ours) run through one core: each case's verdict, and its bytes where scapy says what they
// must be; a case the core does not forward must leave the packet as it was. Shared by the
// tests and `ipmasq selftest`, so a board checks exactly what CI checks.
import golden from "./golden.json";
import { coreSetup, addFlows, addFlows6, setMssClamp, ingressOf, type FlowSpec, type FlowSpec6 } from "./core-setup";
import type { CoreKind } from "../host/core/core";
import * as L from "../assembly/layout";

const VERDICT: Record<string, number> = { forward: L.V_FORWARD, drop: L.V_DROP, slow: L.V_SLOW };

export const GOLDEN_CASES = golden.cases.length;

export interface GoldenResult {
  name: string;
  problem?: string;
}

export function runGolden(kind: CoreKind): GoldenResult[] {
  const s = coreSetup();
  addFlows(s, golden.flows as FlowSpec[]);
  addFlows6(s, golden.flows6 as FlowSpec6[]);
  return golden.cases.map((c) => {
    setMssClamp(s, c.mssClamp);
    const input = Buffer.from(c.input, "hex");
    s.u8.set(input, s.slot);
    const v = s.cores[kind].processPacket(s.slot, input.length, s.stats, ingressOf(s.u8, s.slot + L.VNET_HDR_LEN));
    const out = Buffer.from(s.u8.subarray(s.slot, s.slot + input.length)).toString("hex");
    const want = c.expect ?? (v === L.V_FORWARD ? undefined : c.input);
    if (v !== VERDICT[c.verdict])
      return { name: c.name, problem: `verdict ${v}, want ${VERDICT[c.verdict]} (${c.verdict})` };
    if (want !== undefined && out !== want)
      return { name: c.name, problem: c.expect ? "bytes differ from scapy's" : "a packet not forwarded was changed" };
    return { name: c.name };
  });
}
