// The running gateway's status, assembled in one place from the gateway's state: what
// `ipmasq status` (and --json), the Prometheus endpoint and the status page all show.
import * as L from "../../assembly/layout";
import type { GatewayState } from "../gateway/gateway-state";
import { statsAddress } from "../shm/memory-map";
import { REASON_NAMES } from "./reasons";
import type { HoldStatus } from "../kernel/receive-hold";
import type { LanPrefix6 } from "../kernel/follow-network";
import { ipv6Enabled } from "../kernel/wiring";
import { formatAddr } from "../net/addr";
import { workersReading } from "../worker/readiness";

export interface WorkerStatus {
  id: number;
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
  slowPath: number;
  batches: number;
  passed: number;
  writeErrors: number;
  icmpSent: number;
  slowPathErrors: number;
  reads: number;
  readBytes: number;
  standbyDrops: number;
}

export interface NetworkStatus {
  tun: string;
  offloads: string[];
  devices: Array<{ iface: string; device: string }>; // the TUN device each interface comes in through
  wan: string;
  publicAddress: string; // "" while there is none
  waiting?: string; // why new connections are refused, while they are
  portMappingRefused: number; // NAT-PMP/PCP requests from outside the masqueraded networks
  receiveHolds: HoldStatus[]; // per tuned interface: holding bursts (busy) or not, its receive rate
  prefixes6: LanPrefix6[]; // the LAN interfaces' global IPv6 prefixes (routed)
  ipv6Missing?: string; // what the LAN lacks for IPv6, when it does
}

// An HA pair member (docs/ha.md): its role, its peer, how current its copy of the peer's table is.
export interface HaStatus {
  role: string;
  peer: string;
  peerRole: string;
  lastHeardMs: number;
  lagMs: number;
  standbyDrops: number;
  counts: Record<string, number | Record<string, number>>;
}

export interface EventStatus {
  new: number;
  destroy: number;
  update: number;
  lost: number;
  logged: number;
  logDropped: number;
  log: string;
}

export interface GatewayStatus extends NetworkStatus {
  pid: number;
  uptimeSeconds: number;
  core: string;
  connections: number;
  maxConns: number;
  tableFullDrops: number;
  flows6: number; // IPv6 flows (routed, RFC 6092 simple security)
  maxFlows6: number;
  table6FullDrops: number;
  maxConnsPerHost: number;
  hostLimitDrops: number;
  workersReading: number;
  workers: WorkerStatus[];
  drops: Record<string, number>;
  hostsSeen: number;
  topHosts: unknown[];
  hostsReadMs: number; // how long the last read of the per-host totals walked the table (no lock held)
  heapBytes: number; // the main thread's V8 heap in use
  events: EventStatus;
  ha?: HaStatus;
}

export function networkStatus(g: GatewayState): NetworkStatus {
  const f = g.follower;
  return {
    tun: g.options.tun,
    offloads: f.offloads,
    devices: g.wiring.devices.map((d) => ({ iface: d.iface, device: d.name })),
    wan: f.wan ?? "",
    publicAddress: f.publicAddr ? formatAddr(f.publicAddr) : "",
    ...(f.waiting ? { waiting: f.waiting } : {}),
    portMappingRefused: g.pcp?.refused ?? 0,
    receiveHolds: f.receiveHolds(),
    prefixes6: f.lanPrefixes6,
    ...(ipv6Enabled() && !f.lanPrefixes6.length
      ? {
          ipv6Missing:
            "no LAN interface has a global prefix: LAN hosts have no IPv6 path out (a delegated prefix: docs/ipv6.md)",
        }
      : {}),
  };
}

export function workerStatus(g: GatewayState): WorkerStatus[] {
  const { memory, map } = g.table;
  return Array.from({ length: map.workers }, (_, id) => {
    const s = new Float64Array(memory.buffer, statsAddress(id), L.STATS_SLOTS);
    return {
      id,
      packetsOut: s[L.S_PKTS_OUT],
      packetsIn: s[L.S_PKTS_IN],
      bytesOut: s[L.S_BYTES_OUT],
      bytesIn: s[L.S_BYTES_IN],
      slowPath: s[L.S_SLOW],
      batches: s[L.S_BATCHES],
      passed: s[L.S_PASSED],
      writeErrors: s[L.S_WRITE_ERRORS],
      icmpSent: s[L.S_REPLIES],
      slowPathErrors: s[L.S_SLOW_ERRORS],
      reads: s[L.S_READS],
      readBytes: s[L.S_READ_BYTES],
      standbyDrops: s[L.S_STANDBY],
    };
  });
}

// Drops by reason, summed over the workers.
function drops(g: GatewayState): Record<string, number> {
  const out: Record<string, number> = {};
  for (let id = 0; id < g.table.map.workers; id++) {
    const s = new Float64Array(g.table.memory.buffer, statsAddress(id), L.STATS_SLOTS);
    for (let r = 1; r < L.R_COUNT; r++)
      if (s[L.S_DROPS + r]) out[REASON_NAMES[r]] = (out[REASON_NAMES[r]] ?? 0) + s[L.S_DROPS + r];
  }
  return out;
}

export function statusOf(g: GatewayState): GatewayStatus {
  const { table, events, eventLog, sync } = g;
  const workers = workerStatus(g);
  return {
    pid: process.pid,
    uptimeSeconds: Math.floor((Date.now() - g.started) / 1000),
    core: g.options.core,
    ...networkStatus(g),
    connections: table.live,
    maxConns: g.options.maxConns,
    tableFullDrops: table.fullDrops,
    flows6: table.v6.live,
    maxFlows6: table.v6.max,
    table6FullDrops: table.v6.fullDrops,
    maxConnsPerHost: table.hostLimit,
    hostLimitDrops: table.hostLimitDrops,
    workersReading: workersReading(table.memory, table.map),
    workers,
    drops: drops(g),
    hostsSeen: table.hosts.count,
    topHosts: g.hosts.rows("bytes", 50, 1000), // a read of the last second will do
    hostsReadMs: Math.round(g.hosts.lastReadMs * 10) / 10,
    heapBytes: process.memoryUsage().heapUsed,
    events: {
      new: events.counts.NEW,
      destroy: events.counts.DESTROY,
      update: events.counts.UPDATE,
      lost: events.lost,
      logged: eventLog?.written ?? 0,
      logDropped: eventLog?.dropped ?? 0,
      log: eventLog?.what ?? "",
    },
    ha: sync && {
      role: g.role,
      peer: sync.peer,
      peerRole: sync.peerRole ?? "",
      lastHeardMs: sync.lastHeard ? Date.now() - sync.lastHeard : -1,
      lagMs: sync.lastLagMs,
      counts: sync.counts,
      standbyDrops: workers.reduce((n, w) => n + w.standbyDrops, 0),
    },
  };
}
