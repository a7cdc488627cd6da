// `ipmasq selftest`: the core tests, run by the artifact itself on whatever machine it is on
// (an ARM board, or arm64 under emulation): the scapy golden vectors and a differential run of
// the WASM core against the TS core, plus loading koffi's native binary for this architecture.
import golden from "../tests/fixtures/golden.json";
import { coreSetup, addFlows, setMssClamp, FlowSpec, ingressOf } from "../tests/helpers/core-setup";
import { runDifferential } from "../tests/helpers/differential";
import * as L from "../assembly/layout";

const VERDICT: Record<string, number> = { forward: L.V_FORWARD, drop: L.V_DROP, slow: L.V_SLOW };

export function selftest(count: number): number {
  let failures = 0;
  const say = (ok: boolean, what: string): void => { if (!ok) failures++; process.stdout.write(`${ok ? "ok" : "not ok"} - ${what}\n`); };
  process.stdout.write(`ipmasq selftest on ${process.platform}-${process.arch}, node ${process.version}\n`);
  for (const kind of ["wasm", "ts"] as const) {
    const s = coreSetup();
    addFlows(s, golden.flows as FlowSpec[]);
    let bad = 0;
    for (const c of golden.cases) {
      setMssClamp(s, c.mssClamp);
      const input = Buffer.from(c.input, "hex");
      s.u8.set(input, s.slot);
      const v = s.cores[kind].processPacket(s.slot, input.length, s.stats, ingressOf(s.u8, s.slot + L.VNET_HDR_LEN));
      const out = Buffer.from(s.u8.subarray(s.slot, s.slot + input.length)).toString("hex");
      if (v !== VERDICT[c.verdict] || (c.expect && out !== c.expect)) { bad++; process.stdout.write(`#   ${kind}: ${c.name}\n`); }
    }
    say(bad === 0, `${kind} core: ${golden.cases.length} golden vectors`);
  }
  const d = runDifferential(count, 0xa5a5);
  say(d.mismatches.length === 0 && d.badChecksums.length === 0, `differential: ${d.packets} packets, WASM and TS identical, checksums verified (${JSON.stringify(d.verdicts)})`);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const c = (require("./tun/libc") as typeof import("./tun/libc")).libc();
    say(c.close(-1) === -1 && c.errno() === 9, "koffi loads and calls libc (close(-1) fails with EBADF)");
  } catch (e) {
    say(false, `koffi: ${(e as Error).message}`);
  }
  process.stdout.write(`${failures === 0 ? "all passed" : `${failures} failed`}\n`);
  return failures === 0 ? 0 : 1;
}
