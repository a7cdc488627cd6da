// Traffic counters: summed per batch in locals and added to the worker's stats once.
import { S_PKTS_OUT, S_PKTS_IN, S_BYTES_OUT, S_BYTES_IN } from "./layout";

let pktsOut: f64 = 0, pktsIn: f64 = 0, bytesOut: f64 = 0, bytesIn: f64 = 0;

@inline export function count(outbound: bool, packets: i32, bytes: f64): void {
  if (outbound) { pktsOut += <f64>packets; bytesOut += bytes; } else { pktsIn += <f64>packets; bytesIn += bytes; }
}

@inline export function addStat(stats: usize, slot: i32, v: f64): void {
  const p = stats + (<usize>slot << 3);
  store<f64>(p, load<f64>(p) + v);
}

export function flushCounts(stats: usize): void {
  addStat(stats, S_PKTS_OUT, pktsOut); addStat(stats, S_PKTS_IN, pktsIn);
  addStat(stats, S_BYTES_OUT, bytesOut); addStat(stats, S_BYTES_IN, bytesIn);
  pktsOut = 0; pktsIn = 0; bytesOut = 0; bytesIn = 0;
}
