// The IPv6 flow table's writer side: insert, remove, expiry and listing over the region that
// assembly/layout.ts describes (T6_*, F6_*). IPv6 is routed, not translated: an entry is the
// state of a flow the policy let through (its LAN end, its far end, TCP facts, counters), which
// the cores find by one key whichever way a packet goes. Under NAT66 a flow also has a public
// port of the masquerade address (the LAN endpoint's, ports6.ts), and a second key the cores find
// what comes back by. It shares the IPv4 table's lock, clock, timeouts and NAT port range
// (conntrack.ts).
import * as L from "../../assembly/layout";
import { type MemoryMap, MAX_HOSTS } from "../shm/memory-map";
import { hash6 } from "../core-ts/table6";
import { formatAddr6 } from "../net/addr6";
import { type FlowEventRing, EV_NEW, EV_DESTROY, END_REASONS, type EndReason } from "./flow-events";
import { type HostCounters, addFlow } from "./host-totals";
import { Endpoints6 } from "./endpoints6";
import { Ports6 } from "./ports6";
import { SeqRecords, SEQ_KEY6 } from "./seq-records";
import { hashWan6 } from "../core-ts/table6";
import { type SlotIndex, indexProbe, indexInsert, indexRemove } from "./slot-index";

// The key of the IPv6 addresses past MAX_HOSTS, summed.
export const OTHER6 = "other";

// Where an IPv6 address's totals go in `byAddr`: its own key while there is room, else OTHER6.
export const hostKey6 = (byAddr: Map<string, unknown>, addr: string): string =>
  byAddr.has(addr) || byAddr.size < MAX_HOSTS ? addr : OTHER6;

export interface Flow6 {
  index: number;
  proto: number;
  lanAddr: string; // RFC 5952 text
  lanPort: number;
  remoteAddr: string;
  remotePort: number;
  wanPort: number; // NAT66: its public port at the masquerade address (0: routed)
  tcpState: number;
  fixed: boolean; // opened from the WAN side by a rule
  alg: boolean; // a NAT66 FTP control connection: its packets also go to the helper
  lastSeen: number;
  created: number;
  bytesOut: number;
  bytesIn: number;
  pktsOut: number;
  pktsIn: number;
}

// What the IPv6 table shares with the IPv4 one (conntrack.ts's ConnTable): the memory, the
// writers' lock, the clock and the timeouts.
export interface TableShared {
  readonly dv: DataView;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly t: number;
  readonly map: MemoryMap;
  readonly now: number;
  readonly events: FlowEventRing;
  readonly quiet: boolean; // no events (a restart or the HA peer puts flows back)
  readonly portMin: number; // the NAT port range (ports of 1024 and up)
  readonly portMax: number;
  isNatPort(port: number): boolean; // one the NAT hands out (the range, or the one below 1024)
  locked<T>(fn: () => T): T;
  timeoutOf(proto: number, tcpState: number): number;
}

// A TCP flow swept after a reset or both FINs was closed; anything else timed out.
function endedBy(proto: number, tcp: number): EndReason {
  if (proto !== L.PROTO_TCP) return "timeout";
  if (tcp & L.TS_RST) return "reset";
  return tcp & L.TS_FIN_OUT && tcp & L.TS_FIN_IN ? "closed" : "timeout";
}

export class Flows6 {
  // The counters of ended flows, by LAN address (RFC 5952 text), for `ipmasq hosts`. Kept by the
  // main thread, not in the shared memory as IPv4's: IPv6 flows end only there (sweep, flush).
  readonly ended = new Map<string, HostCounters>();
  private readonly dv: DataView;
  private readonly u8: Uint8Array;
  private readonly i32: Int32Array;
  private readonly t: number;
  private readonly map: MemoryMap;
  private readonly endpoints: Endpoints6;
  private readonly ports: Ports6;

  constructor(private readonly table: TableShared) {
    this.dv = table.dv;
    this.u8 = table.u8;
    this.i32 = table.i32;
    this.t = table.t;
    this.map = table.map;
    this.endpoints = new Endpoints6(this.u8, this.dv, this.map.endpoints6, this.map.index6Slots, () =>
      this.u32(L.T_SEED),
    );
    this.ports = new Ports6(this.dv, this.map.ports6);
  }

  private u32(off: number): number {
    return this.dv.getUint32(this.t + off, true);
  }
  private setU32(off: number, v: number): void {
    this.dv.setUint32(this.t + off, v, true);
  }

  // The header fields of the region (ConnTable.init calls this on a fresh table).
  init(): void {
    const m = this.map;
    this.setU32(L.T6_MAX_FLOWS, m.maxFlows6);
    this.setU32(L.T6_INDEX_SLOTS, m.index6Slots);
    this.setU32(L.T6_ENTRIES, m.entries6);
    this.setU32(L.T6_INDEX, m.index6);
    this.setU32(L.T6_WAN_INDEX, m.wan6Index);
  }

  // NAT66's address (16 bytes), or none: off. The flows of an old address are the caller's to end.
  get masqAddress(): Uint8Array | undefined {
    const a = this.u8.slice(this.t + L.T6_MASQ_ADDR, this.t + L.T6_MASQ_ADDR + 16);
    return a.some((b) => b !== 0) ? a : undefined;
  }
  // Where that address lies in the shared memory (what the cores read).
  get masqAddressAt(): number {
    return this.t + L.T6_MASQ_ADDR;
  }
  set masqAddress(a: Uint8Array | undefined) {
    this.u8.set(a ?? new Uint8Array(16), this.t + L.T6_MASQ_ADDR);
  }

  get max(): number {
    return this.u32(L.T6_MAX_FLOWS);
  }
  get live(): number {
    return this.u32(L.T6_LIVE);
  }
  get fullDrops(): number {
    return this.u32(L.T6_FULL_DROPS);
  }
  private get used(): number {
    return this.u32(L.T6_UNUSED);
  }

  entry(i: number): number {
    return this.map.entries6 + i * L.F6_SIZE;
  }

  isLive(i: number): boolean {
    return Atomics.load(this.u8, this.entry(i) + L.F6_PROTO) !== 0;
  }

  private slots(): number {
    return this.map.index6Slots;
  }

  private sameKey(
    i: number,
    proto: number,
    lan: Uint8Array,
    lanPort: number,
    remote: Uint8Array,
    remotePort: number,
  ): boolean {
    const e = this.entry(i);
    if (this.u8[e + L.F6_PROTO] !== proto) return false;
    if (this.dv.getUint16(e + L.F6_LAN_PORT, true) !== lanPort) return false;
    if (this.dv.getUint16(e + L.F6_REMOTE_PORT, true) !== remotePort) return false;
    for (let k = 0; k < 16; k++) {
      if (this.u8[e + L.F6_LAN_ADDR + k] !== lan[k] || this.u8[e + L.F6_REMOTE_ADDR + k] !== remote[k]) return false;
    }
    return true;
  }

  // The entry of a flow by its key, or -1 (the same walk as the cores').
  private findLocked(proto: number, lan: Uint8Array, lanPort: number, remote: Uint8Array, remotePort: number): number {
    return this.probe(this.map.index6, this.flowHash(proto, lan, lanPort, remote, remotePort), (i) =>
      this.sameKey(i, proto, lan, lanPort, remote, remotePort),
    );
  }

  private flowHash(proto: number, lan: Uint8Array, lanPort: number, remote: Uint8Array, remotePort: number): number {
    return hash6(proto, lan, 0, lanPort, remote, 0, remotePort, this.u32(L.T_SEED));
  }
  private wanHash(proto: number, wanPort: number, remote: Uint8Array, remotePort: number): number {
    return hashWan6(proto, wanPort, remote, 0, remotePort, this.u32(L.T_SEED));
  }
  private remoteHash(proto: number, lan: Uint8Array, lanPort: number, remote: Uint8Array): number {
    return hash6(L.H6_REMOTE + proto, lan, 0, lanPort, remote, 0, 0, this.u32(L.T_SEED));
  }

  // The table's two indexes of entries (host/table/slot-index.ts): by key, and by LAN end and
  // remote address.
  private index(base: number): SlotIndex {
    return { i32: this.i32, base, slots: this.slots() };
  }
  private probe(base: number, h: number, match: (i: number) => boolean): number {
    return indexProbe(this.index(base), h, match);
  }

  find(proto: number, lan: Uint8Array, lanPort: number, remote: Uint8Array, remotePort: number): number {
    return this.table.locked(() => this.findLocked(proto, lan, lanPort, remote, remotePort));
  }

  // The NAT66 flow whose public port is wanPort and far end remote:remotePort, or -1 (the cores'
  // lookupWan6).
  findWan(proto: number, wanPort: number, remote: Uint8Array, remotePort: number): number {
    const h = this.wanHash(proto, wanPort, remote, remotePort);
    return this.table.locked(() =>
      this.probe(this.map.wan6Index, h, (i) => {
        const e = this.entry(i);
        if (this.u8[e + L.F6_PROTO] !== proto || this.dv.getUint16(e + L.F6_WAN_PORT, true) !== wanPort) return false;
        if (this.dv.getUint16(e + L.F6_REMOTE_PORT, true) !== remotePort) return false;
        for (let k = 0; k < 16; k++) if (this.u8[e + L.F6_REMOTE_ADDR + k] !== remote[k]) return false;
        return true;
      }),
    );
  }

  // Has lan:lanPort a flow to remote (any port)? Address-dependent filtering asks this.
  hasFlowTo(proto: number, lan: Uint8Array, lanPort: number, remote: Uint8Array): boolean {
    const h = this.remoteHash(proto, lan, lanPort, remote);
    return this.table.locked(
      () => this.probe(this.map.remote6Index, h, (i) => this.isFlowTo(i, proto, lan, lanPort, remote)) >= 0,
    );
  }

  private isFlowTo(i: number, proto: number, lan: Uint8Array, lanPort: number, remote: Uint8Array): boolean {
    const e = this.entry(i);
    if (this.u8[e + L.F6_PROTO] !== proto || this.dv.getUint16(e + L.F6_LAN_PORT, true) !== lanPort) return false;
    for (let k = 0; k < 16; k++)
      if (this.u8[e + L.F6_LAN_ADDR + k] !== lan[k] || this.u8[e + L.F6_REMOTE_ADDR + k] !== remote[k]) return false;
    return true;
  }

  // Holds a public port for lan:lanPort with no flow (a PCP mapping under NAT66), as a flow holds
  // it: the endpoint's port if it has one, else `want` or another. Returns it, or -1 (none free).
  holdMapping(proto: number, lan: Uint8Array, lanPort: number, want: number): number {
    return this.table.locked(() => {
      const port = this.publicPortLocked(proto, lan, lanPort, want);
      if (port >= 0) this.bindLocked(this.endpoints.add(proto, lan, lanPort), proto, port);
      return port;
    });
  }

  // NAT66's public port for lan:lanPort: the one the endpoint holds (endpoint-independent
  // mapping), else `want` if free, else another; -1 when none is free.
  private publicPortLocked(proto: number, lan: Uint8Array, lanPort: number, want: number): number {
    return (
      this.endpoints.wanPort(proto, lan, lanPort) ||
      this.ports.choose(proto, lanPort, want, this.table.now, this.table.portMin, this.table.portMax)
    );
  }

  // The endpoint in `slot` holds public port `port` (if it did not already).
  private bindLocked(slot: number, proto: number, port: number): void {
    if (this.endpoints.wanPortAt(slot)) return;
    this.endpoints.setWanPortAt(slot, port);
    this.ports.hold(proto, port, slot);
  }

  // Lets go of a hold made by holdMapping (the port goes with the endpoint's last flow or hold).
  releaseMapping(proto: number, lan: Uint8Array, lanPort: number): void {
    this.table.locked(() => {
      const letGo = this.endpoints.release(proto, lan, lanPort);
      if (letGo) this.ports.release(proto, letGo, this.table.now);
    });
  }

  // Is `port` one NAT66 hands out (the IPv4 NAT's ranges)?
  isNatPort(port: number): boolean {
    return this.table.isNatPort(port);
  }

  // The LAN end that holds public port `wanPort` under NAT66, or undefined.
  wanOwner(proto: number, wanPort: number): { lan: Uint8Array; lanPort: number } | undefined {
    return this.table.locked(() => {
      const slot = this.ports.owner(proto, wanPort);
      return slot < 0 ? undefined : this.endpoints.endAt(slot);
    });
  }

  // Has lan:lanPort a flow to anyone? Endpoint-independent filtering asks this.
  hasEndpoint(proto: number, lan: Uint8Array, lanPort: number): boolean {
    return this.table.locked(() => this.endpoints.has(proto, lan, lanPort));
  }

  // The entry the next flow goes into, or -1: a never-used one, then the oldest freed one once
  // it has rested 2 s (a reader that found it just before it was freed is done by then).
  private nextFree(now: number): number {
    if (this.used < this.map.maxFlows6) return this.used;
    const head = this.u32(L.T6_FREE_HEAD);
    if (head === 0) return -1;
    const freedAt = this.dv.getUint32(this.entry(head - 1) + L.F6_LAST_SEEN, true);
    return freedAt === 0 || now - freedAt >= 2 ? head - 1 : -1;
  }

  // Makes the flow lan:lanPort <-> remote:remotePort (or finds it). `state`: TS_* bits | ES_FIXED.
  // `masq`: NAT66, the flow leaves by the LAN end's public port (made if it has none; `want`
  // preferred, else the LAN end's own). Returns the entry, or -1 when the table or the port
  // range is full (counted).
  create(
    proto: number,
    lan: Uint8Array,
    lanPort: number,
    remote: Uint8Array,
    remotePort: number,
    state: number,
    masq?: { want?: number },
  ): number {
    return this.table.locked(() => {
      const existing = this.findLocked(proto, lan, lanPort, remote, remotePort);
      if (existing >= 0) return existing;
      const now = this.table.now;
      const i = this.nextFree(now);
      const wanPort = masq && i >= 0 ? this.publicPortLocked(proto, lan, lanPort, masq.want ?? lanPort) : 0;
      if (i < 0 || wanPort < 0) {
        this.setU32(L.T6_FULL_DROPS, this.fullDrops + 1);
        return -1;
      }
      const e = this.entry(i);
      if (i === this.used) this.setU32(L.T6_UNUSED, i + 1);
      else {
        const next = this.dv.getUint32(e + L.F6_NEXT_FREE, true);
        this.setU32(L.T6_FREE_HEAD, next);
        if (next === 0) this.setU32(L.T6_FREE_TAIL, 0);
      }
      this.u8.set(lan, e + L.F6_LAN_ADDR);
      this.u8.set(remote, e + L.F6_REMOTE_ADDR);
      this.dv.setUint16(e + L.F6_LAN_PORT, lanPort, true);
      this.dv.setUint16(e + L.F6_REMOTE_PORT, remotePort, true);
      this.dv.setUint16(e + L.F6_WAN_PORT, wanPort, true);
      this.u8[e + L.F6_STATE] = state;
      this.dv.setUint32(e + L.F6_LAST_SEEN, now, true);
      this.dv.setUint32(e + L.F6_CREATED, now, true);
      for (const at of [L.F6_BYTES_OUT, L.F6_BYTES_IN, L.F6_PKTS_OUT, L.F6_PKTS_IN])
        this.dv.setFloat64(e + at, 0, true);
      Atomics.store(this.u8, e + L.F6_PROTO, proto); // a protocol makes the entry live
      // the index slot last: lock-free readers see only complete entries
      indexInsert(this.index(this.map.index6), this.flowHash(proto, lan, lanPort, remote, remotePort), i + 1);
      indexInsert(this.index(this.map.remote6Index), this.remoteHash(proto, lan, lanPort, remote), i + 1);
      const slot = this.endpoints.add(proto, lan, lanPort);
      if (wanPort) {
        indexInsert(this.index(this.map.wan6Index), this.wanHash(proto, wanPort, remote, remotePort), i + 1);
        this.bindLocked(slot, proto, wanPort);
      }
      this.setU32(L.T6_LIVE, this.live + 1);
      this.event(EV_NEW, i, "");
      return i;
    });
  }

  // Brings a flow up to date from elsewhere (the HA peer, a restart): its TCP facts, and when it
  // was last seen and made, `idle` and `age` seconds ago.
  update(i: number, tcpState: number, idle: number, age: number): void {
    const e = this.entry(i);
    this.u8[e + L.F6_STATE] = (this.u8[e + L.F6_STATE] & ~L.TS_MASK) | (tcpState & L.TS_MASK);
    this.dv.setUint32(e + L.F6_LAST_SEEN, Math.max(1, this.table.now - idle), true);
    this.dv.setUint32(e + L.F6_CREATED, Math.max(1, this.table.now - age), true);
  }

  remove(i: number, why: EndReason = "flush"): void {
    this.table.locked(() => this.removeLocked(i, why));
  }

  private event(type: number, i: number, why: EndReason): void {
    if (this.table.quiet) return;
    const e = this.entry(i),
      dv = this.dv;
    this.table.events.put6(
      type,
      END_REASONS.indexOf(why),
      Date.now(),
      Math.max(0, this.table.now - dv.getUint32(e + L.F6_CREATED, true)),
      this.u8[e + L.F6_STATE],
      {
        proto: this.u8[e + L.F6_PROTO],
        lan: this.u8.subarray(e + L.F6_LAN_ADDR, e + L.F6_LAN_ADDR + 16),
        lanPort: dv.getUint16(e + L.F6_LAN_PORT, true),
        remote: this.u8.subarray(e + L.F6_REMOTE_ADDR, e + L.F6_REMOTE_ADDR + 16),
        remotePort: dv.getUint16(e + L.F6_REMOTE_PORT, true),
        bytesOut: dv.getFloat64(e + L.F6_BYTES_OUT, true),
        bytesIn: dv.getFloat64(e + L.F6_BYTES_IN, true),
        pktsOut: dv.getFloat64(e + L.F6_PKTS_OUT, true),
        pktsIn: dv.getFloat64(e + L.F6_PKTS_IN, true),
      },
    );
  }

  private removeLocked(i: number, why: EndReason): void {
    if (!this.isLive(i)) return;
    this.event(EV_DESTROY, i, why);
    this.foldEnded(this.flow(i));
    const e = this.entry(i);
    const proto = this.u8[e + L.F6_PROTO];
    const lan = this.u8.slice(e + L.F6_LAN_ADDR, e + L.F6_LAN_ADDR + 16);
    const remote = this.u8.slice(e + L.F6_REMOTE_ADDR, e + L.F6_REMOTE_ADDR + 16);
    const lanPort = this.dv.getUint16(e + L.F6_LAN_PORT, true);
    const remotePort = this.dv.getUint16(e + L.F6_REMOTE_PORT, true);
    const wanPort = this.dv.getUint16(e + L.F6_WAN_PORT, true);
    indexRemove(this.index(this.map.index6), this.flowHash(proto, lan, lanPort, remote, remotePort), i + 1);
    indexRemove(this.index(this.map.remote6Index), this.remoteHash(proto, lan, lanPort, remote), i + 1);
    if (wanPort) indexRemove(this.index(this.map.wan6Index), this.wanHash(proto, wanPort, remote, remotePort), i + 1);
    const letGo = this.endpoints.release(proto, lan, lanPort);
    if (letGo) this.ports.release(proto, letGo, this.table.now);
    if (this.u8[e + L.F6_STATE] & L.ES_ALG) new SeqRecords(this.dv, this.map.alg).forget(SEQ_KEY6 + i); // NAT66 FTP
    Atomics.store(this.u8, e + L.F6_PROTO, 0); // free: from here on F6_REMOTE_ADDR holds F6_NEXT_FREE
    this.dv.setUint32(e + L.F6_LAST_SEEN, Math.max(1, this.table.now), true);
    this.dv.setUint32(e + L.F6_NEXT_FREE, 0, true);
    const tail = this.u32(L.T6_FREE_TAIL);
    if (tail === 0) this.setU32(L.T6_FREE_HEAD, i + 1);
    else this.dv.setUint32(this.entry(tail - 1) + L.F6_NEXT_FREE, i + 1, true);
    this.setU32(L.T6_FREE_TAIL, i + 1);
    this.setU32(L.T6_LIVE, this.live - 1);
  }

  private foldEnded(f: Flow6): void {
    const key = hostKey6(this.ended, f.lanAddr);
    const c = this.ended.get(key) ?? { flows: 0, bytesOut: 0, bytesIn: 0, pktsOut: 0, pktsIn: 0 };
    addFlow(c, f);
    this.ended.set(key, c);
  }

  flow(i: number): Flow6 {
    const e = this.entry(i),
      dv = this.dv;
    const state = dv.getUint8(e + L.F6_STATE);
    return {
      index: i,
      proto: dv.getUint8(e + L.F6_PROTO),
      lanAddr: formatAddr6(this.u8.subarray(e + L.F6_LAN_ADDR, e + L.F6_LAN_ADDR + 16)),
      lanPort: dv.getUint16(e + L.F6_LAN_PORT, true),
      remoteAddr: formatAddr6(this.u8.subarray(e + L.F6_REMOTE_ADDR, e + L.F6_REMOTE_ADDR + 16)),
      remotePort: dv.getUint16(e + L.F6_REMOTE_PORT, true),
      wanPort: dv.getUint16(e + L.F6_WAN_PORT, true),
      tcpState: state & L.TS_MASK,
      fixed: (state & L.ES_FIXED) !== 0,
      alg: (state & L.ES_ALG) !== 0,
      lastSeen: dv.getUint32(e + L.F6_LAST_SEEN, true),
      created: dv.getUint32(e + L.F6_CREATED, true),
      bytesOut: dv.getFloat64(e + L.F6_BYTES_OUT, true),
      bytesIn: dv.getFloat64(e + L.F6_BYTES_IN, true),
      pktsOut: dv.getFloat64(e + L.F6_PKTS_OUT, true),
      pktsIn: dv.getFloat64(e + L.F6_PKTS_IN, true),
    };
  }

  *flows(): Generator<Flow6> {
    for (let i = 0, n = this.used; i < n; i++) if (this.isLive(i)) yield this.flow(i);
  }

  // Removes every flow idle past its timeout (the IPv4 table's, by protocol and TCP state).
  sweep(): number {
    const now = this.table.now;
    let removed = 0;
    for (let i = 0, n = this.used; i < n; i++) {
      if (!this.isLive(i)) continue;
      const e = this.entry(i);
      const proto = this.dv.getUint8(e + L.F6_PROTO);
      const tcp = this.dv.getUint8(e + L.F6_STATE) & L.TS_MASK;
      const timeout = this.table.timeoutOf(proto === L.PROTO_ICMPV6 ? L.PROTO_ICMP : proto, tcp);
      if (now - this.dv.getUint32(e + L.F6_LAST_SEEN, true) > timeout) {
        this.remove(i, endedBy(proto, tcp));
        removed++;
      }
    }
    return removed;
  }

  // The flows `which` picks, ended for `why`; how many.
  removeWhere(which: (f: Flow6) => boolean, why: EndReason): number {
    let removed = 0;
    for (const f of this.flows())
      if (which(f)) {
        this.remove(f.index, why);
        removed++;
      }
    return removed;
  }

  // Every flow forgotten (ipmasq flush).
  flush(): number {
    return this.removeWhere(() => true, "flush");
  }
}
