// Connection table at 1 k, 100 k and 1 M entries: insert cost, lookup cost (WASM and TS cores),
// memory per entry, process RSS. Prints a table and writes bench/results/table.json.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createCore, createMemory } from "../host/core/core";
import { memoryMap } from "../host/shm/memory-map";
import { ConnTable, DEFAULT_TIMEOUTS } from "../host/table/conntrack";
import * as L from "../assembly/layout";

interface Row {
  entries: number;
  insertNs: number;
  wasmLookupNs: number;
  tsLookupNs: number;
  bytesPerEntry: number;
  rssMiB: number;
}

function run(n: number): Row {
  const map = memoryMap(1, n);
  const memory = createMemory(map.pages);
  const table = new ConnTable(memory, map);
  table.init({ seed: 42, portMin: 1024, portMax: 65535, timeouts: DEFAULT_TIMEOUTS, mssClamp: 0 });
  table.now = 1;
  // LAN endpoints share public ports across remotes (endpoint-independent mapping)
  const remotesPer = Math.max(1, Math.ceil(n / 30000));
  const keys = new Uint32Array(n * 4);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const ep = Math.floor(i / remotesPer),
      r = i % remotesPer;
    const lan = (0xc0a80000 | (ep >> 10)) >>> 0,
      lanPort = 1024 + (ep & 1023),
      remote = (0x0a000000 + r * 7 + 1) >>> 0,
      remotePort = 443;
    if (table.createFlow(L.PROTO_UDP, lan, lanPort, remote, remotePort, 0x0a000001, 0) < 0)
      throw new Error(`insert ${i} failed`);
    keys.set([lan, lanPort, remote, remotePort], i * 4);
  }
  const insertNs = Number(process.hrtime.bigint() - t0) / n;
  const lookup = (kind: "wasm" | "ts"): number => {
    const core = createCore(kind, memory);
    core.setTable(map.tableBase);
    const probes = kind === "wasm" ? 2_000_000 : 500_000;
    let x = 12345,
      miss = 0;
    for (let w = 0; w < 2; w++) {
      const t = process.hrtime.bigint();
      for (let p = 0; p < probes; p++) {
        x = (x * 1103515245 + 12345) >>> 0;
        const i = (x % n) * 4;
        if (core.lookupLan(L.PROTO_UDP, keys[i], keys[i + 1], keys[i + 2], keys[i + 3]) < 0) miss++;
      }
      if (w === 1) {
        if (miss) throw new Error(`${miss} lookups missed`);
        return Number(process.hrtime.bigint() - t) / probes;
      }
    }
    return 0;
  };
  const wasm = lookup("wasm"),
    ts = lookup("ts");
  const perEntry = (map.ports - map.entries) / n; // entries + the four indexes
  return {
    entries: n,
    insertNs: +insertNs.toFixed(0),
    wasmLookupNs: +wasm.toFixed(1),
    tsLookupNs: +ts.toFixed(1),
    bytesPerEntry: +perEntry.toFixed(1),
    rssMiB: +(process.memoryUsage().rss / 2 ** 20).toFixed(0),
  };
}

const rows = [1000, 100_000, 1_000_000].map(run);
console.log("connection table (lookups are random existing keys, called from JS: includes ~3 ns call overhead)\n");
console.log(
  "| entries | insert ns | WASM lookup ns | TS lookup ns | bytes/entry | RSS MiB |\n|---:|---:|---:|---:|---:|---:|",
);
for (const r of rows)
  console.log(
    `| ${r.entries} | ${r.insertNs} | ${r.wasmLookupNs} | ${r.tsLookupNs} | ${r.bytesPerEntry} | ${r.rssMiB} |`,
  );
const RESULTS = join(__dirname, "..", "bench", "results"); // from bench/ or from the bundle in build/
mkdirSync(RESULTS, { recursive: true });
process.stdout.write(`\nwrote ${join(RESULTS, "table.json")}\n`);
writeFileSync(join(RESULTS, "table.json"), `${JSON.stringify({ date: new Date().toISOString(), rows }, null, 1)}\n`);
