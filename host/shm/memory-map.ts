// Where everything sits in the shared memory, computed once at start from --workers and
// --max-conns. Every thread derives the same map from the same two numbers. This file owns the
// size of every area; the modules that read and write an area import its size from here.
//
//   area             size                                   owner (reads and writes it)
//   worker blocks    WORKER_SIZE each (layout.ts)           host/worker/loop.ts, the cores
//   table header     T_HEADER_SIZE (layout.ts)              host/table/conntrack.ts, the cores
//   entries          maxConns * E_SIZE                      conntrack.ts (writes), cores (read)
//   4 indexes        indexSlots * 4 bytes each              conntrack.ts (writes), cores (read)
//   port table       3 protocols * 65536 * P_SIZE           conntrack.ts
//   IPv6 entries     maxFlows6 * F6_SIZE                    host/table/flows6.ts (writes), cores (read)
//   IPv6 index       index6Slots * 4 bytes                  flows6.ts (writes), cores (read)
//   IPv6 filtering   index6Slots * (4 + EP6_SIZE) bytes     flows6.ts
//   NAT66            index6Slots * 4 bytes                  flows6.ts (writes), cores (read)
//   NAT66 ports      3 protocols * 65536 * P6_SIZE          flows6.ts
//   IPv6 pinholes    PINHOLES6 * PH6_SIZE                   host/table/pinholes6.ts
//   policy           POLICY_AREA_SIZE                       host/policy/shared-policy.ts
//   helper state     ALG_AREA_SIZE                          host/table/alg-state.ts
//   network view     NETWORK_AREA_SIZE                      host/net/network-view.ts
//   host totals      HOST_AREA_SIZE                         host/table/host-totals.ts
//   flow events      EVENT_AREA_SIZE                        host/table/flow-events.ts
import * as L from "../../assembly/layout";
import { blobAreaSize } from "./shared-blob";
import { MAX_COUNTERS } from "../policy/limits";

// The policy area: per-rule counters (packets, bytes as f64), then the policy as a shared blob.
export const POLICY_BLOB_MAX = 1 << 20;
export const POLICY_COUNTERS_SIZE = MAX_COUNTERS * 16;
export const POLICY_AREA_SIZE = POLICY_COUNTERS_SIZE + blobAreaSize(POLICY_BLOB_MAX);

// The application helpers' area (alg-state.ts has the record fields).
export const ALG_SEQ_RECORDS = 1024; // FTP control connections with a shifted sequence space
export const ALG_SEQ_SIZE = 16;
export const ALG_EXPECTATIONS = 256; // expected data connections and NAT-PMP/PCP pinholes
export const ALG_EXP_SIZE = 88; // host/table/alg-state.ts: 24 bytes of fields, 64 of a UPnP description
export const ALG_AREA_SIZE = ALG_SEQ_RECORDS * ALG_SEQ_SIZE + ALG_EXPECTATIONS * ALG_EXP_SIZE;

// The network view: a shared blob of JSON.
export const NETWORK_VIEW_MAX = 256 * 1024;
export const NETWORK_AREA_SIZE = blobAreaSize(NETWORK_VIEW_MAX);

// Per-LAN-host totals: records for MAX_HOSTS hosts (more share one "other" record), in twice as
// many open-addressed slots. 1.5 MiB, touched only as hosts appear.
export const MAX_HOSTS = 16384;
export const HOST_SLOTS = 32768;
export const HOST_RECORD_SIZE = 48;
export const HOST_AREA_SIZE = 128 + HOST_SLOTS * HOST_RECORD_SIZE;

// Connection events waiting for the host: a ring of EVENT_RECORDS (the host drains it 5 times a
// second, so 8192 holds bursts of 40 000 new connections a second).
export const EVENT_RECORDS = 8192;
export const EVENT_RECORD_SIZE = 104; // host/table/flow-events.ts: 72 bytes of fields, 32 of IPv6 addresses
export const EVENT_AREA_SIZE = 64 + EVENT_RECORDS * EVENT_RECORD_SIZE;

export interface MemoryMap {
  workers: number;
  maxConns: number;
  indexSlots: number; // 1.4 * maxConns: an index is at most 5/7 full
  tableBase: number;
  entries: number;
  lanIndex: number;
  wanIndex: number;
  mapIndex: number;
  remoteIndex: number; // (lan end, remote address) -> entry: address-dependent filtering
  ports: number;
  maxFlows6: number; // IPv6 flows: half as many as IPv4 ones, or what fits
  index6Slots: number;
  entries6: number;
  index6: number;
  remote6Index: number; // (lan end, remote address) -> IPv6 entry: address-dependent filtering
  wan6Index: number; // NAT66 (public port, remote end) -> IPv6 entry: what comes back
  ports6: number; // NAT66's public ports and the LAN endpoints that hold them
  endpoints6: number; // LAN endpoints and their flow counts: endpoint-independent filtering
  pinholes6: number; // inbound openings asked for with PCP (IPv6: no translation)
  policy: number; // the shared policy area (host/policy/shared-policy.ts)
  alg: number; // application helper state (host/table/alg-state.ts)
  network: number; // the network view (host/net/network-view.ts)
  hosts: number; // per-LAN-host totals (host/table/host-totals.ts)
  events: number; // the connection event ring (host/table/flow-events.ts)
  end: number;
  pages: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export function memoryMap(workers: number, maxConns: number): MemoryMap {
  if (!Number.isInteger(workers) || workers < 1 || workers > 64)
    throw new Error(`workers must be 1..64, got ${workers}`);
  if (!Number.isInteger(maxConns) || maxConns < 16 || maxConns > 4_000_000)
    throw new Error(`max-conns must be 16..4000000, got ${maxConns}`);
  // IPv6 flows: half as many as IPv4 ones, fewer if that is what still fits beside a large
  // IPv4 table and many workers (every size that fitted before IPv6 still does).
  const wanted = Math.max(16, Math.floor(maxConns / 2));
  let m = layout(workers, maxConns, 16);
  if (m.pages > L.MEMORY_MAX_PAGES)
    throw new Error(
      `--max-conns ${maxConns} with ${workers} workers needs ${m.pages} pages of 64 KiB, more than the core's ${L.MEMORY_MAX_PAGES}`,
    );
  const spare = L.MEMORY_MAX_PAGES * L.WASM_PAGE - m.end - 256;
  const perFlow6 = L.F6_SIZE + 1.4 * (4 + 4 + 4 + L.EP6_SIZE);
  m = layout(workers, maxConns, Math.min(wanted, 16 + Math.floor(spare / perFlow6)));
  return m;
}

function layout(workers: number, maxConns: number, maxFlows6: number): MemoryMap {
  // Linear probing stays short at 5/7 load (about 2 probes to find a key, 7 to miss one), and
  // a 64-byte entry (one cache line) with four 4-byte indexes costs 86.4 bytes.
  const indexSlots = Math.ceil(maxConns * 1.4);
  const tableBase = L.WORKERS_BASE + workers * L.WORKER_SIZE;
  const entries = tableBase + L.T_HEADER_SIZE;
  const lanIndex = align(entries + maxConns * L.E_SIZE, 64);
  const wanIndex = lanIndex + indexSlots * 4;
  const mapIndex = wanIndex + indexSlots * 4;
  const remoteIndex = mapIndex + indexSlots * 4;
  const ports = remoteIndex + indexSlots * 4;
  // an 80-byte IPv6 entry with its index slot: 85.6 bytes; with the filtering indexes' 44.8 and
  // NAT66's 5.6, 136
  const index6Slots = Math.ceil(maxFlows6 * 1.4);
  const entries6 = align(ports + 3 * 65536 * L.P_SIZE, 64);
  const index6 = align(entries6 + maxFlows6 * L.F6_SIZE, 64);
  const remote6Index = align(index6 + index6Slots * 4, 64);
  const endpoints6 = align(remote6Index + index6Slots * 4, 64);
  const wan6Index = align(endpoints6 + index6Slots * L.EP6_SIZE, 64);
  const ports6 = align(wan6Index + index6Slots * 4, 64);
  const pinholes6 = align(ports6 + 3 * 65536 * L.P6_SIZE, 64);
  const policy = align(pinholes6 + L.PINHOLES6 * L.PH6_SIZE, 64);
  const alg = policy + POLICY_AREA_SIZE;
  const network = alg + ALG_AREA_SIZE;
  const hosts = align(network + NETWORK_AREA_SIZE, 64);
  const events = align(hosts + HOST_AREA_SIZE, 64);
  const end = events + EVENT_AREA_SIZE;
  const pages = Math.ceil(end / L.WASM_PAGE);
  return {
    workers,
    maxConns,
    indexSlots,
    tableBase,
    entries,
    lanIndex,
    wanIndex,
    mapIndex,
    remoteIndex,
    ports,
    maxFlows6,
    index6Slots,
    entries6,
    index6,
    remote6Index,
    endpoints6,
    wan6Index,
    ports6,
    pinholes6,
    policy,
    alg,
    network,
    hosts,
    events,
    end,
    pages,
  };
}

export const workerBase = (id: number): number => L.WORKERS_BASE + id * L.WORKER_SIZE;
export const statsAddress = (id: number): number => workerBase(id) + L.W_STATS;
export const descAddress = (id: number): number => workerBase(id) + L.W_DESC;
export const slotAddress = (id: number, k: number): number => workerBase(id) + L.W_SLAB + k * L.SLOT_SIZE;
