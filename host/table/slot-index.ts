// An open-addressed index in shared memory: `slots` i32 slots from byte address `base`, each
// empty (IDX_EMPTY), deleted (IDX_TOMBSTONE) or a value (an entry + 1), found by linear probing
// from a hash's home slot and wrapping at the end. The IPv4 table's four indexes and the IPv6
// table's two are these; the cores read the same layout without the lock (assembly/table.ts,
// table6.ts), so writers store with atomics and publish a value only once its entry is complete.
import * as L from "../../assembly/layout";
import { homeSlot } from "../core-ts/home-slot";

export interface SlotIndex {
  i32: Int32Array;
  base: number; // byte address of slot 0
  slots: number;
}

const next = (x: SlotIndex, s: number): number => (s + 1 === x.slots ? 0 : s + 1);

// Walks the probe chain of hash `h`; the first value - 1 that `match` accepts, or -1. Readers and
// writers use the same walk.
export function indexProbe(x: SlotIndex, h: number, match: (entry: number) => boolean): number {
  let s = homeSlot(h, x.slots);
  for (let n = 0; n < x.slots; n++) {
    const v = Atomics.load(x.i32, (x.base >> 2) + s);
    if (v === L.IDX_EMPTY) return -1;
    if (v !== L.IDX_TOMBSTONE && match(v - 1)) return v - 1;
    s = next(x, s);
  }
  return -1;
}

export function indexInsert(x: SlotIndex, h: number, value: number): void {
  for (let s = homeSlot(h, x.slots); ; s = next(x, s)) {
    const at = (x.base >> 2) + s;
    const v = Atomics.load(x.i32, at);
    if (v === L.IDX_EMPTY || v === L.IDX_TOMBSTONE) {
      Atomics.store(x.i32, at, value);
      return;
    }
  }
}

export function indexRemove(x: SlotIndex, h: number, value: number): void {
  let s = homeSlot(h, x.slots);
  for (let n = 0; n < x.slots; n++) {
    const at = (x.base >> 2) + s;
    const v = Atomics.load(x.i32, at);
    if (v === L.IDX_EMPTY) return;
    if (v === value) {
      Atomics.store(x.i32, at, L.IDX_TOMBSTONE);
      // A tombstone followed by an empty slot ends no probe chain: clear it, and those before it.
      if (Atomics.load(x.i32, (x.base >> 2) + next(x, s)) === L.IDX_EMPTY) {
        for (let j = s; Atomics.load(x.i32, (x.base >> 2) + j) === L.IDX_TOMBSTONE; j = j === 0 ? x.slots - 1 : j - 1)
          Atomics.store(x.i32, (x.base >> 2) + j, L.IDX_EMPTY);
      }
      return;
    }
    s = next(x, s);
  }
}
