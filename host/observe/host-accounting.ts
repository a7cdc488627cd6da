// Per-LAN-host totals as people read them: the shared records (flows that ended, folded in by
// the table's writers) plus the host's live flows, read from the table, and a rolling rate.
// Reading walks the table once; a caller that polls (the status page) may take a read up to
// `maxAgeMs` old, so that several of them cost one walk.
import type { ConnTable } from "../table/conntrack";
import type { HostRecord } from "../table/host-totals";
import { formatAddr } from "../net/addr";

export const HOST_SORTS = ["bytes", "flows", "rate"] as const;
export type HostSort = (typeof HOST_SORTS)[number];

export interface HostRow {
  host: string; // "other": the hosts past the table's MAX_HOSTS, summed
  flows: number; // live now
  flowsTotal: number; // since start
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
  rateOut: number;
  rateIn: number; // bytes a second, averaged over about 10 s
}

const RATE_WINDOW_S = 10;

export class HostAccounting {
  private last?: { at: number; rows: HostRow[] };
  private readonly seen = new Map<
    number,
    { at: number; bytesOut: number; bytesIn: number; rateOut: number; rateIn: number }
  >();

  constructor(private readonly table: ConnTable) {}

  // A fresh read (the rates' sample); rows() reuses one up to maxAgeMs old.
  sample(): HostRow[] {
    const now = Date.now();
    this.last = { at: now, rows: this.read(now) };
    return this.last.rows;
  }

  rows(sort: HostSort = "bytes", limit = Infinity, maxAgeMs = 0): HostRow[] {
    const all = this.last && Date.now() - this.last.at <= maxAgeMs ? this.last.rows : this.sample();
    const key: Record<HostSort, (r: HostRow) => number> = {
      bytes: (r) => r.bytesOut + r.bytesIn,
      flows: (r) => r.flows,
      rate: (r) => r.rateOut + r.rateIn,
    };
    return [...all].sort((a, b) => key[sort](b) - key[sort](a) || a.host.localeCompare(b.host)).slice(0, limit);
  }

  get count(): number {
    return this.table.hosts.count;
  }

  private read(now: number): HostRow[] {
    const byAddr = new Map<number, HostRecord>();
    for (const r of this.table.hosts.records()) byAddr.set(r.addr, r); // fresh objects: added to in place
    for (const f of this.table.flows()) {
      // a live flow of a host past MAX_HOSTS is counted in "other" (addr 0)
      const h = byAddr.get(f.lanAddr) ?? byAddr.get(0);
      if (!h) continue;
      h.bytesOut += f.bytesOut;
      h.bytesIn += f.bytesIn;
      h.pktsOut += f.pktsOut;
      h.pktsIn += f.pktsIn;
      h.flows += 1;
    }
    const rows: HostRow[] = [];
    for (const h of byAddr.values()) {
      const rate = this.rate(h.addr, now, h.bytesOut, h.bytesIn);
      rows.push({
        host: h.addr ? formatAddr(h.addr) : "other",
        flows: h.live,
        flowsTotal: h.flows,
        bytesOut: h.bytesOut,
        bytesIn: h.bytesIn,
        packetsOut: h.pktsOut,
        packetsIn: h.pktsIn,
        rateOut: rate.out,
        rateIn: rate.in,
      });
    }
    return rows;
  }

  // An exponentially weighted average of the byte rate, whatever the time between reads.
  private rate(addr: number, now: number, bytesOut: number, bytesIn: number): { out: number; in: number } {
    const prev = this.seen.get(addr);
    if (!prev) {
      this.seen.set(addr, { at: now, bytesOut, bytesIn, rateOut: 0, rateIn: 0 });
      return { out: 0, in: 0 };
    }
    const dt = (now - prev.at) / 1000;
    if (dt > 0) {
      const w = 1 - Math.exp(-dt / RATE_WINDOW_S);
      prev.rateOut += (Math.max(0, bytesOut - prev.bytesOut) / dt - prev.rateOut) * w;
      prev.rateIn += (Math.max(0, bytesIn - prev.bytesIn) / dt - prev.rateIn) * w;
      prev.at = now;
      prev.bytesOut = bytesOut;
      prev.bytesIn = bytesIn;
    }
    return { out: Math.round(prev.rateOut), in: Math.round(prev.rateIn) };
  }
}
