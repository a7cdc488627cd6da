// The gateway's traffic, one sample a second for the last ten minutes: what the status page draws.
// A fixed ring of SAMPLES; each sample is the change of the workers' counters over the second.
import { type MemoryMap, statsAddress } from "../shm/memory-map";
import * as L from "../../assembly/layout";

export const SAMPLES = 600;

export interface Sample {
  t: number;
  bitsOut: number;
  bitsIn: number;
  packetsOut: number;
  packetsIn: number;
  connections: number;
}

// The workers' traffic counters, summed: translated bytes and packets each way since start.
export function trafficTotals(
  memory: WebAssembly.Memory,
  map: MemoryMap,
): { bytesOut: number; bytesIn: number; pktsOut: number; pktsIn: number } {
  const t = { bytesOut: 0, bytesIn: 0, pktsOut: 0, pktsIn: 0 };
  for (let id = 0; id < map.workers; id++) {
    const s = new Float64Array(memory.buffer, statsAddress(id), L.STATS_SLOTS);
    t.bytesOut += s[L.S_BYTES_OUT];
    t.bytesIn += s[L.S_BYTES_IN];
    t.pktsOut += s[L.S_PKTS_OUT];
    t.pktsIn += s[L.S_PKTS_IN];
  }
  return t;
}

export class Throughput {
  private readonly ring: Sample[] = [];
  private prev?: { t: number; bytesOut: number; bytesIn: number; pktsOut: number; pktsIn: number };
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly map: MemoryMap,
    private readonly connections: () => number,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
  }
  stop(): void {
    clearInterval(this.timer);
  }

  samples(since = 0): Sample[] {
    return this.ring.filter((s) => s.t > since);
  }

  private sample(): void {
    const now = { t: Date.now(), ...trafficTotals(this.memory, this.map) };
    const p = this.prev;
    this.prev = now;
    if (!p) return;
    const dt = (now.t - p.t) / 1000;
    if (dt <= 0) return;
    this.ring.push({
      t: now.t,
      bitsOut: Math.round((8 * (now.bytesOut - p.bytesOut)) / dt),
      bitsIn: Math.round((8 * (now.bytesIn - p.bytesIn)) / dt),
      packetsOut: Math.round((now.pktsOut - p.pktsOut) / dt),
      packetsIn: Math.round((now.pktsIn - p.pktsIn) / dt),
      connections: this.connections(),
    });
    if (this.ring.length > SAMPLES) this.ring.shift();
  }
}
