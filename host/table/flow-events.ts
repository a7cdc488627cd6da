// Connection events (NEW, DESTROY) from the connection table's writers to the host, through a
// ring in the shared memory. Writers hold T_LOCK, so there is one producer at a time; the host
// is the only consumer. A full ring drops the new event and counts it: a slow reader never
// blocks a writer and the ring never grows.
//
//   area:   @0 u32 written   @4 u32 read   @8 u32 dropped   @64 records
//   record: see the R_* offsets below (EVENT_RECORD_SIZE bytes)
import { EVENT_RECORDS, EVENT_RECORD_SIZE } from "../shm/memory-map";
import { formatAddr6 } from "../net/addr6";

const W_HEAD = 0,
  W_TAIL = 4,
  W_DROPPED = 8,
  W_RECORDS = 64; // memory-map.ts's EVENT_AREA_SIZE counts on it

const R_TIME = 0,
  R_BYTES_OUT = 8,
  R_BYTES_IN = 16,
  R_PKTS_OUT = 24,
  R_PKTS_IN = 32;
const R_LAN_ADDR = 40,
  R_REMOTE_ADDR = 44,
  R_WAN_ADDR = 48,
  R_LAN_PORT = 52,
  R_REMOTE_PORT = 54,
  R_WAN_PORT = 56;
const R_TYPE = 58,
  R_PROTO = 59,
  R_STATE = 60,
  R_WHY = 61,
  R_FAMILY = 62, // 0: IPv4 (the addresses above), 6: IPv6 (the addresses below)
  R_AGE = 64,
  R_LAN6 = 72,
  R_REMOTE6 = 88;

export const EVENT_TYPES = ["NEW", "DESTROY", "UPDATE"] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const EV_NEW = 0,
  EV_DESTROY = 1;

// Why a flow ended (DESTROY), as a table of names: the record holds the index.
export const END_REASONS = [
  "",
  "timeout",
  "closed",
  "reset",
  "flush",
  "wan-change",
  "restore",
  "sync",
  "prefix-change",
] as const;
export type EndReason = (typeof END_REASONS)[number];

export interface FlowEventRecord {
  time: number; // ms since the epoch
  type: EventType;
  proto: number;
  state: number;
  lanAddr: number;
  lanPort: number;
  remoteAddr: number;
  remotePort: number;
  wanAddr: number;
  wanPort: number;
  bytesOut: number;
  bytesIn: number;
  pktsOut: number;
  pktsIn: number;
  seconds: number; // how long the flow lived (DESTROY)
  why: EndReason;
  lan6?: string; // an IPv6 flow's ends (RFC 5952 text); its IPv4 fields are 0
  remote6?: string;
}

// What a record takes from an IPv6 flow: its ends as 16 bytes each.
export interface Flow6Fields {
  proto: number;
  lan: Uint8Array;
  lanPort: number;
  remote: Uint8Array;
  remotePort: number;
  bytesOut: number;
  bytesIn: number;
  pktsOut: number;
  pktsIn: number;
}

// What a record takes from a flow (host/table/conntrack.ts's Flow has these).
export interface FlowFields {
  proto: number;
  lanAddr: number;
  lanPort: number;
  remoteAddr: number;
  remotePort: number;
  wanAddr: number;
  wanPort: number;
  bytesOut: number;
  bytesIn: number;
  pktsOut: number;
  pktsIn: number;
}

export class FlowEventRing {
  private readonly dv: DataView;
  private readonly i32: Int32Array;
  constructor(
    memory: WebAssembly.Memory,
    private readonly base: number,
  ) {
    this.dv = new DataView(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
  }

  get dropped(): number {
    return this.dv.getUint32(this.base + W_DROPPED, true);
  }

  // Writers only (T_LOCK held). The flow's fields are read from `e` one by one: no object is
  // made per event (spreading a flow into a new object cost 4.5 µs, five times a whole insert).
  put(type: number, why: number, time: number, seconds: number, state: number, e: FlowFields): void {
    const r = this.slot();
    if (r < 0) return;
    const dv = this.dv;
    this.common(r, 0, type, why, time, seconds, state, e);
    dv.setUint32(r + R_LAN_ADDR, e.lanAddr, true);
    dv.setUint32(r + R_REMOTE_ADDR, e.remoteAddr, true);
    dv.setUint32(r + R_WAN_ADDR, e.wanAddr, true);
    dv.setUint16(r + R_WAN_PORT, e.wanPort, true);
    this.publish();
  }

  // The same for an IPv6 flow (writers only): no IPv4 addresses, no public end.
  put6(type: number, why: number, time: number, seconds: number, state: number, e: Flow6Fields): void {
    const r = this.slot();
    if (r < 0) return;
    const dv = this.dv;
    new Uint8Array(dv.buffer, r + R_LAN_ADDR, R_AGE - R_LAN_ADDR).fill(0);
    this.common(r, 6, type, why, time, seconds, state, e);
    new Uint8Array(dv.buffer, r + R_LAN6, 16).set(e.lan);
    new Uint8Array(dv.buffer, r + R_REMOTE6, 16).set(e.remote);
    this.publish();
  }

  // The fields both families' records have.
  private common(
    r: number,
    family: number,
    type: number,
    why: number,
    time: number,
    seconds: number,
    state: number,
    e: Omit<Flow6Fields, "lan" | "remote">,
  ): void {
    const dv = this.dv;
    dv.setFloat64(r + R_TIME, time, true);
    dv.setFloat64(r + R_BYTES_OUT, e.bytesOut, true);
    dv.setFloat64(r + R_BYTES_IN, e.bytesIn, true);
    dv.setFloat64(r + R_PKTS_OUT, e.pktsOut, true);
    dv.setFloat64(r + R_PKTS_IN, e.pktsIn, true);
    dv.setUint16(r + R_LAN_PORT, e.lanPort, true);
    dv.setUint16(r + R_REMOTE_PORT, e.remotePort, true);
    dv.setUint8(r + R_TYPE, type);
    dv.setUint8(r + R_PROTO, e.proto);
    dv.setUint8(r + R_STATE, state);
    dv.setUint8(r + R_WHY, why);
    dv.setUint8(r + R_FAMILY, family);
    dv.setUint32(r + R_AGE, seconds, true);
  }

  // The next record's address, or -1 when the ring is full (counted).
  private slot(): number {
    const head = Atomics.load(this.i32, (this.base + W_HEAD) >> 2) >>> 0;
    const tail = Atomics.load(this.i32, (this.base + W_TAIL) >> 2) >>> 0;
    if ((head - tail) >>> 0 >= EVENT_RECORDS) {
      this.dv.setUint32(this.base + W_DROPPED, this.dropped + 1, true);
      return -1;
    }
    return this.base + W_RECORDS + (head % EVENT_RECORDS) * EVENT_RECORD_SIZE;
  }

  // The record is complete before it is counted.
  private publish(): void {
    const head = Atomics.load(this.i32, (this.base + W_HEAD) >> 2) >>> 0;
    Atomics.store(this.i32, (this.base + W_HEAD) >> 2, (head + 1) | 0);
  }

  // The consumer: every event written since the last call, oldest first.
  take(): FlowEventRecord[] {
    const head = Atomics.load(this.i32, (this.base + W_HEAD) >> 2) >>> 0;
    let tail = Atomics.load(this.i32, (this.base + W_TAIL) >> 2) >>> 0;
    const out: FlowEventRecord[] = [];
    for (; tail !== head; tail = (tail + 1) >>> 0) {
      const r = this.base + W_RECORDS + (tail % EVENT_RECORDS) * EVENT_RECORD_SIZE,
        dv = this.dv;
      out.push({
        time: dv.getFloat64(r + R_TIME, true),
        type: EVENT_TYPES[dv.getUint8(r + R_TYPE)] ?? "NEW",
        proto: dv.getUint8(r + R_PROTO),
        state: dv.getUint8(r + R_STATE),
        lanAddr: dv.getUint32(r + R_LAN_ADDR, true),
        lanPort: dv.getUint16(r + R_LAN_PORT, true),
        remoteAddr: dv.getUint32(r + R_REMOTE_ADDR, true),
        remotePort: dv.getUint16(r + R_REMOTE_PORT, true),
        wanAddr: dv.getUint32(r + R_WAN_ADDR, true),
        wanPort: dv.getUint16(r + R_WAN_PORT, true),
        bytesOut: dv.getFloat64(r + R_BYTES_OUT, true),
        bytesIn: dv.getFloat64(r + R_BYTES_IN, true),
        pktsOut: dv.getFloat64(r + R_PKTS_OUT, true),
        pktsIn: dv.getFloat64(r + R_PKTS_IN, true),
        seconds: dv.getUint32(r + R_AGE, true),
        why: END_REASONS[dv.getUint8(r + R_WHY)] ?? "",
        ...(dv.getUint8(r + R_FAMILY) === 6
          ? {
              lan6: formatAddr6(new Uint8Array(dv.buffer, r + R_LAN6, 16)),
              remote6: formatAddr6(new Uint8Array(dv.buffer, r + R_REMOTE6, 16)),
            }
          : {}),
      });
    }
    Atomics.store(this.i32, (this.base + W_TAIL) >> 2, tail | 0);
    return out;
  }
}
