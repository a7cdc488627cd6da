// The side a packet came in on decides which half of a flow it may use (assembly/layout.ts IN_*):
// a WAN host that forges a LAN host's source and ports never gets masqueraded out through that
// host's flow, and a LAN host never reaches a flow's inbound half — in both cores.
import t from "tap";
import { coreSetup, addFlows } from "../harness/core-setup";
import { ipv4, udp, icmp, concat, plainVnet } from "../harness/packets";
import * as L from "../assembly/layout";

const FLOWS = [
  {
    proto: 17,
    lan: "192.168.0.2",
    lanPort: 40001,
    remote: "10.0.0.2",
    remotePort: 53,
    wan: "10.0.0.1",
    wanPort: 61001,
  },
  // a redirect from the LAN: the LAN client is the flow's remote end, reached by the WAN-side key
  {
    proto: 17,
    lan: "192.168.0.1",
    lanPort: 3128,
    remote: "192.168.0.2",
    remotePort: 40009,
    wan: "10.0.0.9",
    wanPort: 53,
    fixed: true,
  },
];
const out = concat(
  plainVnet(),
  ipv4(
    { src: "192.168.0.2", dst: "10.0.0.2", proto: 17 },
    udp("192.168.0.2", "10.0.0.2", 40001, 53, new Uint8Array(8)),
  ),
);
const back = concat(
  plainVnet(),
  ipv4({ src: "10.0.0.2", dst: "10.0.0.1", proto: 17 }, udp("10.0.0.2", "10.0.0.1", 53, 61001, new Uint8Array(8))),
);
const toProxy = concat(
  plainVnet(),
  ipv4(
    { src: "192.168.0.2", dst: "10.0.0.9", proto: 17 },
    udp("192.168.0.2", "10.0.0.9", 40009, 53, new Uint8Array(8)),
  ),
);
// a port unreachable from the WAN about our outbound datagram, and the same claiming to come from inside
const emb = ipv4(
  { src: "10.0.0.1", dst: "10.0.0.2", proto: 17 },
  udp("10.0.0.1", "10.0.0.2", 61001, 53, new Uint8Array(8)),
);
const errIn = concat(plainVnet(), ipv4({ src: "10.0.0.2", dst: "10.0.0.1", proto: 1 }, icmp(3, 3, 0, emb)));

// [case, packet, ingress, verdict]
const CASES: Array<[string, Uint8Array, number, number]> = [
  ["outbound from inside is masqueraded", out, L.IN_INSIDE, L.V_FORWARD],
  ["the same bytes from the WAN (a forged LAN source) go to the slow path untouched", out, L.IN_WAN, L.V_SLOW],
  ["a reply from the WAN is translated in", back, L.IN_WAN, L.V_FORWARD],
  ["the same reply arriving from inside is not", back, L.IN_INSIDE, L.V_SLOW],
  ["a LAN client's packet to a redirect (fixed flow) from inside", toProxy, L.IN_INSIDE, L.V_FORWARD],
  ["an ICMP error from the WAN about our flow", errIn, L.IN_WAN, L.V_FORWARD],
  ["the same ICMP error from inside", errIn, L.IN_INSIDE, L.V_SLOW],
];

for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    const s = coreSetup();
    addFlows(s, FLOWS);
    for (const [name, pkt, ingress, verdict] of CASES) {
      s.u8.set(pkt, s.slot);
      t.equal(s.cores[kind].processPacket(s.slot, pkt.length, s.stats, ingress), verdict, name);
      if (verdict === L.V_SLOW) t.same(s.u8.subarray(s.slot, s.slot + pkt.length), pkt, `${name}: not rewritten`);
    }
  });
}
