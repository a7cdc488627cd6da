// Core micro-benchmark: ns per packet for the WASM and TS cores on full batches, and checksum
// throughput. Prints a table and writes bench/results/core.json.
//
// Each batch slot holds a packet of flow A whose translation is a packet of flow B (A's mirror),
// whose translation is the original again: every pass does a real lookup and rewrite, with no
// copying between passes.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { coreSetup, addFlows } from "../harness/core-setup";
import { ipv4, tcp, udp, icmp, concat, plainVnet, withPartialChecksum } from "../harness/packets";
import { ipv6, tcp6, udp6 } from "../harness/packets6";
import { parseAddr6 } from "../host/net/addr6";
import { slotAddress } from "../host/shm/memory-map";
import * as L from "../assembly/layout";

const X = "192.168.0.2",
  R = "10.0.0.2",
  W = "10.0.0.1";
const flows = [
  { proto: 17, lan: X, lanPort: 40001, remote: R, remotePort: 53, wan: W, wanPort: 61001 },
  { proto: 17, lan: W, lanPort: 61001, remote: R, remotePort: 53, wan: X, wanPort: 40001 },
  { proto: 6, lan: X, lanPort: 40000, remote: R, remotePort: 80, wan: W, wanPort: 61000 },
  { proto: 6, lan: W, lanPort: 61000, remote: R, remotePort: 80, wan: X, wanPort: 40000 },
];
const pay = (n: number): Uint8Array => new Uint8Array(n).map((_, i) => i * 7);
const udp64 = concat(plainVnet(), ipv4({ src: X, dst: R, proto: 17 }, udp(X, R, 40001, 53, pay(64 - 28))));
const tcp1500 = concat(plainVnet(), ipv4({ src: X, dst: R, proto: 6 }, tcp(X, R, 40000, 80, 0x10, pay(1500 - 40))));
const gso = withPartialChecksum(
  ipv4({ src: X, dst: R, proto: 6 }, tcp(X, R, 40000, 80, 0x10, pay(65535 - 40))),
  1,
  1448,
);
const emb = ipv4({ src: W, dst: R, proto: 17 }, udp(W, R, 61001, 53, pay(40)));
const icmpErr = concat(plainVnet(), ipv4({ src: R, dst: W, proto: 1 }, icmp(3, 3, 0, emb)));

// IPv6 is routed: the packet is forwarded as it is (its hop limit given back, up to 255), so
// every pass is a real walk, lookup and forward of the same packet.
const X6 = "2001:db8:1::2",
  R6 = "2001:db8:ff::2";
const udp6x64 = concat(plainVnet(), ipv6({ src: X6, dst: R6, nh: 17 }, udp6(X6, R6, 40001, 53, pay(64 - 48))));
const tcp6x1500 = concat(plainVnet(), ipv6({ src: X6, dst: R6, nh: 6 }, tcp6(X6, R6, 40000, 80, 0x10, pay(1500 - 60))));
const gso6 = (() => {
  const p = concat(plainVnet(), ipv6({ src: X6, dst: R6, nh: 6 }, tcp6(X6, R6, 40000, 80, 0x10, pay(65535 - 60))));
  p[0] = 1; // NEEDS_CSUM, GSO TCPv6 of 1428-byte segments, checksum at 40 + 16
  p[1] = L.VNET_GSO_TCPV6;
  new DataView(p.buffer).setUint16(4, 1428, true);
  new DataView(p.buffer).setUint16(6, 40, true);
  new DataView(p.buffer).setUint16(8, 16, true);
  return p;
})();

// [name, packet, the side it comes in on]
const CASES: Array<[string, Uint8Array, number]> = [
  ["udp 64 B", udp64, L.IN_INSIDE],
  ["tcp 1500 B", tcp1500, L.IN_INSIDE],
  ["tcp gso 64 KiB", gso, L.IN_INSIDE],
  ["icmp error", icmpErr, L.IN_WAN],
  ["ipv6 udp 64 B", udp6x64, L.IN_INSIDE],
  ["ipv6 tcp 1500 B", tcp6x1500, L.IN_INSIDE],
  ["ipv6 tcp gso 64 KiB", gso6, L.IN_INSIDE],
];

const s = coreSetup(1024);
addFlows(s, flows);
s.table.v6.create(17, parseAddr6(X6), 40001, parseAddr6(R6), 53, 0);
s.table.v6.create(6, parseAddr6(X6), 40000, parseAddr6(R6), 80, L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED);
const dv = new DataView(s.memory.buffer);

function timeBatch(kind: "wasm" | "ts", pkt: Uint8Array, ingress: number): number {
  for (let k = 0; k < L.BATCH_MAX; k++) {
    s.u8.set(pkt, slotAddress(0, k));
    dv.setUint32(s.desc + k * L.D_SIZE + L.D_OFFSET, slotAddress(0, k), true);
    dv.setUint32(s.desc + k * L.D_SIZE + L.D_LENGTH, pkt.length, true);
  }
  const core = s.cores[kind];
  const run = (iters: number): void => {
    for (let i = 0; i < iters; i++) core.processBatch(s.desc, L.BATCH_MAX, s.stats, ingress);
  };
  run(2000); // warm up (JIT, tiering)
  for (let k = 0; k < L.BATCH_MAX; k++)
    if (dv.getUint32(s.desc + k * L.D_SIZE + L.D_VERDICT, true) !== L.V_FORWARD)
      throw new Error(`${kind}: packet not forwarded`);
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const iters = 4000;
    const t0 = process.hrtime.bigint();
    run(iters);
    const ns = Number(process.hrtime.bigint() - t0) / (iters * L.BATCH_MAX);
    best = Math.min(best, ns);
  }
  return best;
}

function checksumGBs(kind: "wasm" | "ts"): number {
  const at = slotAddress(0, 0),
    len = 65536;
  s.u8.set(pay(len), at);
  const core = s.cores[kind];
  for (let i = 0; i < 200; i++) core.sum(at, len, 0);
  const iters = kind === "wasm" ? 20000 : 2000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) core.sum(at, len, 0);
  return (len * iters) / Number(process.hrtime.bigint() - t0);
}

const rows = CASES.map(([name, pkt, ingress]) => {
  const wasm = timeBatch("wasm", pkt, ingress),
    ts = timeBatch("ts", pkt, ingress);
  return {
    packet: name,
    bytes: pkt.length - 10,
    wasmNsPerPacket: +wasm.toFixed(1),
    tsNsPerPacket: +ts.toFixed(1),
    tsOverWasm: +(ts / wasm).toFixed(2),
  };
});
const checksum = { wasmGBs: +checksumGBs("wasm").toFixed(2), tsGBs: +checksumGBs("ts").toFixed(2) };

console.log(`core micro-benchmark, batches of ${L.BATCH_MAX} (${process.arch}, node ${process.version})\n`);
console.log("| packet | WASM ns/pkt | TS ns/pkt | TS/WASM |");
console.log("|---|---:|---:|---:|");
for (const r of rows) console.log(`| ${r.packet} | ${r.wasmNsPerPacket} | ${r.tsNsPerPacket} | ${r.tsOverWasm}x |`);
console.log(
  `\nchecksum over 64 KiB: WASM ${checksum.wasmGBs} GB/s, TS ${checksum.tsGBs} GB/s (${(checksum.wasmGBs / checksum.tsGBs).toFixed(1)}x)`,
);
const RESULTS = join(__dirname, "..", "bench", "results"); // from bench/ or from the bundle in build/
mkdirSync(RESULTS, { recursive: true });
process.stdout.write(`\nwrote ${join(RESULTS, "core.json")}\n`);
writeFileSync(
  join(RESULTS, "core.json"),
  `${JSON.stringify({ date: new Date().toISOString(), arch: process.arch, node: process.version, batch: L.BATCH_MAX, rows, checksum }, null, 1)}\n`,
);
