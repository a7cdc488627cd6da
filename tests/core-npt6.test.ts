// NPTv6 (RFC 6296): the mapping itself (RFC 6296's own example, checksum neutrality, the /48 and
// /64 rules, round trips), --npt6's parsing, and packets through both cores: a flow known by its
// inside address, its source mapped out and its destination mapped in, every checksum still
// valid without being rewritten, ICMPv6 errors with their quoted packet mapped, a WAN packet to
// an inside address refused.
import t from "tap";
import { coreSetup } from "../harness/core-setup";
import { concat, plainVnet } from "../harness/packets";
import { ipv6, tcp6, udp6, icmp6, NH, sum16, l4ChecksumOk } from "../harness/packets6";
import { parseAddr6, formatAddr6, parsePrefix6 } from "../host/net/addr6";
import { parseNpt6, makeNpt6, mapAddress, npt6FromWan, npt6Out, NPT_REFUSED } from "../host/net/npt6";
import * as L from "../assembly/layout";

// a zero sum and 0xffff are the same value in one's complement
const sameSum = (a: Uint8Array, b: Uint8Array): boolean => sum16(a) % 0xffff === sum16(b) % 0xffff;

t.test("the mapping: RFC 6296's example, checksum neutrality, round trips", async (t) => {
  // RFC 6296 appendix B: FD01:0203:0405::/48 <-> 2001:0DB8:0001::/48
  const [m48] = parseNpt6("fd01:203:405::/48=2001:db8:1::/48");
  const a = parseAddr6("fd01:203:405:1::1234");
  t.ok(mapAddress(a, 0, m48.outside, 48, m48.adjOut), "mapped");
  t.equal(formatAddr6(a), "2001:db8:1:d550::1234", "FD01:0203:0405:0001::1234 becomes 2001:DB8:0001:D550::1234");
  t.ok(mapAddress(a, 0, m48.inside, 48, m48.adjIn));
  t.equal(formatAddr6(a), "fd01:203:405:1::1234", "and back");

  const [m64] = parseNpt6("fd00:1::/64=2001:db8:1::/64");
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 24;
  };
  let bad = "";
  for (let n = 0; n < 2000 && !bad; n++) {
    const inside = parseAddr6("fd00:1::");
    for (let i = 8; i < 16; i++) inside[i] = n % 7 === 0 && i < 12 ? 0xff : rnd(); // some leading 0xffff words
    const out = Uint8Array.from(inside);
    if (npt6Out([m64], out, 0) !== 0) continue; // every word 0xffff: cannot be carried
    if (!out.subarray(0, 8).every((b, i) => b === m64.outside[i]))
      bad = `${formatAddr6(out)} is not in the outside prefix`;
    if (!sameSum(inside, out)) bad = `sum changed for ${formatAddr6(inside)}`;
    const back = Uint8Array.from(out);
    if (npt6FromWan([m64], back, 0) !== 0 || formatAddr6(back) !== formatAddr6(inside))
      bad = `round trip of ${formatAddr6(inside)} gave ${formatAddr6(back)}`;
  }
  t.equal(bad, "", "2000 random /64 addresses: outside prefix, same one's-complement sum, back to themselves");
  const allOnes = parseAddr6("fd00:1::ffff:ffff:ffff:ffff");
  t.equal(npt6Out([m64], allOnes, 0), NPT_REFUSED, "an interface identifier of all ones cannot be carried");
  const fromWan = parseAddr6("fd00:1::5");
  t.equal(npt6FromWan([m64], fromWan, 0), NPT_REFUSED, "from the WAN an inside address is refused");
  t.equal(npt6FromWan([m64], parseAddr6("2001:db8:ff::2"), 0), -1, "an address of no mapping is left alone");
  const m56 = makeNpt6(parsePrefix6("fd00:2:0:100::/56"), parsePrefix6("2001:db8:2:300::/56"));
  const x = parseAddr6("fd00:2:0:1ab::9");
  const y = Uint8Array.from(x);
  t.equal(npt6Out([m56], y, 0), 0);
  t.ok(
    formatAddr6(y).startsWith("2001:db8:2:3ab:"),
    `a /56 keeps its subnet byte, adjusts the identifier: ${formatAddr6(y)}`,
  );
  t.ok(sameSum(x, y), "checksum-neutral");
});

t.test("--npt6 refuses what cannot be a 1:1 mapping", async (t) => {
  const refuses = (text: string, why: RegExp): void => {
    t.throws(() => parseNpt6(text), why, text);
  };
  refuses("fd00:1::/64", /INSIDE\/LEN=OUTSIDE\/LEN/);
  refuses("fd00:1::/64=2001:db8:1::/56", /one length/);
  refuses("fd00:1::/80=2001:db8:1::/80", /\/1 to \/64/);
  refuses("fd00:1::5/64=2001:db8:1::/64", /bits set past the prefix length/);
  refuses("fd00:1::=2001:db8:1::/64", /wants its length/);
  refuses("fd00:1::/64=2001:db8:1::/64,fd00:1::/64=2001:db8:2::/64", /overlap/);
  refuses("fd00:1::/64=2001:db8:1::/64,fd00:2::/64=fd00:1::/64", /overlap/);
  refuses(["1", "2", "3", "4", "5"].map((n) => `fd00:${n}::/64=2001:db8:${n}::/64`).join(","), /at most 4/);
  t.equal(parseNpt6("fd00:1::/64=2001:db8:1::/64,fd00:2::/48=2001:db8:2::/48").length, 2, "two mappings");
});

const LAN = "fd00:1::2",
  R = "2001:db8:ff::2",
  ROUTER = "2001:db8:f0::1";
const OUT = (() => {
  const a = parseAddr6(LAN);
  npt6Out(parseNpt6("fd00:1::/64=2001:db8:1::/64"), a, 0);
  return formatAddr6(a);
})();
const data = new TextEncoder().encode("through a prefix translation");

for (const kind of ["wasm", "ts"] as const) {
  t.test(`${kind} core`, async (t) => {
    const s = coreSetup(1024, parseNpt6("fd00:1::/64=2001:db8:1::/64"));
    const core = s.cores[kind];
    s.table.now = 5;
    s.table.v6.create(L.PROTO_TCP, parseAddr6(LAN), 40000, parseAddr6(R), 443, L.TS_ESTABLISHED);
    s.table.v6.create(L.PROTO_UDP, parseAddr6(LAN), 5000, parseAddr6(R), 53, 0);
    const run = (pkt: Uint8Array, ingress: number): { v: number; reason: number; out: Uint8Array } => {
      const bytes = concat(plainVnet(), pkt);
      s.u8.set(bytes, s.slot);
      const v = core.processPacket(s.slot, bytes.length, s.stats, ingress);
      return { v, reason: core.lastReason(), out: s.u8.slice(s.slot + L.VNET_HDR_LEN, s.slot + bytes.length) };
    };
    const addrs = (p: Uint8Array): [string, string] => [
      formatAddr6(p.subarray(8, 24)),
      formatAddr6(p.subarray(24, 40)),
    ];

    let r = run(ipv6({ src: LAN, dst: R, nh: NH.TCP }, tcp6(LAN, R, 40000, 443, 0x10, data)), L.IN_INSIDE);
    t.equal(r.v, L.V_FORWARD, "outbound TCP of a flow known by its inside address: forwarded");
    t.same(addrs(r.out), [OUT, R], `its source mapped out (${OUT})`);
    t.ok(l4ChecksumOk(r.out), "its TCP checksum, not rewritten, is still right");

    r = run(ipv6({ src: R, dst: OUT, nh: NH.UDP }, udp6(R, OUT, 53, 5000, data)), L.IN_WAN);
    t.equal(r.v, L.V_FORWARD, "inbound UDP to the outside address: forwarded");
    t.same(addrs(r.out), [R, LAN], "its destination mapped in");
    t.ok(l4ChecksumOk(r.out), "its UDP checksum still right");

    const quoted = ipv6({ src: OUT, dst: R, nh: NH.TCP, hop: 1 }, tcp6(OUT, R, 40000, 443, 0x10, data));
    r = run(ipv6({ src: ROUTER, dst: OUT, nh: NH.ICMPV6 }, icmp6(ROUTER, OUT, 2, 0, 1280, quoted)), L.IN_WAN);
    t.equal(r.v, L.V_FORWARD, "a Packet Too Big from beyond the WAN about the flow: forwarded");
    t.same(addrs(r.out), [ROUTER, LAN], "to the inside address");
    t.same(addrs(r.out.subarray(48)), [LAN, R], "the packet it quotes mapped in too");
    t.ok(l4ChecksumOk(r.out), "its ICMPv6 checksum still right");

    const received = ipv6({ src: R, dst: LAN, nh: NH.UDP }, udp6(R, LAN, 53, 5000, data));
    r = run(ipv6({ src: LAN, dst: R, nh: NH.ICMPV6 }, icmp6(LAN, R, 1, 4, 0, received)), L.IN_INSIDE);
    t.equal(r.v, L.V_FORWARD, "a port unreachable from the LAN host about the flow: forwarded");
    t.same(
      [addrs(r.out), addrs(r.out.subarray(48))],
      [
        [OUT, R],
        [R, OUT],
      ],
      "its source and the quote's destination mapped out",
    );
    t.ok(l4ChecksumOk(r.out), "checksum still right");

    const direct = ipv6({ src: R, dst: LAN, nh: NH.UDP }, udp6(R, LAN, 53, 5000, data));
    r = run(direct, L.IN_WAN);
    t.same([r.v, r.reason], [L.V_DROP, L.R_NPT], "from the WAN straight to the inside address: refused (npt)");

    const unknown = ipv6({ src: R, dst: OUT, nh: NH.TCP }, tcp6(R, OUT, 443, 41000, 0x02, data));
    r = run(unknown, L.IN_WAN);
    t.equal(r.v, L.V_SLOW, "no flow: the slow path");
    t.same([...r.out], [...unknown], "which sees the packet as it came (the outside address)");

    r = run(ipv6({ src: LAN, dst: "fd00:1::9", nh: NH.UDP }, udp6(LAN, "fd00:1::9", 5000, 53, data)), L.IN_INSIDE);
    t.same(addrs(r.out).slice(0, 1), [LAN], "between inside addresses nothing is mapped");
  });
}
