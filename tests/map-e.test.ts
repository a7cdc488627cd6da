// The MAP calculation (RFC 7597 section 5, host/net/map-e.ts) against the RFC's Appendix A
// examples, the legacy interface identifier of draft-ietf-softwire-map-03 that Japan's providers
// use (the vector computed apart, with Python's ipaddress), the shapes of their port sets, the
// port sets of one rule's PSIDs sharing the ports between them, and the rules it refuses.
import t from "tap";
import { parseMapRule, mapCalc, ceOf, portSet, formatMapResult } from "../host/net/map-e";
import { parsePrefix6 } from "../host/net/addr6";
import { formatAddr, parseAddr } from "../host/net/addr";

const BR = "2001:db8:ffff::1";

t.test("RFC 7597 example 1: the Basic Mapping Rule", async (t) => {
  const rule = parseMapRule(`2001:db8::/40,192.0.2.0/24,16,6,${BR}`);
  const r = mapCalc(rule, parsePrefix6("2001:db8:12:3400::/56"));
  t.equal(formatAddr(r.ipv4), "192.0.2.18", "IPv4 address 192.0.2.18");
  t.equal(r.ipv4Bits, 32);
  t.same([r.psid, r.psidBits], [0x34, 8], "PSID 0x34, 8 bits (sharing ratio 256)");
  t.equal(r.ranges.length, 63, "63 ranges");
  t.same(r.ranges[0], [1232, 1235], "the first 1232-1235");
  t.same(r.ranges[1], [2256, 2259], "then 2256-2259");
  t.same(r.ranges.at(-2), [63696, 63699]);
  t.same(r.ranges.at(-1), [64720, 64723], "the last 64720-64723");
  t.equal(r.ports, 252, "252 ports");
  t.equal(r.ce6, "2001:db8:12:3400:0:c000:212:34", "CE 2001:db8:0012:3400:0000:c000:0212:0034");
  t.match(formatMapResult(r), /PSID +52 \(0x34\), 8 bits/, "the command's text");
  t.same(
    mapCalc(rule, parsePrefix6("2001:db8:12:3400::/64")).ce6,
    r.ce6,
    "the WAN's /64 of the same prefix: the same values",
  );
});

t.test("RFC 7597 example 2: the CE of an IPv4 address and port (a BR's way)", async (t) => {
  const rule = parseMapRule(`2001:db8::/40,192.0.2.0/24,16,${BR}`);
  for (const port of [1232, 1235, 9424, 64723])
    t.equal(ceOf(rule, parseAddr("192.0.2.18"), port)?.ce6, "2001:db8:12:3400:0:c000:212:34", `192.0.2.18:${port}`);
  t.equal(ceOf(rule, parseAddr("192.0.2.18"), 1236)?.psid, 0x35, "the next port is the next PSID's");
  t.equal(ceOf(rule, parseAddr("192.0.2.18"), 80), undefined, "a port below 1024 is nobody's (offset 6)");
  t.equal(ceOf(rule, parseAddr("192.0.3.18"), 1232), undefined, "an address outside the rule");
  // 9030 (0x2346) is PSID 0x34's with a 4-bit offset: 0010 | 00110100 | 0110
  const a4 = parseMapRule(`2001:db8::/40,192.0.2.0/24,16,4,${BR}`);
  t.equal(ceOf(a4, parseAddr("192.0.2.18"), 9030)?.psid, 0x34, "port 9030 with offset 4: PSID 0x34");
});

t.test("RFC 7597 examples 4 and 5: no EA bits, the address whole or shared by a provisioned PSID", async (t) => {
  const whole = mapCalc(
    parseMapRule(`2001:db8:12:3400::/56,192.0.2.18/32,0,${BR}`),
    parsePrefix6("2001:db8:12:3400::/56"),
  );
  t.same([formatAddr(whole.ipv4), whole.psidBits, whole.ports], ["192.0.2.18", 0, 65535], "example 4: every port");
  t.equal(whole.ce6, "2001:db8:12:3400:0:c000:212:0", "CE ...:c000:0212:0000");
  const shared = mapCalc(
    parseMapRule(`2001:db8:12:3400::/56,192.0.2.18/32,0,6,${BR},psid=0x34/8`),
    parsePrefix6("2001:db8:12:3400::/56"),
  );
  t.same(
    [shared.psid, shared.ranges[0], shared.ranges.at(-1), shared.ports],
    [0x34, [1232, 1235], [64720, 64723], 252],
    "example 5",
  );
  t.equal(shared.ce6, "2001:db8:12:3400:0:c000:212:34", "CE ...:c000:0212:0034");
});

t.test("fewer EA bits than the IPv4 suffix: an IPv4 prefix, not shared", async (t) => {
  const r = mapCalc(parseMapRule(`2001:db8::/40,192.0.2.0/24,4,${BR}`), parsePrefix6("2001:db8:a0::/44"));
  t.same(
    [formatAddr(r.ipv4), r.ipv4Bits, r.psidBits],
    ["192.0.2.160", 28, 0],
    "4 EA bits of an 8-bit suffix: a /28, not shared",
  );
});

t.test("the legacy interface identifier, and the providers' shapes", async (t) => {
  // a rule shaped as the offset-4 services: a /15 shared 256 ways, 15 ranges of 16 ports
  const rule = parseMapRule(`2001:db8::/32,198.18.0.0/15,25,${BR},legacy`);
  t.equal(rule.offset, 4, "legacy's offset is 4 unless given");
  const r = mapCalc(rule, parsePrefix6("2001:db8:1234:5600::/57"));
  t.same([formatAddr(r.ipv4), r.psid, r.psidBits], ["198.18.36.104", 0xac, 8]);
  t.same(
    [r.ranges.length, r.ranges[0], r.ranges.at(-1), r.ports],
    [15, [6848, 6863], [64192, 64207], 240],
    "15 x 16 = 240 ports",
  );
  t.equal(r.ce6, "2001:db8:1234:5600:c6:1224:6800:ac00", "the IPv4 address at bytes 9-12, the PSID at 13-14");
  const std = mapCalc(parseMapRule(`2001:db8::/32,198.18.0.0/15,25,4,${BR}`), parsePrefix6("2001:db8:1234:5600::/57"));
  t.equal(std.ce6, "2001:db8:1234:5600:0:c612:2468:ac", "the same rule with RFC 7597's identifier");
  // offset 6 and a 6-bit PSID: 63 ranges of 16 = 1008
  const r6 = mapCalc(parseMapRule(`2001:db8::/32,198.18.0.0/16,22,${BR}`), parsePrefix6("2001:db8:abcd:ec00::/54"));
  t.same([r6.psidBits, r6.ranges.length, r6.ports], [6, 63, 1008], "63 x 16 = 1008 ports");
});

t.test("the port sets of a rule's PSIDs share the ports out, none below 1024", async (t) => {
  for (const [a, k] of [
    [6, 8],
    [4, 8],
    [6, 6],
    [0, 4],
  ]) {
    const owner = new Map<number, number>();
    let overlap = 0;
    for (let psid = 0; psid < 2 ** k; psid++)
      for (const [first, last] of portSet(psid, k, a))
        for (let p = first; p <= last; p++) {
          if (owner.has(p)) overlap++;
          owner.set(p, psid);
        }
    const low = a === 0 ? 1 : 2 ** (16 - a);
    t.equal(overlap, 0, `a=${a} k=${k}: no port in two sets`);
    t.equal(owner.size, 65536 - low, `a=${a} k=${k}: every port from ${low} up in one`);
  }
});

t.test("rules refused, with the reason", async (t) => {
  const refused = (text: string, why: RegExp): void => {
    t.throws(() => parseMapRule(text), why, text);
  };
  refused("2001:db8::/40,192.0.2.0/24,16", /too few fields/);
  refused(`2001:db8::/40,192.0.2.0/24,49,${BR}`, /EA_BITS 49/);
  refused(`2001:db8::/40,192.0.2.0/24,16,6,192.0.2.1`, /BR 192\.0\.2\.1 is not an IPv6 address/);
  refused(`2001:db8::,192.0.2.0/24,16,${BR}`, /need their length/);
  refused(`2001:db8::/40,192.0.2.0/24,26,${BR}`, /more than 16 for the PSID/);
  refused(`2001:db8::/40,192.0.2.0/24,16,9,${BR}`, /OFFSET 9 and a 8-bit PSID pass 16 bits/);
  refused(`2001:db8::/40,192.0.2.0/24,16,${BR},fast`, /unknown field fast/);
  const rule = parseMapRule(`2001:db8::/40,192.0.2.0/24,16,${BR}`);
  t.throws(() => mapCalc(rule, parsePrefix6("2001:db9::/56")), /not in the rule's IPv6 prefix/);
  t.throws(() => mapCalc(rule, parsePrefix6("2001:db8::/48")), /shorter than the rule's \/40 and 16 EA bits/);
});
