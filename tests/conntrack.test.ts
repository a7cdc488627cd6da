// The connection table's writer side: endpoint-independent mapping, port ranges, preservation,
// the 120 s rest of a freed port, a full table, expiry by protocol and TCP state, and lookups by
// both keys through both cores as entries come and go.
import t from "tap";
import { coreSetup } from "../harness/core-setup";
import { LOW_PORT_MIN, LOW_PORT_MAX } from "../host/table/conntrack";
import { parseAddr } from "../host/net/addr";
import { memoryMap } from "../host/shm/memory-map";
import * as L from "../assembly/layout";

const LAN = parseAddr("192.168.0.2"),
  LAN2 = parseAddr("192.168.0.3"),
  R1 = parseAddr("10.0.0.2"),
  R2 = parseAddr("10.0.0.3"),
  WAN = parseAddr("10.0.0.1");

t.test("mapping and ports", async (t) => {
  const s = coreSetup(64);
  const tb = s.table;
  tb.now = 1;
  const a = tb.createFlow(L.PROTO_UDP, LAN, 40000, R1, 53, WAN, 0);
  const b = tb.createFlow(L.PROTO_UDP, LAN, 40000, R2, 53, WAN, 0);
  t.equal(
    tb.flow(a).wanPort,
    tb.flow(b).wanPort,
    "endpoint-independent mapping: one public port for every destination",
  );
  t.equal(tb.createFlow(L.PROTO_UDP, LAN, 40000, R1, 53, WAN, 0), a, "the same flow twice is one entry");
  const low = tb.flow(tb.createFlow(L.PROTO_TCP, LAN, 22, R1, 2222, WAN, L.TS_SYN_OUT)).wanPort;
  t.ok(low >= LOW_PORT_MIN && low <= LOW_PORT_MAX, `a port below 1024 maps below 1024 (${low})`);
  t.equal(
    tb.flow(tb.createFlow(L.PROTO_TCP, LAN2, 45678, R1, 80, WAN, L.TS_SYN_OUT, { wantPort: 45678 })).wanPort,
    45678,
    "a free port is preserved",
  );
  const other = tb.flow(tb.createFlow(L.PROTO_TCP, LAN, 45678, R1, 80, WAN, L.TS_SYN_OUT, { wantPort: 45678 })).wanPort;
  t.not(other, 45678, "a port in use is not given twice (no port overloading)");

  // removal: the mapping ends with its last flow, and its port rests 120 s
  const c = tb.createFlow(L.PROTO_UDP, LAN2, 5000, R1, 53, WAN, 0, { wantPort: 5000 });
  t.equal(tb.flow(c).wanPort, 5000);
  tb.removeFlow(c, "flush");
  t.equal(s.cores.wasm.lookupLan(L.PROTO_UDP, LAN2, 5000, R1, 53), -1, "gone from the LAN index");
  t.equal(s.cores.ts.lookupWan(L.PROTO_UDP, R1, 53, WAN, 5000), -1, "gone from the WAN index");
  tb.now = 100;
  t.not(
    tb.flow(tb.createFlow(L.PROTO_UDP, LAN, 5000, R1, 53, WAN, 0, { wantPort: 5000 })).wanPort,
    5000,
    "a freed port rests: not reused after 99 s",
  );
  tb.now = 122;
  t.equal(
    tb.flow(tb.createFlow(L.PROTO_UDP, LAN, 5001, R1, 53, WAN, 0, { wantPort: 5000 })).wanPort,
    5000,
    "and is reused after 120 s",
  );
});

t.test("a full table refuses new flows and counts them", async (t) => {
  const s = coreSetup(16);
  s.table.now = 1;
  for (let i = 0; i < 16; i++) t.ok(s.table.createFlow(L.PROTO_UDP, LAN, 30000 + i, R1, 53, WAN, 0) >= 0);
  t.equal(s.table.createFlow(L.PROTO_UDP, LAN, 31000, R1, 53, WAN, 0), -1, "the 17th is refused");
  t.equal(s.table.fullDrops, 1);
  t.equal(s.table.live, 16);
});

t.test("never-used entries are taken first, in order; then freed ones, oldest first, once rested", async (t) => {
  const s = coreSetup(16);
  const tb = s.table;
  tb.now = 1;
  const made = Array.from({ length: 16 }, (_, i) => tb.createFlow(L.PROTO_UDP, LAN, 30000 + i, R1, 53, WAN, 0));
  t.same(
    made,
    Array.from({ length: 16 }, (_, i) => i),
    "entries 0..15 in order: the table's memory is touched only as it fills",
  );
  tb.now = 10;
  tb.removeFlow(9, "flush");
  tb.removeFlow(4, "flush");
  t.equal(
    tb.createFlow(L.PROTO_UDP, LAN, 31000, R1, 53, WAN, 0),
    -1,
    "a just-freed entry rests: the full table refuses",
  );
  tb.now = 12;
  t.equal(tb.createFlow(L.PROTO_UDP, LAN, 31001, R1, 53, WAN, 0), 9, "after 2 s the first freed entry is reused");
  t.equal(tb.createFlow(L.PROTO_UDP, LAN, 31002, R1, 53, WAN, 0), 4, "then the next");
  t.equal(tb.createFlow(L.PROTO_UDP, LAN, 31003, R1, 53, WAN, 0), -1, "and then the table is full again");
  t.equal([...tb.flows()].length, 16);
});

t.test("an entry (one cache line) with its four index slots costs at most 88 bytes", async (t) => {
  for (const n of [1000, 100_000, 1_000_000, 4_000_000]) {
    const m = memoryMap(1, n);
    const perEntry = (m.ports - m.entries) / n;
    t.ok(perEntry <= 88, `${n} entries: ${perEntry.toFixed(1)} bytes each`);
  }
});

t.test("a full table still finds every flow by both keys, and a freed entry is not live", async (t) => {
  const s = coreSetup(1000);
  const tb = s.table;
  tb.now = 1;
  const made: number[] = [];
  for (let i = 0; i < 1000; i++)
    made.push(tb.createFlow(L.PROTO_TCP, LAN + (i >> 8), 32768 + i, R1 + (i % 7), 443, WAN, L.TS_SYN_OUT));
  t.equal(tb.live, 1000);
  let found = 0;
  for (let i = 0; i < 1000; i++) {
    const f = tb.flow(made[i]);
    for (const core of [s.cores.wasm, s.cores.ts]) {
      if (
        core.lookupLan(L.PROTO_TCP, f.lanAddr, f.lanPort, f.remoteAddr, f.remotePort) === made[i] &&
        core.lookupWan(L.PROTO_TCP, f.remoteAddr, f.remotePort, f.wanAddr, f.wanPort) === made[i]
      )
        found++;
    }
  }
  t.equal(found, 2000, "both cores find all 1000 flows by the LAN key and by the WAN key");
  tb.removeFlow(made[5], "flush");
  t.notOk(tb.isLive(made[5]), "a removed entry is free");
  t.equal([...tb.flows()].length, 999);
});

t.test("port-forward and helper flags stay with the entry and out of its TCP state", async (t) => {
  const s = coreSetup(64);
  const tb = s.table;
  tb.now = 1;
  const fwd = tb.createFixedFlow(L.PROTO_TCP, LAN, 80, R1, 40000, WAN, 8080, L.TS_SYN_IN, true);
  const f = tb.flow(fwd);
  t.ok(f.fixed && f.alg, "fixed and helped");
  t.equal(f.tcpState, L.TS_SYN_IN, "the TCP state is only the TCP bits");
  const masq = tb.flow(tb.createFlow(L.PROTO_UDP, LAN, 40000, R1, 53, WAN, 0));
  t.ok(!masq.fixed && !masq.alg, "a masqueraded flow has neither flag");
});

t.test("expiry follows the protocol and the TCP state", async (t) => {
  const s = coreSetup(64);
  const tb = s.table;
  tb.now = 1;
  const udp = tb.createFlow(L.PROTO_UDP, LAN, 40000, R1, 53, WAN, 0);
  const icmp = tb.createFlow(L.PROTO_ICMP, LAN, 7, R1, 0, WAN, 0);
  const est = tb.createFlow(L.PROTO_TCP, LAN, 40001, R1, 80, WAN, L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED);
  const fin = tb.createFlow(
    L.PROTO_TCP,
    LAN,
    40002,
    R1,
    80,
    WAN,
    L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED | L.TS_FIN_OUT,
  );
  tb.now = 62;
  tb.sweep();
  t.notOk(tb.isLive(icmp), "ICMP after 60 s");
  t.ok(tb.isLive(udp) && tb.isLive(fin));
  tb.now = 242;
  tb.sweep();
  t.notOk(tb.isLive(fin), "TCP transitory after 240 s");
  t.ok(tb.isLive(udp));
  tb.now = 302;
  tb.sweep();
  t.notOk(tb.isLive(udp), "UDP after 300 s");
  t.ok(tb.isLive(est));
  tb.now = 7442;
  tb.sweep();
  t.notOk(tb.isLive(est), "TCP established after 2 h 4 min");
  t.equal(tb.live, 0);
});

t.test("churn: lookups by both keys stay right while entries come and go", async (t) => {
  const s = coreSetup(256);
  const tb = s.table;
  tb.now = 1;
  const live = new Map<number, number>();
  let bad = 0;
  for (let round = 0; round < 20_000; round++) {
    const port = 20000 + ((round * 7919) % 3000);
    const i = s.table.createFlow(L.PROTO_TCP, LAN, port, R1, 443, WAN, L.TS_SYN_OUT);
    if (i >= 0) live.set(port, i);
    if (live.size > 200 || (i < 0 && live.size > 0)) {
      const [p, e] = live.entries().next().value as [number, number];
      tb.removeFlow(e, "flush");
      live.delete(p);
      if (s.cores.wasm.lookupLan(L.PROTO_TCP, LAN, p, R1, 443) !== -1) bad++;
    }
    tb.now += round % 50 === 0 ? 3 : 0; // freed entries rest 2 s before reuse
  }
  for (const [p, e] of live) {
    const w = tb.flow(e).wanPort;
    for (const core of [s.cores.wasm, s.cores.ts]) {
      if (core.lookupLan(L.PROTO_TCP, LAN, p, R1, 443) !== e || core.lookupWan(L.PROTO_TCP, R1, 443, WAN, w) !== e)
        bad++;
    }
  }
  t.ok(live.size >= 100, `the churn ends with many live flows to check (${live.size}), not an empty list`);
  t.equal(tb.live, live.size, "the table counts exactly the flows the test holds");
  t.equal(bad, 0, `${live.size} live flows found by both keys in both cores after 20000 rounds of insert and remove`);
});

t.test("every area of the memory map starts aligned for its typed arrays, at any size", async (t) => {
  for (const n of [16, 17, 20, 21, 999, 1001, 65536, 100_003]) {
    const m = memoryMap(1, n);
    const areas = {
      entries6: m.entries6,
      index6: m.index6,
      policy: m.policy,
      alg: m.alg,
      hosts: m.hosts,
      events: m.events,
    };
    for (const [name, at] of Object.entries(areas)) t.equal(at % 8, 0, `--max-conns ${n}: ${name} at a multiple of 8`);
  }
});
