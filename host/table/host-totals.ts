// Per-LAN-host accounting in the shared memory: one record per LAN address, holding the counters
// of the host's flows that have ended and how many it has now. The connection table's writers
// (under T_LOCK) count a flow in when it is made and fold its counters in when it ends, so the
// fast path does no work for it beyond the flow's own counters; a reader adds the live flows.
//
//   area:    @0 u32 hosts recorded   @64 the "other" record (hosts past MAX_HOSTS)   @128 slots
//   record:  addr u32, live u32, then f64 flows ended, bytes out/in, packets out/in
// Open addressing over HOST_SLOTS (twice MAX_HOSTS, so probes stay short); a record is never
// removed: totals count since the gateway started.
import { MAX_HOSTS, HOST_SLOTS, HOST_RECORD_SIZE } from "../shm/memory-map";

const H_COUNT = 0;
const H_OTHER = 64;
const H_SLOTS = 128; // memory-map.ts's HOST_AREA_SIZE counts on it

const R_ADDR = 0,
  R_LIVE = 4,
  R_FLOWS = 8,
  R_BYTES_OUT = 16,
  R_BYTES_IN = 24,
  R_PKTS_OUT = 32,
  R_PKTS_IN = 40;

export interface HostCounters {
  flows: number;
  bytesOut: number;
  bytesIn: number;
  pktsOut: number;
  pktsIn: number;
}
// A flow's counters added to a host's (a flow more).
export function addFlow(h: HostCounters, f: Omit<HostCounters, "flows">): void {
  h.flows += 1;
  h.bytesOut += f.bytesOut;
  h.bytesIn += f.bytesIn;
  h.pktsOut += f.pktsOut;
  h.pktsIn += f.pktsIn;
}

export interface HostRecord extends HostCounters {
  addr: number;
  live: number;
}

export class HostTotals {
  private readonly dv: DataView;
  constructor(
    memory: WebAssembly.Memory,
    private readonly base: number,
  ) {
    this.dv = new DataView(memory.buffer);
  }

  get count(): number {
    return this.dv.getUint32(this.base + H_COUNT, true);
  }
  get otherAddress(): number {
    return this.base + H_OTHER;
  }

  // The record of `addr`, made if need be; past MAX_HOSTS hosts, the shared "other" record.
  // Writers only (T_LOCK held).
  recordOf(addr: number): number {
    const mask = HOST_SLOTS - 1;
    for (let i = (Math.imul(addr, 0x9e3779b1) >>> 17) & mask, n = 0; n < HOST_SLOTS; i = (i + 1) & mask, n++) {
      const r = this.base + H_SLOTS + i * HOST_RECORD_SIZE;
      const held = this.dv.getUint32(r + R_ADDR, true);
      if (held === addr && held !== 0) return r;
      if (held === 0) {
        if (addr === 0 || this.count >= MAX_HOSTS) return this.otherAddress;
        this.dv.setUint32(r + R_ADDR, addr, true);
        this.dv.setUint32(this.base + H_COUNT, this.count + 1, true);
        return r;
      }
    }
    return this.otherAddress;
  }

  isOther(record: number): boolean {
    return record === this.otherAddress;
  }
  live(record: number): number {
    return this.dv.getUint32(record + R_LIVE, true);
  }
  setLive(record: number, n: number): void {
    this.dv.setUint32(record + R_LIVE, Math.max(0, n), true);
  }

  // An ended flow's counters, folded in. Writers only.
  fold(record: number, c: HostCounters): void {
    const add = (off: number, v: number): void =>
      this.dv.setFloat64(record + off, this.dv.getFloat64(record + off, true) + v, true);
    add(R_FLOWS, c.flows);
    add(R_BYTES_OUT, c.bytesOut);
    add(R_BYTES_IN, c.bytesIn);
    add(R_PKTS_OUT, c.pktsOut);
    add(R_PKTS_IN, c.pktsIn);
  }

  private read(r: number, addr: number): HostRecord {
    const f = (off: number): number => this.dv.getFloat64(r + off, true);
    return {
      addr,
      live: this.live(r),
      flows: f(R_FLOWS),
      bytesOut: f(R_BYTES_OUT),
      bytesIn: f(R_BYTES_IN),
      pktsOut: f(R_PKTS_OUT),
      pktsIn: f(R_PKTS_IN),
    };
  }

  // Every host recorded, and the "other" record (addr 0) when it was used.
  records(): HostRecord[] {
    const out: HostRecord[] = [];
    for (let i = 0; i < HOST_SLOTS; i++) {
      const r = this.base + H_SLOTS + i * HOST_RECORD_SIZE;
      const addr = this.dv.getUint32(r + R_ADDR, true);
      if (addr !== 0) out.push(this.read(r, addr));
    }
    const other = this.read(this.otherAddress, 0);
    if (other.live || other.flows) out.push(other);
    return out;
  }

  // Puts a handed-over host's totals back (a graceful restart keeps them).
  restore(rec: HostRecord): void {
    const r = this.recordOf(rec.addr);
    this.fold(r, rec);
  }
}
