// A MAP-E CE's ports (RFC 7597 5.1) as the table hands them out: the PSID's set as
// host/net/map-e.ts computes it, but for its first block (the gateway's own), and a table with a
// port set gives every protocol's flows only ports of it, the LAN port kept where it is in the
// set, and counts it exhausted when it is.
import t from "tap";
import { psidPorts, portRange } from "../host/table/port-space";
import { portSet } from "../host/net/map-e";
import { coreSetup } from "../harness/core-setup";
import { parseAddr } from "../host/net/addr";
import * as L from "../assembly/layout";

const expand = (ranges: Array<[number, number]>): number[] =>
  ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));

t.test("the PSID's ports, as the calculator's, but for the first block", async (t) => {
  for (const [psid, k, a] of [
    [0x34, 8, 6],
    [0xac, 8, 4],
    [5, 6, 6],
    [0, 8, 6],
  ]) {
    const whole = expand(portSet(psid, k, a));
    const space = psidPorts(psid, k, a, 1);
    const got = Array.from({ length: space.count }, (_, j) => space.at(j));
    const blockSize = 2 ** (16 - a - k);
    t.same(got, whole.slice(blockSize), `PSID ${psid}, k ${k}, a ${a}: ${got.length} ports`);
    t.ok(got.every((p) => space.has(p)) && !whole.slice(0, blockSize).some((p) => space.has(p)), "has() agrees");
    t.notOk(space.has(0) || space.has(1023) || space.has(65536), "0, 1023 and 65536 are not in it");
  }
  t.same([portRange(600, 1023).count, portRange(600, 1023).at(0), portRange(600, 1023).has(1024)], [424, 600, false]);
});

t.test("a table with a port set: every flow inside it", async (t) => {
  const s = coreSetup(4096);
  const tb = s.table;
  tb.now = 1;
  tb.setPortSet(0x34, 8, 6); // RFC 7597 example 1: 63 blocks of 4, the first the gateway's
  const set = psidPorts(0x34, 8, 6, 1);
  const LAN = parseAddr("192.168.0.2"),
    R = parseAddr("10.1.0.2"),
    PUB = parseAddr("192.0.2.18");
  t.equal(
    tb.flow(tb.createFlow(L.PROTO_TCP, LAN, 2256, R, 80, PUB, L.TS_SYN_OUT, { wantPort: 2256 })).wanPort,
    2256,
    "a LAN port in the set is kept",
  );
  const low = tb.flow(tb.createFlow(L.PROTO_UDP, LAN, 123, R, 123, PUB, 0, { wantPort: 123 })).wanPort;
  t.ok(set.has(low), `a port below 1024 gets one of the set (${low})`);
  const icmp = tb.flow(tb.createFlow(L.PROTO_ICMP, LAN, 7, R, 0, PUB, 0, { wantPort: 7 })).wanPort;
  t.ok(set.has(icmp), `an ICMP identifier too (${icmp})`);
  t.notOk(tb.isNatPort(1232), "the first block is not the NAT's");
  t.ok(tb.isNatPort(2257) && !tb.isNatPort(40000), "the set's ports are, others not");
  let outside = 0,
    made = 1;
  for (let p = 1; p < 400; p++) {
    const i = tb.createFlow(L.PROTO_TCP, LAN, 40000 + p, R, 80, PUB, L.TS_SYN_OUT, { wantPort: 40000 + p });
    if (i < 0) break;
    made++;
    if (!set.has(tb.flow(i).wanPort)) outside++;
  }
  t.equal(outside, 0, "every TCP flow's public port is the PSID's");
  t.equal(made, set.count, `the set's ${set.count} ports, then none: exhausted, not overflowed`);
});
