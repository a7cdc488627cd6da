// Per-host accounting, the per-host limit and the event ring at the connection table: counted
// in when a flow is made, folded in when it ends, and every structure bounded — a LAN of more
// hosts than the table holds, more events than the ring holds, flows by the hundred thousand.
import t from "tap";
import { coreSetup } from "../harness/core-setup";
import { HOST_LIMITED, TABLE_FULL } from "../host/table/conntrack";
import { HostAccounting } from "../host/observe/host-accounting";
import { MAX_HOSTS, EVENT_RECORDS } from "../host/shm/memory-map";
import { parseAddr } from "../host/net/addr";
import { parseAddr6 } from "../host/net/addr6";
import * as L from "../assembly/layout";

const LAN = parseAddr("192.168.0.2"),
  LAN2 = parseAddr("192.168.0.3"),
  R1 = parseAddr("10.0.0.2"),
  WAN = parseAddr("10.0.0.1");

t.test("a host's totals: live flows added on read, ended ones folded in", async (t) => {
  const s = coreSetup(64);
  const tb = s.table;
  tb.now = 1;
  const a = tb.createFlow(L.PROTO_TCP, LAN, 40000, R1, 80, WAN, L.TS_SYN_OUT);
  const b = tb.createFlow(L.PROTO_UDP, LAN, 40001, R1, 53, WAN, 0);
  // what the fast path adds per packet
  for (const [i, out, inn] of [
    [a, 100, 5000],
    [b, 60, 200],
  ]) {
    const e = tb.entry(i);
    tb.dv.setFloat64(e + L.E_BYTES_OUT, out, true);
    tb.dv.setFloat64(e + L.E_BYTES_IN, inn, true);
    tb.dv.setFloat64(e + L.E_PKTS_OUT, 2, true);
    tb.dv.setFloat64(e + L.E_PKTS_IN, 4, true);
  }
  const hosts = new HostAccounting(tb);
  t.match(
    hosts.rows()[0],
    { host: "192.168.0.2", flows: 2, flowsTotal: 2, bytesOut: 160, bytesIn: 5200, packetsOut: 4, packetsIn: 8 },
    "two live flows",
  );
  tb.removeFlow(a, "timeout");
  t.match(
    hosts.rows()[0],
    { flows: 1, flowsTotal: 2, bytesOut: 160, bytesIn: 5200 },
    "one ended: its bytes stay, counted once",
  );
  tb.flush();
  t.match(hosts.rows()[0], { flows: 0, flowsTotal: 2, bytesOut: 160, bytesIn: 5200, packetsIn: 8 }, "both ended");
  const ev = tb.events.take();
  t.same(
    ev.map((e) => `${e.type} ${e.why}`),
    ["NEW ", "NEW ", "DESTROY timeout", "DESTROY flush"],
    "NEW, NEW, DESTROY (timeout), DESTROY (flush), in order",
  );
  t.match(
    ev[2],
    { lanPort: 40000, remotePort: 80, wanAddr: WAN, bytesIn: 5000, pktsIn: 4 },
    "a DESTROY carries the flow's ends and counters",
  );
});

t.test("the per-host limit refuses a host's flow over it, and nobody else's", async (t) => {
  const s = coreSetup(64);
  const tb = s.table;
  tb.now = 1;
  tb.hostLimit = 3;
  for (let i = 0; i < 3; i++) t.ok(tb.createFlow(L.PROTO_UDP, LAN, 41000 + i, R1, 53, WAN, 0, { limited: true }) >= 0);
  t.equal(
    tb.createFlow(L.PROTO_UDP, LAN, 41100, R1, 53, WAN, 0, { limited: true }),
    HOST_LIMITED,
    "the 4th is refused (HOST_LIMITED)",
  );
  t.equal(tb.hostLimitDrops, 1, "and counted");
  t.ok(
    tb.createFlow(L.PROTO_UDP, LAN, 41000, R1, 53, WAN, 0, { limited: true }) >= 0,
    "an existing flow is still found",
  );
  t.ok(tb.createFlow(L.PROTO_UDP, LAN2, 41000, R1, 53, WAN, 0, { limited: true }) >= 0, "another host is not affected");
  const inbound = tb.createFlow(L.PROTO_TCP, LAN, 8080, R1, 50000, WAN, L.TS_SYN_IN);
  t.ok(inbound >= 0, "an unlimited flow (inbound to a mapping) is not refused, and counts");
  tb.removeFlow(0, "timeout");
  t.equal(
    tb.createFlow(L.PROTO_UDP, LAN, 41100, R1, 53, WAN, 0, { limited: true }),
    HOST_LIMITED,
    "one ended, but the inbound one counts: still at the limit",
  );
  tb.removeFlow(inbound, "timeout");
  t.ok(tb.createFlow(L.PROTO_UDP, LAN, 41100, R1, 53, WAN, 0, { limited: true }) >= 0, "two ended: one more may start");
  tb.hostLimit = 0;
  t.ok(tb.createFlow(L.PROTO_UDP, LAN, 41200, R1, 53, WAN, 0, { limited: true }) >= 0, "limit 0: no limit");
  t.not(TABLE_FULL, HOST_LIMITED, "a full table and a limited host are told apart");
});

t.test("bounds: more hosts than the table holds, more events than the ring, 200 000 flows", async (t) => {
  const s = coreSetup(262_144);
  const tb = s.table;
  tb.now = 1;
  const hosts = MAX_HOSTS + 4000; // a LAN larger than the host table (10.0.0.0/8 addresses)
  let made = 0;
  // one mapping per host (the public ports are fewer than the flows), many remote ends each
  for (let i = 0; i < 200_000; i++) {
    if (
      tb.createFlow(
        L.PROTO_UDP,
        (0x0a000000 + (i % hosts) + 1) >>> 0,
        40000,
        R1,
        1000 + Math.floor(i / hosts),
        WAN,
        0,
      ) >= 0
    )
      made++;
  }
  t.equal(made, 200_000, "200 000 flows made");
  t.equal(tb.hosts.count, MAX_HOSTS, `the host table stops at ${MAX_HOSTS} hosts`);
  const acc = new HostAccounting(tb);
  const rows = acc.rows();
  t.equal(rows.length, MAX_HOSTS + 1, 'rows: one per host it holds, and one "other"');
  const other = rows.find((r) => r.host === "other")!;
  t.equal(
    rows.reduce((n, r) => n + r.flows, 0),
    200_000,
    "every live flow is counted once",
  );
  t.ok(other.flows > 0, `the hosts past it are summed as "other" (${other.flows} flows)`);
  const ev = tb.events.take();
  t.equal(ev.length, EVENT_RECORDS, `the ring held ${EVENT_RECORDS} events`);
  t.equal(tb.events.dropped, 200_000 - EVENT_RECORDS, "and counted the rest as lost");
  const heap = process.memoryUsage().heapUsed;
  for (let k = 0; k < 5; k++) acc.rows("rate", 200);
  t.ok(
    process.memoryUsage().heapUsed - heap < 64 * 1024 * 1024,
    "reading again does not grow the heap by more than a read's worth",
  );
  tb.flush();
  t.equal(
    acc.rows().reduce((n, r) => n + r.flowsTotal, 0),
    200_000,
    "after a flush every flow is in the totals once",
  );
});

t.test("an exhausted port range is not scanned again within the second", async (t) => {
  const s = coreSetup(1024);
  const tb = s.table;
  tb.now = 1;
  tb.dv.setUint32(tb.t + L.T_PORT_MIN, 40000, true); // a range of 100 ports
  tb.dv.setUint32(tb.t + L.T_PORT_MAX, 40099, true);
  for (let i = 0; i < 100; i++) t.ok(tb.createFlow(L.PROTO_UDP, LAN, 50000 + i, R1, 53, WAN, 0) >= 0);
  // count the port table lookups the scan makes (the real method, counted)
  const table = tb as unknown as { portFree: (proto: number, port: number, now: number) => boolean };
  const real = table.portFree.bind(tb);
  let looked = 0;
  table.portFree = (proto, port, now) => {
    looked++;
    return real(proto, port, now);
  };
  t.equal(
    tb.createFlow(L.PROTO_UDP, LAN2, 50000, R1, 53, WAN, 0),
    TABLE_FULL,
    "every port of the range is held: a new mapping is refused",
  );
  t.equal(looked, 100, "after one walk of the range");
  for (let i = 1; i <= 50; i++) tb.createFlow(L.PROTO_UDP, LAN2, 50000 + i, R1, 53, WAN, 0);
  t.equal(looked, 100, "50 more attempts in the same second walk nothing");
  tb.removeFlow(0, "timeout");
  tb.now = 200; // past the freed port's rest
  t.ok(tb.createFlow(L.PROTO_UDP, LAN2, 60000, R1, 53, WAN, 0) >= 0, "later, the port freed meanwhile is found");
});

t.test("an IPv6 address is a host of its own: live flows on read, ended ones kept", async (t) => {
  const s = coreSetup(64);
  const tb = s.table;
  tb.now = 1;
  const lan = parseAddr6("2001:db8:1::2"),
    far = parseAddr6("2001:db8:ff::2");
  const a = tb.v6.create(L.PROTO_TCP, lan, 40000, far, 443, L.TS_SYN_OUT);
  const b = tb.v6.create(L.PROTO_UDP, lan, 40001, far, 53, 0);
  for (const [i, out, inn] of [
    [a, 100, 5000],
    [b, 60, 200],
  ]) {
    const e = tb.v6.entry(i);
    tb.dv.setFloat64(e + L.F6_BYTES_OUT, out, true);
    tb.dv.setFloat64(e + L.F6_BYTES_IN, inn, true);
    tb.dv.setFloat64(e + L.F6_PKTS_OUT, 2, true);
    tb.dv.setFloat64(e + L.F6_PKTS_IN, 4, true);
  }
  tb.createFlow(L.PROTO_UDP, LAN, 40001, R1, 53, WAN, 0); // the same machine's IPv4 address
  const hosts = new HostAccounting(tb);
  const row = (h: string): unknown => hosts.rows().find((r) => r.host === h);
  t.match(row("2001:db8:1::2"), { flows: 2, flowsTotal: 2, bytesOut: 160, bytesIn: 5200, packetsIn: 8 }, "two live");
  t.match(row("192.168.0.2"), { flows: 1 }, "its IPv4 address is a row of its own");
  tb.v6.remove(a, "timeout");
  t.match(row("2001:db8:1::2"), { flows: 1, flowsTotal: 2, bytesOut: 160, bytesIn: 5200 }, "one ended: counted once");
  tb.flush();
  t.match(row("2001:db8:1::2"), { flows: 0, flowsTotal: 2, bytesIn: 5200, packetsIn: 8 }, "both ended: kept");
});
