// The connection table's writer side: insert, remove, port allocation and expiry, over the shared
// memory whose layout is in assembly/layout.ts. Every thread (each worker's slow path, the host's
// sweep and listings) makes its own ConnTable view over the same bytes. Writers take T_LOCK;
// the fast path (WASM or TS core) only reads, lock-free.
import * as L from "../../assembly/layout";
import { type Npt6, writeNpt6 } from "../net/npt6";
import { Pinholes6 } from "./pinholes6";
import { type SlotIndex, indexProbe, indexInsert, indexRemove } from "./slot-index";
import type { MemoryMap } from "../shm/memory-map";
import { hash5 } from "../core-ts/table";
import { HostTotals } from "./host-totals";
import { FlowEventRing, EV_NEW, EV_DESTROY, END_REASONS, type EndReason } from "./flow-events";
import { Flows6 } from "./flows6";
import { SeqRecords } from "./seq-records";
import { type PortSpace, psidPorts, natPorts, PortPicker } from "./port-space";

export interface Flow {
  index: number;
  proto: number;
  lanAddr: number;
  lanPort: number;
  remoteAddr: number;
  remotePort: number;
  wanAddr: number;
  wanPort: number;
  tcpState: number;
  fixed: boolean; // a port forward or a redirect
  alg: boolean; // an application helper sees its packets (FTP control)
  lastSeen: number;
  created: number; // T_NOW when it was made
  bytesOut: number;
  bytesIn: number;
  pktsOut: number;
  pktsIn: number;
}

// Why createFlow gave no flow (it returns one of these, below 0).
export const TABLE_FULL = -1;
export const HOST_LIMITED = -2;

export interface FlowOptions {
  wantPort?: number; // the public port to use if it is free (a restored snapshot, port preservation)
  alg?: boolean; // an application helper sees its packets
  limited?: boolean; // counts against --max-conns-per-host (a flow the LAN host opens)
}

export interface Timeouts {
  udp: number;
  tcpEstablished: number;
  tcpTransitory: number;
  icmp: number;
}

// RFC 4787 REQ-5 (UDP >= 2 min, 5 recommended), RFC 5382 REQ-5 (2 h 4 min, 4 min), RFC 5508 REQ-1 (60 s).
export const DEFAULT_TIMEOUTS: Timeouts = { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 };

// Ports for mappings of LAN ports below 1024 (they stay below 1024); NAT66's too (ports6.ts).
export const LOW_PORT_MIN = L.LOW_PORT_MIN;
export const LOW_PORT_MAX = L.LOW_PORT_MAX;

const PORT_PROTO_INDEX: Record<number, number> = { [L.PROTO_TCP]: 0, [L.PROTO_UDP]: 1, [L.PROTO_ICMP]: 2 };

// A TCP flow swept after a reset or both FINs was closed; anything else timed out.
function endedBy(proto: number, tcp: number): EndReason {
  if (proto !== L.PROTO_TCP) return "timeout";
  if (tcp & L.TS_RST) return "reset";
  return tcp & L.TS_FIN_OUT && tcp & L.TS_FIN_IN ? "closed" : "timeout";
}

export class ConnTable {
  readonly dv: DataView;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly t: number;
  readonly hosts: HostTotals;
  readonly events: FlowEventRing;
  readonly v6: Flows6; // the IPv6 flows: a region of their own, under the same lock and clock
  readonly pinholes6: Pinholes6; // IPv6 openings asked for with PCP
  quiet = false; // no events (a graceful restart puts flows back; they are not new)
  private readonly picker = new PortPicker();

  constructor(
    readonly memory: WebAssembly.Memory,
    readonly map: MemoryMap,
  ) {
    this.dv = new DataView(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.u8 = new Uint8Array(memory.buffer);
    this.t = map.tableBase;
    this.hosts = new HostTotals(memory, map.hosts);
    this.events = new FlowEventRing(memory, map.events);
    this.v6 = new Flows6(this);
    this.pinholes6 = new Pinholes6(this, map.pinholes6);
  }

  private u32(off: number): number {
    return this.dv.getUint32(this.t + off, true);
  }
  private setU32(off: number, v: number): void {
    this.dv.setUint32(this.t + off, v, true);
  }

  // Fills the header. Only the host calls this, once, on a fresh memory (zero, from createMemory):
  // entries, indexes and host records are written only as they are used, so an idle gateway's
  // memory holds only what its connections use (a 1M-entry table costs nothing until it fills).
  init(opts: {
    seed: number;
    portMin: number;
    portMax: number;
    timeouts: Timeouts;
    mssClamp: number;
    npt6?: Npt6[];
  }): void {
    const m = this.map;
    new Uint8Array(this.memory.buffer, this.t, L.T_HEADER_SIZE).fill(0);
    this.setU32(L.T_MAX_CONNS, m.maxConns);
    this.setU32(L.T_INDEX_SLOTS, m.indexSlots);
    this.setU32(L.T_ENTRIES, m.entries);
    this.setU32(L.T_LAN_INDEX, m.lanIndex);
    this.setU32(L.T_WAN_INDEX, m.wanIndex);
    this.setU32(L.T_MAP_INDEX, m.mapIndex);
    this.setU32(L.T_PORTS, m.ports);
    this.setU32(L.T_SEED, opts.seed >>> 0);
    this.setU32(L.T_PORT_MIN, opts.portMin);
    this.setU32(L.T_PORT_MAX, opts.portMax);
    this.setU32(L.T_MSS_CLAMP, opts.mssClamp);
    this.setTimeouts(opts.timeouts);
    this.v6.init();
    writeNpt6(this.dv, new Uint8Array(this.memory.buffer), this.t, opts.npt6 ?? []);
  }

  // Entries below this one have been used; the rest are zero.
  private get used(): number {
    return this.u32(L.T_UNUSED);
  }

  // The entry the next flow goes into, or -1: a never-used one while there are any, then the
  // oldest freed one once it has rested. Lock held.
  private nextFree(now: number): number {
    const unused = this.used;
    if (unused < this.map.maxConns) return unused;
    const head = this.u32(L.T_FREE_HEAD);
    return head !== 0 && this.rested(head - 1, now) ? head - 1 : -1;
  }

  setTimeouts(t: Timeouts): void {
    this.setU32(L.T_TIMEOUT_UDP, t.udp);
    this.setU32(L.T_TIMEOUT_TCP_EST, t.tcpEstablished);
    this.setU32(L.T_TIMEOUT_TCP_TRANS, t.tcpTransitory);
    this.setU32(L.T_TIMEOUT_ICMP, t.icmp);
  }

  get now(): number {
    return Atomics.load(this.i32, (this.t + L.T_NOW) >> 2) >>> 0;
  }
  set now(v: number) {
    Atomics.store(this.i32, (this.t + L.T_NOW) >> 2, v);
  }
  get live(): number {
    return this.u32(L.T_LIVE);
  }
  get fullDrops(): number {
    return this.u32(L.T_FULL_DROPS);
  }
  get hostLimit(): number {
    return this.u32(L.T_HOST_LIMIT);
  }
  set hostLimit(n: number) {
    this.setU32(L.T_HOST_LIMIT, n);
  }
  get hostLimitDrops(): number {
    return this.u32(L.T_HOST_LIMIT_DROPS);
  }
  get portMin(): number {
    return this.u32(L.T_PORT_MIN);
  }
  get portMax(): number {
    return this.u32(L.T_PORT_MAX);
  }
  // A MAP-E CE's port set (RFC 7597 5.1): every public port, of every protocol, is the PSID's,
  // but for its first block, which the gateway's own sockets use. k = 0: none (the ranges).
  setPortSet(psid: number, k: number, a: number): void {
    this.setU32(L.T_PSID, psid);
    this.setU32(L.T_PSID_OFFSET, a);
    this.setU32(L.T_PSID_BITS, k);
  }
  private portSet(): PortSpace | undefined {
    const k = this.u32(L.T_PSID_BITS);
    return k ? psidPorts(this.u32(L.T_PSID), k, this.u32(L.T_PSID_OFFSET), 1) : undefined;
  }

  // A port the table hands out to masqueraded flows (the range, or the one for ports below 1024;
  // a MAP-E CE's set).
  isNatPort(port: number): boolean {
    const set = this.portSet();
    if (set) return set.has(port);
    return (port >= this.portMin && port <= this.portMax) || (port >= LOW_PORT_MIN && port <= LOW_PORT_MAX);
  }

  entry(i: number): number {
    return this.map.entries + i * L.E_SIZE;
  }

  // ---- the writers' lock ---------------------------------------------------------------------
  lock(): void {
    const at = (this.t + L.T_LOCK) >> 2;
    for (let spins = 0; Atomics.compareExchange(this.i32, at, 0, 1) !== 0; spins++) {
      if (spins > 100) Atomics.wait(this.i32, at, 1, 1);
    }
  }
  unlock(): void {
    const at = (this.t + L.T_LOCK) >> 2;
    Atomics.store(this.i32, at, 0);
    Atomics.notify(this.i32, at, 1);
  }
  locked<T>(fn: () => T): T {
    this.lock();
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }

  // ---- open-addressed indexes (u32 slots: entry + 1; linear probing, wrapping at the end) -------
  private seed(): number {
    return this.u32(L.T_SEED);
  }
  private index(base: number): SlotIndex {
    return { i32: this.i32, base, slots: this.map.indexSlots };
  }
  private indexInsert(base: number, h: number, value: number): void {
    indexInsert(this.index(base), h, value);
  }
  private indexRemove(base: number, h: number, value: number): void {
    indexRemove(this.index(base), h, value);
  }
  // The first value (slot content - 1) of hash `h`'s chain that `match` accepts, or -1.
  private probe(base: number, h: number, match: (value: number) => boolean): number {
    return indexProbe(this.index(base), h, match);
  }

  private flowIs(i: number, proto: number, lanAddr: number, lanPort: number, remoteAddr: number): boolean {
    const e = this.entry(i),
      dv = this.dv;
    return (
      dv.getUint8(e + L.E_PROTO) === proto &&
      dv.getUint32(e + L.E_LAN_ADDR, true) === lanAddr &&
      dv.getUint16(e + L.E_LAN_PORT, true) === lanPort &&
      dv.getUint32(e + L.E_REMOTE_ADDR, true) === remoteAddr
    );
  }

  // ---- the port table ------------------------------------------------------------------------
  private portAt(proto: number, port: number): number {
    return this.map.ports + (PORT_PROTO_INDEX[proto] * 65536 + port) * L.P_SIZE;
  }

  // The public port already mapped to lanAddr:lanPort (endpoint-independent mapping), or -1.
  mappedPort(proto: number, lanAddr: number, lanPort: number): number {
    const v = this.probe(this.map.mapIndex, hash5(L.H_MAP, proto, lanAddr, lanPort, 0, 0, this.seed()), (v) => {
      const p = this.portAt(proto, v & 0xffff);
      return (
        v >>> 16 === PORT_PROTO_INDEX[proto] &&
        this.dv.getUint16(p + L.P_REFS, true) > 0 &&
        this.dv.getUint32(p + L.P_LAN_ADDR, true) === lanAddr &&
        this.dv.getUint16(p + L.P_LAN_PORT, true) === lanPort
      );
    });
    return v < 0 ? -1 : v & 0xffff;
  }

  // The LAN end that owns public `port` (a live mapping), or undefined.
  mappingOwner(proto: number, port: number): { addr: number; port: number } | undefined {
    if (!(proto in PORT_PROTO_INDEX)) return undefined;
    const p = this.portAt(proto, port);
    if (this.dv.getUint16(p + L.P_REFS, true) === 0) return undefined;
    return { addr: this.dv.getUint32(p + L.P_LAN_ADDR, true), port: this.dv.getUint16(p + L.P_LAN_PORT, true) };
  }

  // Has lanAddr:lanPort a flow to remoteAddr (any port)? Address-dependent filtering asks this.
  hasFlowTo(proto: number, lanAddr: number, lanPort: number, remoteAddr: number): boolean {
    return (
      this.probe(this.map.remoteIndex, hash5(L.H_REMOTE, proto, lanAddr, lanPort, remoteAddr, 0, this.seed()), (i) =>
        this.flowIs(i, proto, lanAddr, lanPort, remoteAddr),
      ) >= 0
    );
  }

  private portFree(proto: number, port: number, now: number): boolean {
    const p = this.portAt(proto, port);
    if (this.dv.getUint16(p + L.P_REFS, true) !== 0) return false;
    const freed = this.dv.getUint32(p + L.P_FREED_AT, true);
    return freed === 0 || now - freed >= L.PORT_REST_SECONDS;
  }

  // A random free port of the right range (RFC 6056 algorithm 1: random start, then linear).
  // `want` (port preservation, a restored snapshot) is taken if it is in the range and free;
  // with `anywhere` (a mapping asked for by its external port: UPnP) at any port if free.
  private choosePort(proto: number, lanPort: number, now: number, want: number, anywhere = false): number {
    const set = this.portSet();
    if (anywhere && !set && want >= 1 && want <= 65535 && this.portFree(proto, want, now)) return want;
    // a MAP-E CE's set for every protocol (ICMP identifiers too, RFC 7597 5.1); else by protocol
    // and port (port-space.ts natPorts)
    const space = set ?? natPorts(proto === L.PROTO_ICMP, lanPort, this.portMin, this.portMax);
    return this.picker.pick(proto, space, want, now, (port) => this.portFree(proto, port, now));
  }

  // ---- flows -----------------------------------------------------------------------------------
  // Creates the flow lanAddr:lanPort -> remoteAddr:remotePort masqueraded as wanAddr, reusing the
  // LAN endpoint's existing public port. Returns the entry index, or TABLE_FULL when the table or
  // the port range is full, HOST_LIMITED when a limited flow's LAN host has its share (both
  // counted). Without a wanted port, a random one.
  createFlow(
    proto: number,
    lanAddr: number,
    lanPort: number,
    remoteAddr: number,
    remotePort: number,
    wanAddr: number,
    tcpState: number,
    o: FlowOptions = {},
  ): number {
    return this.locked(() => {
      const existing = this.findLan(proto, lanAddr, lanPort, remoteAddr, remotePort);
      if (existing >= 0) return existing;
      if (this.nextFree(this.now) < 0) return this.full();
      if (o.limited && this.overLimit(lanAddr)) {
        this.setU32(L.T_HOST_LIMIT_DROPS, this.hostLimitDrops + 1);
        return HOST_LIMITED;
      }
      const port = this.holdMappingLocked(proto, lanAddr, lanPort, o.wantPort ?? -1);
      if (port < 0) return this.full();
      return this.publish(
        proto,
        lanAddr,
        lanPort,
        remoteAddr,
        remotePort,
        wanAddr,
        port,
        tcpState | (o.alg ? L.ES_ALG : 0),
      );
    });
  }

  // RFC 6888 REQ-4: a host may hold at most T_HOST_LIMIT flows. Hosts past MAX_HOSTS share one
  // record and are not limited (their sum would punish each for the others). Lock held.
  private overLimit(lanAddr: number): boolean {
    const limit = this.hostLimit;
    if (limit === 0) return false;
    const r = this.hosts.recordOf(lanAddr);
    return !this.hosts.isOther(r) && this.hosts.live(r) >= limit;
  }

  // A flow with fixed ports on both sides (a port forward, a redirect): no port allocation.
  createFixedFlow(
    proto: number,
    lanAddr: number,
    lanPort: number,
    remoteAddr: number,
    remotePort: number,
    wanAddr: number,
    wanPort: number,
    tcpState: number,
    alg = false,
  ): number {
    return this.locked(() => {
      const existing = this.findLan(proto, lanAddr, lanPort, remoteAddr, remotePort);
      if (existing >= 0) return existing;
      if (this.nextFree(this.now) < 0) return this.full();
      return this.publish(
        proto,
        lanAddr,
        lanPort,
        remoteAddr,
        remotePort,
        wanAddr,
        wanPort,
        tcpState | L.ES_FIXED | (alg ? L.ES_ALG : 0),
      );
    });
  }

  // Takes the next free entry (the caller checked there is one), fills it, and publishes it in
  // the indexes. Lock held. `state`: the TCP bits and the ES_* flags.
  private publish(
    proto: number,
    lanAddr: number,
    lanPort: number,
    remoteAddr: number,
    remotePort: number,
    wanAddr: number,
    port: number,
    state: number,
  ): number {
    const i = this.nextFree(this.now);
    const e = this.entry(i);
    if (i === this.used) {
      this.setU32(L.T_UNUSED, i + 1);
    } else {
      const next = this.dv.getUint32(e + L.E_NEXT_FREE, true);
      this.setU32(L.T_FREE_HEAD, next);
      if (next === 0) this.setU32(L.T_FREE_TAIL, 0);
    }
    const dv = this.dv;
    dv.setUint32(e + L.E_LAN_ADDR, lanAddr, true);
    dv.setUint32(e + L.E_REMOTE_ADDR, remoteAddr, true);
    dv.setUint32(e + L.E_WAN_ADDR, wanAddr, true);
    dv.setUint16(e + L.E_LAN_PORT, lanPort, true);
    dv.setUint16(e + L.E_REMOTE_PORT, remotePort, true);
    dv.setUint16(e + L.E_WAN_PORT, port, true);
    dv.setUint8(e + L.E_STATE, state);
    dv.setUint32(e + L.E_LAST_SEEN, this.now, true);
    dv.setUint32(e + L.E_CREATED, this.now, true);
    for (const at of [L.E_BYTES_OUT, L.E_BYTES_IN, L.E_PKTS_OUT, L.E_PKTS_IN]) dv.setFloat64(e + at, 0, true);
    Atomics.store(this.u8, e + L.E_PROTO, proto); // a protocol makes the entry live
    // Publishing the index slots last makes the complete entry visible to lock-free readers.
    const seed = this.seed();
    this.indexInsert(this.map.lanIndex, hash5(L.H_LAN, proto, lanAddr, lanPort, remoteAddr, remotePort, seed), i + 1);
    this.indexInsert(this.map.wanIndex, hash5(L.H_WAN, proto, remoteAddr, remotePort, wanAddr, port, seed), i + 1);
    this.indexInsert(this.map.remoteIndex, hash5(L.H_REMOTE, proto, lanAddr, lanPort, remoteAddr, 0, seed), i + 1);
    this.setU32(L.T_LIVE, this.live + 1);
    const host = this.hosts.recordOf(lanAddr);
    this.hosts.setLive(host, this.hosts.live(host) + 1);
    this.event(EV_NEW, this.flow(i), "");
    return i;
  }

  private event(type: number, f: Flow, why: EndReason): void {
    if (this.quiet) return;
    this.events.put(
      type,
      END_REASONS.indexOf(why),
      Date.now(),
      Math.max(0, this.now - f.created),
      f.tcpState | (f.fixed ? L.ES_FIXED : 0),
      f,
    );
  }

  private rested(i: number, now: number): boolean {
    // A freed entry rests 2 s so that a reader that found it just before it was freed is done.
    const e = this.entry(i);
    const freedAt = this.dv.getUint32(e + L.E_LAST_SEEN, true);
    return freedAt === 0 || now - freedAt >= 2;
  }

  private full(): number {
    this.setU32(L.T_FULL_DROPS, this.fullDrops + 1);
    return -1;
  }

  private findLan(proto: number, lanAddr: number, lanPort: number, remoteAddr: number, remotePort: number): number {
    return this.probe(
      this.map.lanIndex,
      hash5(L.H_LAN, proto, lanAddr, lanPort, remoteAddr, remotePort, this.seed()),
      (i) =>
        this.flowIs(i, proto, lanAddr, lanPort, remoteAddr) &&
        this.dv.getUint16(this.entry(i) + L.E_REMOTE_PORT, true) === remotePort,
    );
  }

  // The entry of a flow by its LAN-side key, or -1.
  findFlow(proto: number, lanAddr: number, lanPort: number, remoteAddr: number, remotePort: number): number {
    return this.locked(() => this.findLan(proto, lanAddr, lanPort, remoteAddr, remotePort));
  }

  removeFlow(i: number, why: EndReason): void {
    this.locked(() => this.removeLocked(i, why));
  }

  private removeLocked(i: number, why: EndReason): void {
    const e = this.entry(i);
    if (!this.isLive(i)) return;
    const f = this.flow(i);
    const host = this.hosts.recordOf(f.lanAddr);
    this.hosts.setLive(host, this.hosts.live(host) - 1);
    this.hosts.fold(host, { flows: 1, bytesOut: f.bytesOut, bytesIn: f.bytesIn, pktsOut: f.pktsOut, pktsIn: f.pktsIn });
    this.event(EV_DESTROY, f, why);
    const seed = this.seed();
    this.indexRemove(
      this.map.lanIndex,
      hash5(L.H_LAN, f.proto, f.lanAddr, f.lanPort, f.remoteAddr, f.remotePort, seed),
      i + 1,
    );
    this.indexRemove(
      this.map.wanIndex,
      hash5(L.H_WAN, f.proto, f.remoteAddr, f.remotePort, f.wanAddr, f.wanPort, seed),
      i + 1,
    );
    this.indexRemove(
      this.map.remoteIndex,
      hash5(L.H_REMOTE, f.proto, f.lanAddr, f.lanPort, f.remoteAddr, 0, seed),
      i + 1,
    );
    const now = this.now;
    if (!f.fixed) this.releasePortLocked(f.proto, f.wanPort);
    if (f.alg) new SeqRecords(this.dv, this.map.alg).forget(i); // its shift goes with it
    Atomics.store(this.u8, e + L.E_PROTO, 0); // free: from here on E_REMOTE_ADDR is E_NEXT_FREE
    this.dv.setUint32(e + L.E_LAST_SEEN, Math.max(1, now), true);
    this.dv.setUint32(e + L.E_NEXT_FREE, 0, true);
    const tail = this.u32(L.T_FREE_TAIL);
    if (tail === 0) this.setU32(L.T_FREE_HEAD, i + 1);
    else this.dv.setUint32(this.entry(tail - 1) + L.E_NEXT_FREE, i + 1, true);
    this.setU32(L.T_FREE_TAIL, i + 1);
    this.setU32(L.T_LIVE, this.live - 1);
  }

  // One user of a mapping less; the last one frees it, and the port rests before reuse.
  private releasePortLocked(proto: number, port: number): void {
    const p = this.portAt(proto, port);
    const refs = this.dv.getUint16(p + L.P_REFS, true) - 1;
    this.dv.setUint16(p + L.P_REFS, Math.max(0, refs), true);
    if (refs > 0) return;
    const lanAddr = this.dv.getUint32(p + L.P_LAN_ADDR, true),
      lanPort = this.dv.getUint16(p + L.P_LAN_PORT, true);
    this.indexRemove(
      this.map.mapIndex,
      hash5(L.H_MAP, proto, lanAddr, lanPort, 0, 0, this.seed()),
      PORT_PROTO_INDEX[proto] * 65536 + port + 1,
    );
    this.dv.setUint32(p + L.P_FREED_AT, Math.max(1, this.now), true);
  }

  // Holds the mapping of lanAddr:lanPort (made if needed, `want` preferred) for an expected
  // connection (FTP data); returns the public port or -1. Lock held by the caller.
  holdMappingLocked(proto: number, lanAddr: number, lanPort: number, want: number, anywhere = false): number {
    let port = this.mappedPort(proto, lanAddr, lanPort);
    if (port < 0) {
      port = this.choosePort(proto, lanPort, this.now, want, anywhere);
      if (port < 0) return -1;
      const p = this.portAt(proto, port);
      this.dv.setUint32(p + L.P_LAN_ADDR, lanAddr, true);
      this.dv.setUint16(p + L.P_LAN_PORT, lanPort, true);
      this.dv.setUint16(p + L.P_REFS, 0, true);
      this.indexInsert(
        this.map.mapIndex,
        hash5(L.H_MAP, proto, lanAddr, lanPort, 0, 0, this.seed()),
        PORT_PROTO_INDEX[proto] * 65536 + port + 1,
      );
    }
    const p = this.portAt(proto, port);
    this.dv.setUint16(p + L.P_REFS, this.dv.getUint16(p + L.P_REFS, true) + 1, true);
    return port;
  }

  releaseMappingLocked(proto: number, port: number): void {
    this.releasePortLocked(proto, port);
  }

  isLive(i: number): boolean {
    return Atomics.load(this.u8, this.entry(i) + L.E_PROTO) !== 0;
  }

  flow(i: number): Flow {
    const e = this.entry(i),
      dv = this.dv;
    const state = dv.getUint8(e + L.E_STATE);
    return {
      index: i,
      proto: dv.getUint8(e + L.E_PROTO),
      lanAddr: dv.getUint32(e + L.E_LAN_ADDR, true),
      lanPort: dv.getUint16(e + L.E_LAN_PORT, true),
      remoteAddr: dv.getUint32(e + L.E_REMOTE_ADDR, true),
      remotePort: dv.getUint16(e + L.E_REMOTE_PORT, true),
      wanAddr: dv.getUint32(e + L.E_WAN_ADDR, true),
      wanPort: dv.getUint16(e + L.E_WAN_PORT, true),
      tcpState: state & L.TS_MASK,
      fixed: (state & L.ES_FIXED) !== 0,
      alg: (state & L.ES_ALG) !== 0,
      lastSeen: dv.getUint32(e + L.E_LAST_SEEN, true),
      created: dv.getUint32(e + L.E_CREATED, true),
      bytesOut: dv.getFloat64(e + L.E_BYTES_OUT, true),
      bytesIn: dv.getFloat64(e + L.E_BYTES_IN, true),
      pktsOut: dv.getFloat64(e + L.E_PKTS_OUT, true),
      pktsIn: dv.getFloat64(e + L.E_PKTS_IN, true),
    };
  }

  // Seconds a flow may stay idle, from its protocol and TCP state.
  timeoutOf(proto: number, tcpState: number): number {
    if (proto === L.PROTO_UDP) return this.u32(L.T_TIMEOUT_UDP);
    if (proto === L.PROTO_ICMP) return this.u32(L.T_TIMEOUT_ICMP);
    const established =
      (tcpState & L.TS_ESTABLISHED) !== 0 && (tcpState & (L.TS_FIN_OUT | L.TS_FIN_IN | L.TS_RST)) === 0;
    return this.u32(established ? L.T_TIMEOUT_TCP_EST : L.T_TIMEOUT_TCP_TRANS);
  }

  // Removes every flow (both families) idle past its timeout; returns how many.
  sweep(): number {
    const now = this.now;
    let removed = this.v6.sweep();
    for (let i = 0, n = this.used; i < n; i++) {
      if (!this.isLive(i)) continue;
      const e = this.entry(i);
      const idle = now - this.dv.getUint32(e + L.E_LAST_SEEN, true);
      const tcp = this.dv.getUint8(e + L.E_STATE) & L.TS_MASK;
      if (idle > this.timeoutOf(this.dv.getUint8(e + L.E_PROTO), tcp)) {
        this.removeFlow(i, endedBy(this.dv.getUint8(e + L.E_PROTO), tcp));
        removed++;
      }
    }
    return removed;
  }

  // The WAN address changed (a new DHCP lease, a PPP redial): flows bound to the old address
  // are forgotten, as Linux's MASQ did; their packets meet no entry and are refused from then on.
  // Returns how many were removed.
  forgetAddress(addr: number): number {
    return this.removeWhere((f) => f.wanAddr === addr || f.remoteAddr === addr, "wan-change");
  }

  // `ipmasq flush [ADDR]`: every flow, or a LAN host's, forgotten; their packets meet no entry.
  flush(lanAddr?: number): number {
    const v6 = lanAddr === undefined ? this.v6.flush() : 0;
    return v6 + this.removeWhere((f) => lanAddr === undefined || f.lanAddr === lanAddr, "flush");
  }

  private removeWhere(match: (f: Flow) => boolean, why: EndReason): number {
    let removed = 0;
    for (const f of this.flows())
      if (match(f)) {
        this.removeFlow(f.index, why);
        removed++;
      }
    return removed;
  }

  *flows(): Generator<Flow> {
    for (let i = 0, n = this.used; i < n; i++) if (this.isLive(i)) yield this.flow(i);
  }
}
