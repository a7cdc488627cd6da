// Malformed packets: every header field out of range, and every truncation, give a drop verdict
// with the right reason, never an exception, and no byte outside the packet is touched.
import t from "tap";
import { coreSetup, addFlows, ingressOf } from "../harness/core-setup";
import { ipv4, tcp, udp, icmp, concat, plainVnet, checksum, withPartialChecksum } from "../harness/packets";
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
  { proto: 1, lan: "192.168.0.2", lanPort: 7, remote: "10.0.0.2", remotePort: 0, wan: "10.0.0.1", wanPort: 5555 },
];
const P = new Uint8Array(64).fill(0x5a);
const tcpOut = ipv4(
  { src: "192.168.0.2", dst: "10.0.0.2", proto: 6 },
  tcp("192.168.0.2", "10.0.0.2", 40000, 80, 0x10, P),
);
const udpOut = ipv4({ src: "192.168.0.2", dst: "10.0.0.2", proto: 17 }, udp("192.168.0.2", "10.0.0.2", 40001, 53, P));
const echoOut = ipv4({ src: "192.168.0.2", dst: "10.0.0.2", proto: 1 }, icmp(8, 0, (7 << 16) | 1, P));
const embedded = ipv4(
  { src: "10.0.0.1", dst: "10.0.0.2", proto: 17 },
  udp("10.0.0.1", "10.0.0.2", 61001, 53, P),
).subarray(0, 28);
const errorIn = ipv4({ src: "10.0.0.2", dst: "10.0.0.1", proto: 1 }, icmp(3, 3, 0, embedded));
const VALID = { tcpOut, udpOut, echoOut, errorIn };

// Re-seal the IP header checksum after editing a field, so that the field itself is what is wrong.
function reseal(p: Uint8Array): Uint8Array {
  const ihl = Math.min((p[0] & 15) * 4, p.length);
  p[10] = 0;
  p[11] = 0;
  const c = ~checksum(p, 0, Math.max(20, ihl)) & 0xffff;
  p[10] = c >> 8;
  p[11] = c & 255;
  return p;
}
function edit(base: Uint8Array, fn: (p: Uint8Array) => void, seal = true): Uint8Array {
  const p = Uint8Array.from(base);
  fn(p);
  return seal ? reseal(p) : p;
}
function resealIcmp(p: Uint8Array): void {
  const l4 = p.subarray(20);
  l4[2] = 0;
  l4[3] = 0;
  const c = ~checksum(l4) & 0xffff;
  l4[2] = c >> 8;
  l4[3] = c & 255;
}

const CASES: Array<[string, Uint8Array, number, Uint8Array?]> = [
  ...[0, 1, 2, 3, 5, 7, 15].map((v): [string, Uint8Array, number] => [
    `version ${v}`,
    edit(tcpOut, (p) => {
      p[0] = (v << 4) | 5;
    }),
    L.R_BAD_VERSION,
  ]),
  ...[0, 1, 4].map((ihl): [string, Uint8Array, number] => [
    `ihl ${ihl}`,
    edit(
      tcpOut,
      (p) => {
        p[0] = 0x40 | ihl;
      },
      false,
    ),
    L.R_BAD_IHL,
  ]),
  [
    "ihl past the packet",
    edit(
      tcpOut.subarray(0, 40),
      (p) => {
        p[0] = 0x4f;
        p[2] = 0;
        p[3] = 40;
      },
      false,
    ),
    L.R_BAD_IHL,
  ],
  [
    "total length below the header",
    edit(tcpOut, (p) => {
      p[2] = 0;
      p[3] = 19;
    }),
    L.R_BAD_TOTAL_LENGTH,
  ],
  [
    "total length past the bytes read",
    edit(tcpOut, (p) => {
      p[2] = 0xff;
      p[3] = 0xff;
    }),
    L.R_BAD_TOTAL_LENGTH,
  ],
  [
    "header checksum wrong",
    edit(
      tcpOut,
      (p) => {
        p[11] ^= 1;
      },
      false,
    ),
    L.R_BAD_IP_CHECKSUM,
  ],
  [
    "reserved fragment flag",
    edit(tcpOut, (p) => {
      p[6] |= 0x80;
    }),
    L.R_BAD_FRAGMENT,
  ],
  [
    "fragment past 65535",
    edit(tcpOut, (p) => {
      p[6] = 0x1f;
      p[7] = 0xff;
    }),
    L.R_BAD_FRAGMENT,
  ],
  [
    "ttl 0",
    edit(tcpOut, (p) => {
      p[8] = 0;
    }),
    L.R_TTL_EXPIRED,
  ],
  [
    "tcp data offset 4",
    edit(tcpOut, (p) => {
      p[32] = 0x40;
    }),
    L.R_BAD_L4_HEADER,
  ],
  [
    "tcp data offset past the packet",
    edit(tcpOut.subarray(0, 44), (p) => {
      p[2] = 0;
      p[3] = 44;
      p[32] = 0xf0;
    }),
    L.R_BAD_L4_HEADER,
  ],
  [
    "tcp header cut short",
    edit(tcpOut.subarray(0, 30), (p) => {
      p[2] = 0;
      p[3] = 30;
    }),
    L.R_BAD_L4_HEADER,
  ],
  [
    "udp length 7",
    edit(udpOut, (p) => {
      p[24] = 0;
      p[25] = 7;
    }),
    L.R_BAD_L4_HEADER,
  ],
  [
    "udp length past the datagram",
    edit(udpOut, (p) => {
      p[24] = 0xff;
      p[25] = 0xff;
    }),
    L.R_BAD_L4_HEADER,
  ],
  [
    "icmp cut to 4 bytes",
    edit(echoOut.subarray(0, 24), (p) => {
      p[2] = 0;
      p[3] = 24;
    }),
    L.R_BAD_L4_HEADER,
  ],
  [
    "icmp error with wrong checksum",
    edit(errorIn, (p) => {
      p[22] ^= 0xff;
    }),
    L.R_BAD_ICMP,
  ],
  [
    "icmp error embedding version 6",
    edit(errorIn, (p) => {
      p[28] = 0x65;
      resealIcmp(p);
    }),
    L.R_BAD_ICMP,
  ],
  [
    "icmp error embedding ihl 15",
    edit(errorIn, (p) => {
      p[28] = 0x4f;
      resealIcmp(p);
    }),
    L.R_BAD_ICMP,
  ],
  [
    "icmp error embedding a bad header checksum",
    edit(errorIn, (p) => {
      p[38] ^= 1;
      resealIcmp(p);
    }),
    L.R_BAD_ICMP,
  ],
  [
    "icmp error embedding less than a header",
    edit(errorIn.subarray(0, 40), (p) => {
      p[2] = 0;
      p[3] = 40;
      resealIcmp(p);
    }),
    L.R_BAD_ICMP,
  ],
  ["vnet csum_start wrong", udpOut, L.R_BAD_VNET_HDR, Uint8Array.from([1, 0, 0, 0, 0, 0, 24, 0, 6, 0])],
  ["vnet csum_offset wrong", udpOut, L.R_BAD_VNET_HDR, Uint8Array.from([1, 0, 0, 0, 0, 0, 20, 0, 16, 0])],
  ["vnet gso type unknown", tcpOut, L.R_BAD_VNET_HDR, Uint8Array.from([0, 3, 0, 0, 0, 0, 0, 0, 0, 0])],
  ["vnet needs_csum on icmp", echoOut, L.R_BAD_VNET_HDR, Uint8Array.from([1, 0, 0, 0, 0, 0, 20, 0, 2, 0])],
  ["shorter than a virtio_net_hdr", new Uint8Array(0), L.R_TRUNCATED, new Uint8Array(5)],
];

for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    const s = coreSetup();
    addFlows(s, FLOWS);
    const core = s.cores[kind];
    const SENTINEL = 0xa5;
    const run = (bytes: Uint8Array): { v: number; reason: number; spill: boolean } => {
      s.u8.fill(SENTINEL, s.slot, s.slot + bytes.length + 256);
      s.u8.set(bytes, s.slot);
      let v = -1,
        reason = -1;
      s.u8.fill(0, s.desc, s.desc + 16);
      new DataView(s.memory.buffer).setUint32(s.desc, s.slot, true);
      new DataView(s.memory.buffer).setUint32(s.desc + 4, bytes.length, true);
      core.processBatch(s.desc, 1, s.stats, ingressOf(s.u8, s.slot + L.VNET_HDR_LEN));
      v = new DataView(s.memory.buffer).getUint32(s.desc + 8, true);
      reason = new DataView(s.memory.buffer).getUint32(s.desc + 12, true);
      const spill = s.u8.subarray(s.slot + bytes.length, s.slot + bytes.length + 256).some((b) => b !== SENTINEL);
      return { v, reason, spill };
    };

    for (const [name, pkt, reason, vnet] of CASES) {
      const r = run(concat(vnet ?? plainVnet(), pkt));
      t.same([r.v, r.reason, r.spill], [L.V_DROP, reason, false], name);
    }
    for (const [name, pkt] of Object.entries(VALID)) {
      t.equal(run(concat(plainVnet(), pkt)).v, L.V_FORWARD, `${name} intact is forwarded`);
      let wrong = 0,
        spilled = 0;
      for (let len = 0; len < pkt.length + 10; len++) {
        const r = run(concat(plainVnet(), pkt).subarray(0, len));
        if (r.v !== L.V_DROP) wrong++;
        if (r.spill) spilled++;
      }
      t.equal(wrong, 0, `${name} truncated at every length is dropped`);
      t.equal(spilled, 0, `${name} truncated: nothing written past the end`);
    }
    const partialTcp = withPartialChecksum(tcpOut);
    t.equal(run(partialTcp).v, L.V_FORWARD, "partial checksum tcp is forwarded");
  });
}
