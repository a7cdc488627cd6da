// NAT66 through both cores: a masqueraded flow leaves as the masquerade address and its public
// port (every checksum right after the incremental update), what comes back to that address and
// port reaches the LAN end, ICMPv6 echo by its identifier, ICMPv6 errors with their quote
// translated both ways, the LAN end unreachable straight from the WAN; and the table's side: one
// public port per LAN endpoint (endpoint-independent mapping), the LAN end's own port kept when
// free, another when not, the port let go with the endpoint's last flow.
import t from "tap";
import { coreSetup } from "../harness/core-setup";
import { concat, plainVnet } from "../harness/packets";
import { ipv6, tcp6, icmp6, NH, l4ChecksumOk } from "../harness/packets6";
import { parseAddr6, formatAddr6 } from "../host/net/addr6";
import * as L from "../assembly/layout";

const LAN = "fd00:1::2",
  LAN2 = "fd00:1::3",
  R = "2001:db8:ff::2",
  R2 = "2001:db8:ff::3",
  MASQ = "2001:db8:f::1",
  ROUTER = "2001:db8:f0::1";
const data = new TextEncoder().encode("through NAT66");

const addrs = (p: Uint8Array): [string, string] => [formatAddr6(p.subarray(8, 24)), formatAddr6(p.subarray(24, 40))];
const ports = (p: Uint8Array, at = 40): [number, number] => [(p[at] << 8) | p[at + 1], (p[at + 2] << 8) | p[at + 3]];

t.test("the table: one public port per LAN endpoint, its own when free", async (t) => {
  const s = coreSetup(1024);
  const v6 = s.table.v6;
  s.table.now = 5;
  v6.masqAddress = parseAddr6(MASQ);
  const masq = {};
  const a = v6.create(L.PROTO_UDP, parseAddr6(LAN), 40000, parseAddr6(R), 53, 0, masq);
  t.equal(v6.flow(a).wanPort, 40000, "the LAN end's own port, free: kept (port preservation)");
  const b = v6.create(L.PROTO_UDP, parseAddr6(LAN), 40000, parseAddr6(R2), 53, 0, masq);
  t.equal(v6.flow(b).wanPort, 40000, "a second flow of the endpoint: the same public port (endpoint-independent)");
  const c = v6.create(L.PROTO_UDP, parseAddr6(LAN2), 40000, parseAddr6(R), 53, 0, masq);
  const other = v6.flow(c).wanPort;
  t.ok(
    other !== 40000 && other >= s.table.portMin && other <= s.table.portMax,
    `another host's same port: another (${other})`,
  );
  t.same(formatAddr6(v6.wanOwner(L.PROTO_UDP, 40000)!.lan), LAN, "who holds 40000");
  t.equal(v6.wanOwner(L.PROTO_TCP, 40000), undefined, "per protocol");
  const low = v6.create(L.PROTO_UDP, parseAddr6(LAN), 123, parseAddr6(R), 123, 0, masq);
  t.ok(v6.flow(low).wanPort >= 600 && v6.flow(low).wanPort <= 1023, "a port below 1024 maps below 1024");
  v6.remove(a);
  t.ok(v6.wanOwner(L.PROTO_UDP, 40000), "held while the endpoint has a flow");
  v6.remove(b);
  t.equal(v6.wanOwner(L.PROTO_UDP, 40000), undefined, "let go with its last");
  const d = v6.create(L.PROTO_UDP, parseAddr6(LAN2), 40001, parseAddr6(R), 53, 0, { want: 40000 });
  t.not(v6.flow(d).wanPort, 40000, "a port let go rests before another LAN end has it");
  const routed = v6.create(L.PROTO_UDP, parseAddr6(LAN), 5000, parseAddr6(R), 53, 0);
  t.equal(v6.flow(routed).wanPort, 0, "a routed flow has no public port");
});

for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    const s = coreSetup(1024);
    const core = s.cores[kind];
    const v6 = s.table.v6;
    s.table.now = 5;
    v6.masqAddress = parseAddr6(MASQ);
    // the LAN end's port is taken by another, so the public port differs and the rewrite shows
    v6.create(L.PROTO_TCP, parseAddr6(LAN2), 40000, parseAddr6(R2), 443, L.TS_ESTABLISHED, {});
    const tcpFlow = v6.create(L.PROTO_TCP, parseAddr6(LAN), 40000, parseAddr6(R), 443, L.TS_ESTABLISHED, {});
    const P = v6.flow(tcpFlow).wanPort;
    const echo = v6.create(L.PROTO_ICMPV6, parseAddr6(LAN), 77, parseAddr6(R), 0, 0, {});
    const E = v6.flow(echo).wanPort;
    const run = (pkt: Uint8Array, ingress: number): { v: number; reason: number; out: Uint8Array } => {
      const bytes = concat(plainVnet(), pkt);
      s.u8.set(bytes, s.slot);
      const v = core.processPacket(s.slot, bytes.length, s.stats, ingress);
      return { v, reason: core.lastReason(), out: s.u8.slice(s.slot + L.VNET_HDR_LEN, s.slot + bytes.length) };
    };

    let r = run(ipv6({ src: LAN, dst: R, nh: NH.TCP }, tcp6(LAN, R, 40000, 443, 0x10, data)), L.IN_INSIDE);
    t.equal(r.v, L.V_FORWARD, "outbound TCP of a masqueraded flow: forwarded");
    t.same(
      [addrs(r.out), ports(r.out)],
      [
        [MASQ, R],
        [P, 443],
      ],
      `as ${MASQ} port ${P}`,
    );
    t.ok(l4ChecksumOk(r.out), "its TCP checksum right");

    r = run(ipv6({ src: R, dst: MASQ, nh: NH.TCP }, tcp6(R, MASQ, 443, P, 0x10, data)), L.IN_WAN);
    t.equal(r.v, L.V_FORWARD, "the reply to the public end: forwarded");
    t.same(
      [addrs(r.out), ports(r.out)],
      [
        [R, LAN],
        [443, 40000],
      ],
      "to the LAN end",
    );
    t.ok(l4ChecksumOk(r.out), "checksum right");

    r = run(ipv6({ src: R2, dst: MASQ, nh: NH.TCP }, tcp6(R2, MASQ, 443, P, 0x10, data)), L.IN_WAN);
    t.equal(r.v, L.V_SLOW, "another remote to the public port: the slow path decides (filtering)");

    r = run(ipv6({ src: R, dst: LAN, nh: NH.TCP }, tcp6(R, LAN, 443, 40000, 0x10, data)), L.IN_WAN);
    t.same([r.v, r.reason], [L.V_DROP, L.R_NO_MAPPING], "from the WAN straight to the LAN end: dropped");

    r = run(ipv6({ src: LAN, dst: R, nh: NH.ICMPV6 }, icmp6(LAN, R, 128, 0, (77 << 16) | 1, data)), L.IN_INSIDE);
    t.same(
      [r.v, addrs(r.out), ports(r.out, 44)[0]],
      [L.V_FORWARD, [MASQ, R], E],
      "an echo request: its identifier the public one",
    );
    t.ok(l4ChecksumOk(r.out), "ICMPv6 checksum right");
    r = run(ipv6({ src: R, dst: MASQ, nh: NH.ICMPV6 }, icmp6(R, MASQ, 129, 0, (E << 16) | 1, data)), L.IN_WAN);
    t.same(
      [r.v, addrs(r.out), ports(r.out, 44)[0]],
      [L.V_FORWARD, [R, LAN], 77],
      "its reply: back to the LAN's identifier",
    );
    t.ok(l4ChecksumOk(r.out), "ICMPv6 checksum right");

    const sent = ipv6({ src: MASQ, dst: R, nh: NH.TCP, hop: 1 }, tcp6(MASQ, R, P, 443, 0x10, data));
    r = run(ipv6({ src: ROUTER, dst: MASQ, nh: NH.ICMPV6 }, icmp6(ROUTER, MASQ, 2, 0, 1280, sent)), L.IN_WAN);
    t.equal(r.v, L.V_FORWARD, "a Packet Too Big about the flow: forwarded");
    t.same(
      [addrs(r.out), addrs(r.out.subarray(48)), ports(r.out, 88)],
      [
        [ROUTER, LAN],
        [LAN, R],
        [40000, 443],
      ],
      "to the LAN end, its quote too",
    );
    t.ok(l4ChecksumOk(r.out), "ICMPv6 checksum right");
    t.ok(l4ChecksumOk(r.out.subarray(48)), "and the quote's TCP checksum");

    const own = ipv6({ src: MASQ, dst: R, nh: NH.TCP }, tcp6(MASQ, R, 22, 50000, 0x10, data));
    r = run(ipv6({ src: ROUTER, dst: MASQ, nh: NH.ICMPV6 }, icmp6(ROUTER, MASQ, 2, 0, 1280, own)), L.IN_WAN);
    t.equal(r.v, L.V_SLOW, "one about the gateway's own connection: the slow path (the kernel's)");

    const received = ipv6({ src: R, dst: LAN, nh: NH.TCP }, tcp6(R, LAN, 443, 40000, 0x10, data));
    r = run(ipv6({ src: LAN, dst: R, nh: NH.ICMPV6 }, icmp6(LAN, R, 1, 4, 0, received)), L.IN_INSIDE);
    t.equal(r.v, L.V_FORWARD, "an error from the LAN end about what it received: forwarded");
    t.same(
      [addrs(r.out), addrs(r.out.subarray(48)), ports(r.out, 88)],
      [
        [MASQ, R],
        [R, MASQ],
        [443, P],
      ],
      "as the public end",
    );
    t.ok(l4ChecksumOk(r.out), "ICMPv6 checksum right");
    t.ok(l4ChecksumOk(r.out.subarray(48)), "and the quote's");

    // hairpin: LAN2 reaches LAN's public port P; the slow path made both flows, as it does
    const hairClient = v6.create(L.PROTO_TCP, parseAddr6(LAN2), 41000, parseAddr6(MASQ), P, L.TS_SYN_OUT, {});
    const PA = v6.flow(hairClient).wanPort;
    v6.create(L.PROTO_TCP, parseAddr6(LAN), 40000, parseAddr6(MASQ), PA, L.TS_SYN_IN, { want: P });
    r = run(ipv6({ src: LAN2, dst: MASQ, nh: NH.TCP }, tcp6(LAN2, MASQ, 41000, P, 0x02, data)), L.IN_INSIDE);
    t.same(
      [r.v, addrs(r.out), ports(r.out)],
      [L.V_FORWARD, [MASQ, LAN], [PA, 40000]],
      "hairpin: to the LAN end holding the port, from the public end",
    );
    t.ok(l4ChecksumOk(r.out), "checksum right");
    r = run(ipv6({ src: LAN, dst: MASQ, nh: NH.TCP }, tcp6(LAN, MASQ, 40000, PA, 0x12, data)), L.IN_INSIDE);
    t.same(
      [r.v, addrs(r.out), ports(r.out)],
      [L.V_FORWARD, [MASQ, LAN2], [P, 41000]],
      "and its answer back the same way",
    );
    t.ok(l4ChecksumOk(r.out), "checksum right");

    v6.masqAddress = undefined;
    r = run(ipv6({ src: R, dst: MASQ, nh: NH.TCP }, tcp6(R, MASQ, 443, P, 0x10, data)), L.IN_WAN);
    t.equal(r.v, L.V_SLOW, "with NAT66 off, the address is nobody's in the fast path");
  });
}
