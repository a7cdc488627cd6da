// Traffic counters: the TypeScript twin of assembly/counters.ts.
import * as L from "../../assembly/layout";
import { mem } from "./memory";

export function add(p: number, v: number): void {
  mem.dv.setFloat64(p, mem.dv.getFloat64(p, true) + v, true);
}

let pktsOut = 0,
  pktsIn = 0,
  bytesOut = 0,
  bytesIn = 0;

export function count(outbound: boolean, packets: number, bytes: number): void {
  if (outbound) {
    pktsOut += packets;
    bytesOut += bytes;
  } else {
    pktsIn += packets;
    bytesIn += bytes;
  }
}

export function flushCounts(stats: number): void {
  add(stats + L.S_PKTS_OUT * 8, pktsOut);
  add(stats + L.S_PKTS_IN * 8, pktsIn);
  add(stats + L.S_BYTES_OUT * 8, bytesOut);
  add(stats + L.S_BYTES_IN * 8, bytesIn);
  pktsOut = 0;
  pktsIn = 0;
  bytesOut = 0;
  bytesIn = 0;
}
