// The IPv6 fast path of both cores (assembly/route6.ts and its TypeScript twin), packet by
// packet: known flows forwarded with the hop limit given back and nothing else changed, the
// extension-header walk, what is never forwarded (link scope, martians, routing header 0), what
// goes to the slow path, ICMPv6 errors matched to their flow, malformed input. Both cores give
// the same verdict, reason and bytes.
import t from "tap";
import { coreSetup } from "../harness/core-setup";
import { concat, plainVnet } from "../harness/packets";
import { ipv6, tcp6, udp6, icmp6, ext, NH } from "../harness/packets6";
import { parseAddr6 } from "../host/net/addr6";
import * as L from "../assembly/layout";

const LAN = "2001:db8:1::2",
  R = "2001:db8:ff::2",
  OTHER = "2001:db8:ff::99";
const SYN = 0x02,
  ACK = 0x10;
const data = new TextEncoder().encode("hello over IPv6");

const tcpOut = ipv6({ src: LAN, dst: R, nh: NH.TCP }, tcp6(LAN, R, 40000, 443, ACK, data));
const tcpIn = ipv6({ src: R, dst: LAN, nh: NH.TCP }, tcp6(R, LAN, 443, 40000, ACK, data));
const udpOut = ipv6({ src: LAN, dst: R, nh: NH.UDP }, udp6(LAN, R, 5000, 53, data));
const echoOut = ipv6({ src: LAN, dst: R, nh: NH.ICMPV6 }, icmp6(LAN, R, 128, 0, (77 << 16) | 1, data));
const echoIn = ipv6({ src: R, dst: LAN, nh: NH.ICMPV6 }, icmp6(R, LAN, 129, 0, (77 << 16) | 1, data));
const ptb = (about: Uint8Array, from = R, to = LAN): Uint8Array =>
  ipv6({ src: from, dst: to, nh: NH.ICMPV6 }, icmp6(from, to, 2, 0, 1280, about));

type Case = [name: string, packet: Uint8Array, ingress: number, verdict: number, reason?: number];
const CASES: Case[] = [
  ["TCP of a flow, outbound", tcpOut, L.IN_INSIDE, L.V_FORWARD],
  ["TCP of a flow, inbound", tcpIn, L.IN_WAN, L.V_FORWARD],
  ["UDP of a flow, outbound", udpOut, L.IN_INSIDE, L.V_FORWARD],
  ["ICMPv6 echo request of a flow", echoOut, L.IN_INSIDE, L.V_FORWARD],
  ["ICMPv6 echo reply of a flow", echoIn, L.IN_WAN, L.V_FORWARD],
  [
    "hop-by-hop and destination options before UDP",
    ipv6(
      { src: LAN, dst: R, nh: NH.HOP },
      concat(ext(NH.DEST, [1, 0]), ext(NH.UDP, [1, 4, 0, 0, 0, 0]), udp6(LAN, R, 5000, 53, data)),
    ),
    L.IN_INSIDE,
    L.V_FORWARD,
  ],
  [
    "routing header type 0, no segments left: walked over",
    ipv6({ src: LAN, dst: R, nh: NH.ROUTING }, concat(ext(NH.UDP, [0, 0, 0, 0, 0, 0]), udp6(LAN, R, 5000, 53, data))),
    L.IN_INSIDE,
    L.V_FORWARD,
  ],
  [
    "routing header type 0 with a segment left (RFC 5095)",
    ipv6(
      { src: R, dst: LAN, nh: NH.ROUTING },
      concat(ext(NH.UDP, [0, 1, 0, 0, 0, 0, ...parseAddr6(OTHER)]), udp6(R, LAN, 53, 5000, data)),
    ),
    L.IN_WAN,
    L.V_DROP,
    L.R_ROUTING_HEADER_0,
  ],
  [
    "hop-by-hop not first (RFC 8200 4.3)",
    ipv6(
      { src: LAN, dst: R, nh: NH.DEST },
      concat(ext(NH.HOP, [1, 4, 0, 0, 0, 0]), ext(NH.UDP, [1, 4, 0, 0, 0, 0]), udp6(LAN, R, 5000, 53, data)),
    ),
    L.IN_INSIDE,
    L.V_DROP,
    L.R_BAD_L4_HEADER,
  ],
  [
    "an extension header cut short",
    ipv6({ src: LAN, dst: R, nh: NH.DEST }, new Uint8Array([NH.UDP, 3, 0, 0, 0, 0, 0, 0])),
    L.IN_INSIDE,
    L.V_DROP,
    L.R_BAD_L4_HEADER,
  ],
  [
    "a fragment: the slow path",
    ipv6(
      { src: LAN, dst: R, nh: NH.FRAGMENT },
      concat(new Uint8Array([NH.UDP, 0, 0, 1, 0, 0, 0, 7]), udp6(LAN, R, 5000, 53, data)),
    ),
    L.IN_INSIDE,
    L.V_SLOW,
    L.R_FRAGMENT,
  ],
  [
    "ESP: another protocol, the slow path",
    ipv6({ src: R, dst: LAN, nh: NH.ESP }, data),
    L.IN_WAN,
    L.V_SLOW,
    L.R_UNSUPPORTED,
  ],
  [
    "a flow nobody opened, from the WAN: the slow path",
    ipv6({ src: OTHER, dst: LAN, nh: NH.TCP }, tcp6(OTHER, LAN, 443, 40000, SYN, data)),
    L.IN_WAN,
    L.V_SLOW,
    L.R_NO_MAPPING,
  ],
  [
    "link-local source",
    ipv6({ src: "fe80::1", dst: R, nh: NH.UDP }, udp6("fe80::1", R, 5000, 53, data)),
    L.IN_INSIDE,
    L.V_DROP,
    L.R_LINK_SCOPE,
  ],
  [
    "multicast destination",
    ipv6({ src: LAN, dst: "ff05::1:3", nh: NH.UDP }, udp6(LAN, "ff05::1:3", 546, 547, data)),
    L.IN_INSIDE,
    L.V_DROP,
    L.R_LINK_SCOPE,
  ],
  [
    "neighbour solicitation between global addresses",
    ipv6({ src: R, dst: LAN, nh: NH.ICMPV6, hop: 255 }, icmp6(R, LAN, 135, 0, 0, parseAddr6(LAN))),
    L.IN_WAN,
    L.V_DROP,
    L.R_LINK_SCOPE,
  ],
  [
    "loopback source",
    ipv6({ src: "::1", dst: LAN, nh: NH.UDP }, udp6("::1", LAN, 7, 5000, data)),
    L.IN_WAN,
    L.V_DROP,
    L.R_MARTIAN,
  ],
  [
    "IPv4-mapped source",
    ipv6({ src: "::ffff:10.0.0.2", dst: LAN, nh: NH.UDP }, udp6("::ffff:10.0.0.2", LAN, 7, 5000, data)),
    L.IN_WAN,
    L.V_DROP,
    L.R_MARTIAN,
  ],
  [
    "hop limit 0",
    ipv6({ src: LAN, dst: R, nh: NH.UDP, hop: 0 }, udp6(LAN, R, 5000, 53, data)),
    L.IN_INSIDE,
    L.V_DROP,
    L.R_TTL_EXPIRED,
  ],
  [
    "fewer bytes than a header",
    ipv6({ src: LAN, dst: R, nh: NH.UDP }, new Uint8Array(0)).subarray(0, 30),
    L.IN_INSIDE,
    L.V_DROP,
    L.R_TRUNCATED,
  ],
  ["payload length past the end", tcpOut.subarray(0, tcpOut.length - 4), L.IN_INSIDE, L.V_DROP, L.R_BAD_TOTAL_LENGTH],
  [
    "a TCP header cut short",
    ipv6({ src: LAN, dst: R, nh: NH.TCP }, tcp6(LAN, R, 40000, 443, ACK, data).subarray(0, 12)),
    L.IN_INSIDE,
    L.V_DROP,
    L.R_BAD_L4_HEADER,
  ],
  ["Packet Too Big about a flow", ptb(tcpOut.subarray(0, 48 + 20)), L.IN_WAN, L.V_FORWARD],
  [
    "Packet Too Big with a wrong checksum",
    (() => {
      const p = ptb(tcpOut.subarray(0, 68));
      p[42] ^= 0xff;
      return p;
    })(),
    L.IN_WAN,
    L.V_DROP,
    L.R_BAD_ICMP,
  ],
  [
    "Packet Too Big about no flow (RFC 6092 REC-10)",
    ptb(ipv6({ src: LAN, dst: OTHER, nh: NH.UDP }, udp6(LAN, OTHER, 1, 2, data))),
    L.IN_WAN,
    L.V_DROP,
    L.R_NO_MAPPING,
  ],
  [
    "an error about a flow, sent to someone else",
    ptb(tcpOut.subarray(0, 68), R, "2001:db8:1::77"),
    L.IN_WAN,
    L.V_DROP,
    L.R_NO_MAPPING,
  ],
];

for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    const s = coreSetup();
    const core = s.cores[kind];
    const v6 = s.table.v6;
    s.table.now = 5;
    v6.create(L.PROTO_TCP, parseAddr6(LAN), 40000, parseAddr6(R), 443, L.TS_SYN_OUT);
    v6.create(L.PROTO_UDP, parseAddr6(LAN), 5000, parseAddr6(R), 53, 0);
    v6.create(L.PROTO_ICMPV6, parseAddr6(LAN), 77, parseAddr6(R), 0, 0);
    const dv = new DataView(s.memory.buffer);
    const run = (
      pkt: Uint8Array,
      ingress: number,
      vnet = plainVnet(),
    ): { v: number; reason: number; out: Uint8Array } => {
      const bytes = concat(vnet, pkt);
      s.u8.set(bytes, s.slot);
      dv.setUint32(s.desc + L.D_OFFSET, s.slot, true);
      dv.setUint32(s.desc + L.D_LENGTH, bytes.length, true);
      core.processBatch(s.desc, 1, s.stats, ingress);
      return {
        v: dv.getUint32(s.desc + L.D_VERDICT, true),
        reason: dv.getUint32(s.desc + L.D_REASON, true),
        out: s.u8.slice(s.slot + L.VNET_HDR_LEN, s.slot + bytes.length),
      };
    };
    for (const [name, pkt, ingress, verdict, reason] of CASES) {
      const r = run(pkt, ingress);
      t.equal(r.v, verdict, `${name}: verdict`);
      if (reason !== undefined) t.equal(r.reason, reason, `${name}: reason`);
      if (verdict === L.V_FORWARD) {
        const want = Uint8Array.from(pkt);
        want[7]++;
        t.same([...r.out], [...want], `${name}: only the hop limit changed (given back)`);
      }
    }
    // GSO metadata must fit the packet (TCPv4 segmentation asked for an IPv6 packet)
    const gso = plainVnet();
    gso[1] = L.VNET_GSO_TCPV4;
    t.equal(run(tcpOut, L.IN_INSIDE, gso).reason, L.R_BAD_VNET_HDR, "GSO type of the other family: dropped");
    gso[1] = L.VNET_GSO_TCPV6;
    t.equal(run(tcpOut, L.IN_INSIDE, gso).v, L.V_FORWARD, "GSO TCPv6 on TCP: forwarded");
    // the flow's state and counters
    const tcpFlow = [...v6.flows()].find((f) => f.proto === L.PROTO_TCP)!;
    t.ok(
      tcpFlow.pktsOut >= 2 && tcpFlow.pktsIn >= 1,
      `the TCP flow counted (${tcpFlow.pktsOut} out, ${tcpFlow.pktsIn} in)`,
    );
    t.equal(tcpFlow.bytesIn, tcpIn.length, "bytes in: the whole IPv6 packet");
    run(ipv6({ src: R, dst: LAN, nh: NH.TCP }, tcp6(R, LAN, 443, 40000, SYN | ACK, data)), L.IN_WAN);
    run(tcpOut, L.IN_INSIDE);
    t.ok(
      ([...v6.flows()].find((f) => f.proto === L.PROTO_TCP)!.tcpState & L.TS_ESTABLISHED) !== 0,
      "SYN both ways, then ACK: established",
    );
    t.equal(s.table.live, 0, "no IPv4 entry was made");
  });
}

t.test("the IPv6 table: full, freed, swept", async (t) => {
  const s = coreSetup(32); // 16 IPv6 flows
  const v6 = s.table.v6;
  s.table.now = 1;
  const made: number[] = [];
  for (let i = 0; i < 17; i++) made.push(v6.create(L.PROTO_UDP, parseAddr6(LAN), 1000 + i, parseAddr6(R), 53, 0));
  t.equal(made.filter((i) => i >= 0).length, 16, "16 flows fit");
  t.equal(made[16], -1, "the 17th is refused");
  const news = s.table.events.take();
  t.equal(news.length, 16, "a NEW event for each");
  t.same(
    [news[0].type, news[0].lan6, news[0].lanPort, news[0].remote6, news[0].remotePort],
    ["NEW", LAN, 1000, R, 53],
    "with both IPv6 ends",
  );
  t.equal(v6.fullDrops, 1, "and counted");
  t.equal(
    v6.create(L.PROTO_UDP, parseAddr6(LAN), 1000, parseAddr6(R), 53, 0),
    made[0],
    "an existing flow is found, not made twice",
  );
  s.table.now = 1 + 301;
  t.equal(v6.sweep(), 16, "idle UDP flows are swept after the UDP timeout");
  const ends = s.table.events.take();
  t.ok(
    ends.length === 16 && ends.every((e) => e.type === "DESTROY" && e.why === "timeout" && e.lan6 === LAN),
    "a DESTROY (timeout) for each",
  );
  t.equal(v6.live, 0);
  s.table.now += 1;
  t.equal(v6.create(L.PROTO_UDP, parseAddr6(LAN), 2000, parseAddr6(R), 53, 0), -1, "a freed entry rests before reuse");
  s.table.now += 2;
  t.ok(v6.create(L.PROTO_UDP, parseAddr6(LAN), 2000, parseAddr6(R), 53, 0) >= 0, "then it is used again");
});

t.test("the IPv6 table's filtering questions follow flows as they come and go", async (t) => {
  const s = coreSetup(64); // 32 IPv6 flows
  const v6 = s.table.v6;
  s.table.now = 1;
  const lan = parseAddr6(LAN),
    r = parseAddr6(R),
    other = parseAddr6(OTHER);
  t.notOk(v6.hasEndpoint(L.PROTO_UDP, lan, 5000), "no flow: the endpoint is unknown");
  // a peer-to-peer endpoint: one LAN port, many remotes
  const flows = [];
  for (let p = 0; p < 20; p++) flows.push(v6.create(L.PROTO_UDP, lan, 5000, r, 6000 + p, 0));
  flows.push(v6.create(L.PROTO_UDP, lan, 5001, other, 53, 0));
  t.ok(v6.hasEndpoint(L.PROTO_UDP, lan, 5000), "the endpoint has flows");
  t.notOk(v6.hasEndpoint(L.PROTO_TCP, lan, 5000), "of its protocol only");
  t.ok(v6.hasFlowTo(L.PROTO_UDP, lan, 5000, r), "it has a flow to R (any port)");
  t.notOk(v6.hasFlowTo(L.PROTO_UDP, lan, 5000, other), "none to another host");
  t.ok(v6.hasFlowTo(L.PROTO_UDP, lan, 5001, other), "the other endpoint's remote");
  for (const i of flows.slice(0, 19)) v6.remove(i, "flush");
  t.ok(v6.hasEndpoint(L.PROTO_UDP, lan, 5000) && v6.hasFlowTo(L.PROTO_UDP, lan, 5000, r), "one flow left: still known");
  v6.remove(flows[19], "flush");
  t.notOk(v6.hasEndpoint(L.PROTO_UDP, lan, 5000), "its last flow gone: the endpoint is forgotten");
  t.notOk(v6.hasFlowTo(L.PROTO_UDP, lan, 5000, r), "and so is the remote");
  t.ok(v6.hasEndpoint(L.PROTO_UDP, lan, 5001), "the other endpoint is untouched");
  // churn: endpoints made and forgotten many times over stay findable (tombstones reused)
  for (let round = 0; round < 50; round++) {
    s.table.now += 3; // freed entries rest 2 s before reuse
    const made = [];
    for (let p = 0; p < 30; p++) made.push(v6.create(L.PROTO_TCP, lan, 10000 + round * 30 + p, r, 443, 0));
    if (made.some((i) => i < 0) || !made.every((_, p) => v6.hasEndpoint(L.PROTO_TCP, lan, 10000 + round * 30 + p))) {
      t.fail(`round ${round}: an endpoint was lost`);
      return;
    }
    for (const i of made) v6.remove(i, "flush");
  }
  t.notOk(v6.hasEndpoint(L.PROTO_TCP, lan, 10000 + 49 * 30), "after 50 rounds of churn nothing is left over");
  t.ok(v6.hasEndpoint(L.PROTO_UDP, lan, 5001), "and the long-lived endpoint is still found");
});
