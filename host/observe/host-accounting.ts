// Per-LAN-host totals as people read them: the shared records (flows that ended, folded in by
// the table's writers) plus the host's live flows, read from the table, and a rolling rate.
// An IPv6 address is a host of its own (a dual-stack host shows as its IPv4 address and each
// IPv6 address it used: the gateway sees addresses, not machines).
// Reading walks the table once; a caller that polls (the status page) may take a read up to
// `maxAgeMs` old, so that several of them cost one walk.
import type { ConnTable } from "../table/conntrack";
import { type HostCounters, type HostRecord, addFlow } from "../table/host-totals";
import { OTHER6, hostKey6 } from "../table/flows6";
import { formatAddr } from "../net/addr";

export const HOST_SORTS = ["bytes", "flows", "rate"] as const;
export type HostSort = (typeof HOST_SORTS)[number];

export interface HostRow {
  host: string; // "other": the hosts past the table's MAX_HOSTS, summed ("other IPv6" for IPv6's)
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
    string,
    { at: number; bytesOut: number; bytesIn: number; rateOut: number; rateIn: number }
  >();

  constructor(private readonly table: ConnTable) {}

  // How long the last read walked the table (ms). It takes no lock: the workers and the table's
  // writers never wait for it; the main thread does nothing else meanwhile.
  lastReadMs = 0;

  // A fresh read (the rates' sample); rows() reuses one up to maxAgeMs old.
  sample(): HostRow[] {
    const now = Date.now();
    const t0 = performance.now();
    this.last = { at: now, rows: this.read(now) };
    this.lastReadMs = performance.now() - t0;
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
    return this.table.hosts.count + this.table.v6.ended.size;
  }

  private read(now: number): HostRow[] {
    const byAddr = new Map<number, HostRecord>();
    for (const r of this.table.hosts.records()) byAddr.set(r.addr, r); // fresh objects: added to in place
    for (const f of this.table.flows()) {
      // a live flow of a host past MAX_HOSTS is counted in "other" (addr 0)
      const h = byAddr.get(f.lanAddr) ?? byAddr.get(0);
      if (h) addFlow(h, f);
    }
    const rows: HostRow[] = [];
    const row = (host: string, h: HostCounters & { live: number }): void => {
      const rate = this.rate(host, now, h.bytesOut, h.bytesIn);
      rows.push({
        host,
        flows: h.live,
        flowsTotal: h.flows,
        bytesOut: h.bytesOut,
        bytesIn: h.bytesIn,
        packetsOut: h.pktsOut,
        packetsIn: h.pktsIn,
        rateOut: rate.out,
        rateIn: rate.in,
      });
    };
    for (const h of byAddr.values()) row(h.addr ? formatAddr(h.addr) : "other", h);
    // IPv6: the ended flows' totals kept by the table, plus the live flows
    const v6 = this.table.v6;
    const byAddr6 = new Map<string, HostCounters & { live: number }>();
    for (const [addr, c] of v6.ended) byAddr6.set(addr, { ...c, live: 0 });
    for (const f of v6.flows()) {
      const key = hostKey6(byAddr6, f.lanAddr);
      const h = byAddr6.get(key) ?? { flows: 0, bytesOut: 0, bytesIn: 0, pktsOut: 0, pktsIn: 0, live: 0 };
      addFlow(h, f);
      h.live += 1;
      byAddr6.set(key, h);
    }
    for (const [addr, h] of byAddr6) row(addr === OTHER6 ? "other IPv6" : addr, h);
    return rows;
  }

  // An exponentially weighted average of the byte rate, whatever the time between reads.
  private rate(addr: string, now: number, bytesOut: number, bytesIn: number): { out: number; in: number } {
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
