// The counters count packets on the wire: a GSO super-packet (TCP, or UDP merged by receive
// offload) counts as the packets it is cut into, each with its own headers, in the worker's
// statistics and in its connection's byte counts, the same in both cores.
import t from "tap";
import { coreSetup, addFlows } from "../harness/core-setup";
import { ipv4, tcp, udp, concat, plainVnet, withPartialChecksum } from "../harness/packets";
import * as L from "../assembly/layout";

const FLOWS = [
  { proto: 6, lan: "192.168.0.2", lanPort: 40000, remote: "10.0.0.2", remotePort: 80, wan: "10.0.0.1", wanPort: 61000 },
  {
    proto: 17,
    lan: "192.168.0.2",
    lanPort: 40001,
    remote: "10.0.0.2",
    remotePort: 53,
    wan: "10.0.0.1",
    wanPort: 61001,
  },
];
const tcpOut = (n: number): Uint8Array =>
  ipv4(
    { src: "192.168.0.2", dst: "10.0.0.2", proto: 6 },
    tcp("192.168.0.2", "10.0.0.2", 40000, 80, 0x10, new Uint8Array(n)),
  );
const udpOut = (n: number): Uint8Array =>
  ipv4(
    { src: "192.168.0.2", dst: "10.0.0.2", proto: 17 },
    udp("192.168.0.2", "10.0.0.2", 40001, 53, new Uint8Array(n)),
  );

// [name, vnet header + packet, packets on the wire, their bytes]
const CASES: Array<[string, Uint8Array, number, number]> = [
  ["plain UDP", concat(plainVnet(), udpOut(100)), 1, 128],
  ["UDP GSO, 10 x 100 bytes", withPartialChecksum(udpOut(1000), L.VNET_GSO_UDP_L4, 100), 10, 10 * 128],
  [
    "UDP GSO, 1001 bytes in 100-byte pieces",
    withPartialChecksum(udpOut(1001), L.VNET_GSO_UDP_L4, 100),
    11,
    1001 + 11 * 28,
  ],
  ["UDP GSO of one piece", withPartialChecksum(udpOut(100), L.VNET_GSO_UDP_L4, 1400), 1, 128],
  ["TCP GSO, 2 x 1448 bytes", withPartialChecksum(tcpOut(2896), L.VNET_GSO_TCPV4, 1448), 2, 2 * 1488],
  ["TCP GSO, gso_size 0", withPartialChecksum(tcpOut(2896), L.VNET_GSO_TCPV4, 0), 1, 2936],
];

for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    const s = coreSetup();
    addFlows(s, FLOWS);
    const dv = new DataView(s.memory.buffer);
    const stat = (slot: number): number => dv.getFloat64(s.stats + slot * 8, true);
    for (const [name, bytes, packets, wire] of CASES) {
      const flowBytes = (): number => [...s.table.flows()].find((f) => f.proto === bytes[10 + 9])!.bytesOut;
      const before = [stat(L.S_PKTS_OUT), stat(L.S_BYTES_OUT), flowBytes()];
      s.u8.set(bytes, s.slot);
      t.equal(
        s.cores[kind].processPacket(s.slot, bytes.length, s.stats, L.IN_INSIDE),
        L.V_FORWARD,
        `${name}: forwarded`,
      );
      const after = [stat(L.S_PKTS_OUT), stat(L.S_BYTES_OUT), flowBytes()];
      t.same(
        after.map((v, i) => v - before[i]),
        [packets, wire, wire],
        `${name}: ${packets} packets, ${wire} bytes`,
      );
    }
  });
}
