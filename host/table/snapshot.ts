// The connection table as data, for a graceful restart: the old process writes it, the new one
// puts every flow back with the same public port, so established connections never notice.
import type { ConnTable } from "./conntrack";
import type { Flow6 } from "./flows6";
import { parseAddr6 } from "../net/addr6";
import * as L from "../../assembly/layout";

export interface FlowRecord {
  proto: number;
  lanAddr: number;
  lanPort: number;
  remoteAddr: number;
  remotePort: number;
  wanAddr: number;
  wanPort: number;
  tcpState: number;
  fixed: boolean;
  alg: boolean;
  idle: number;
  age: number;
  bytesOut: number;
  bytesIn: number;
  pktsOut: number;
  pktsIn: number;
}

export function takeSnapshot(t: ConnTable): FlowRecord[] {
  const now = t.now;
  return [...t.flows()].map((f) => ({
    proto: f.proto,
    lanAddr: f.lanAddr,
    lanPort: f.lanPort,
    remoteAddr: f.remoteAddr,
    remotePort: f.remotePort,
    wanAddr: f.wanAddr,
    wanPort: f.wanPort,
    tcpState: f.tcpState,
    fixed: f.fixed,
    alg: f.alg,
    idle: Math.max(0, now - f.lastSeen),
    age: Math.max(0, now - f.created),
    bytesOut: f.bytesOut,
    bytesIn: f.bytesIn,
    pktsOut: f.pktsOut,
    pktsIn: f.pktsIn,
  }));
}

// Returns how many flows could not be restored with their public port. The flows are not new:
// no events for them.
export function restoreSnapshot(t: ConnTable, flows: FlowRecord[]): number {
  t.quiet = true;
  try {
    return restore(t, flows);
  } finally {
    t.quiet = false;
  }
}

function restore(t: ConnTable, flows: FlowRecord[]): number {
  let lost = 0;
  for (const f of flows) {
    const i = putFlow(t, f, "restore");
    if (i < 0) {
      lost++;
      continue;
    }
    const e = t.entry(i);
    t.dv.setFloat64(e + L.E_BYTES_OUT, f.bytesOut, true);
    t.dv.setFloat64(e + L.E_BYTES_IN, f.bytesIn, true);
    t.dv.setFloat64(e + L.E_PKTS_OUT, f.pktsOut ?? 0, true);
    t.dv.setFloat64(e + L.E_PKTS_IN, f.pktsIn ?? 0, true);
  }
  return lost;
}

// Puts a flow into the table with its public port, or brings the one there up to date (its TCP
// state, when it was last seen). Returns its entry, or -1 when its port is taken by another.
// Also how the standby of an HA pair installs what its peer sends (host/sync/table-sync.ts).
export type PutFlow = Pick<
  FlowRecord,
  | "proto"
  | "lanAddr"
  | "lanPort"
  | "remoteAddr"
  | "remotePort"
  | "wanAddr"
  | "wanPort"
  | "tcpState"
  | "fixed"
  | "alg"
  | "idle"
  | "age"
>;
export function putFlow(t: ConnTable, f: PutFlow, why: "restore" | "sync"): number {
  const i = f.fixed
    ? t.createFixedFlow(
        f.proto,
        f.lanAddr,
        f.lanPort,
        f.remoteAddr,
        f.remotePort,
        f.wanAddr,
        f.wanPort,
        f.tcpState,
        f.alg,
      )
    : t.createFlow(f.proto, f.lanAddr, f.lanPort, f.remoteAddr, f.remotePort, f.wanAddr, f.tcpState, {
        wantPort: f.wanPort,
        alg: f.alg,
      });
  if (i < 0) return -1;
  if (t.flow(i).wanPort !== f.wanPort) {
    t.removeFlow(i, why);
    return -1;
  }
  const e = t.entry(i);
  t.dv.setUint8(e + L.E_STATE, (t.dv.getUint8(e + L.E_STATE) & ~L.TS_MASK) | (f.tcpState & L.TS_MASK));
  t.dv.setUint32(e + L.E_LAST_SEEN, Math.max(1, t.now - f.idle), true);
  t.dv.setUint32(e + L.E_CREATED, Math.max(1, t.now - (f.age ?? f.idle)), true);
  return i;
}

// An IPv6 flow as data: its two ends (RFC 5952 text), TCP facts, age and counters.
export type Flow6Record = Omit<Flow6, "index" | "lastSeen" | "created"> & { idle: number; age: number };

export function takeSnapshot6(t: ConnTable): Flow6Record[] {
  const now = t.now;
  return [...t.v6.flows()].map(({ index, lastSeen, created, ...f }) => ({
    ...f,
    idle: Math.max(0, now - lastSeen),
    age: Math.max(0, now - created),
  }));
}

// Puts the IPv6 flows back; returns how many found no room. Not new: no events for them.
export function restoreSnapshot6(t: ConnTable, flows: Flow6Record[]): number {
  t.quiet = true;
  try {
    return restore6(t, flows);
  } finally {
    t.quiet = false;
  }
}

function restore6(t: ConnTable, flows: Flow6Record[]): number {
  let lost = 0;
  for (const f of flows) {
    const i = t.v6.create(
      f.proto,
      parseAddr6(f.lanAddr),
      f.lanPort,
      parseAddr6(f.remoteAddr),
      f.remotePort,
      (f.tcpState & L.TS_MASK) | (f.fixed ? L.ES_FIXED : 0) | (f.alg ? L.ES_ALG : 0),
      f.wanPort ? { want: f.wanPort } : undefined,
    );
    if (i < 0) {
      lost++;
      continue;
    }
    t.v6.update(i, f.tcpState, f.idle, f.age);
    const e = t.v6.entry(i);
    t.dv.setFloat64(e + L.F6_BYTES_OUT, f.bytesOut, true);
    t.dv.setFloat64(e + L.F6_BYTES_IN, f.bytesIn, true);
    t.dv.setFloat64(e + L.F6_PKTS_OUT, f.pktsOut, true);
    t.dv.setFloat64(e + L.F6_PKTS_IN, f.pktsIn, true);
  }
  return lost;
}
