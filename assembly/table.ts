// Lock-free lookups in the shared connection table (layout in layout.ts).
// Writers (the TypeScript slow path and the expiry sweep) hold T_LOCK; readers never lock: an index
// slot is published with an atomic store after its entry is complete, and a freed entry is reused
// only after resting in the FIFO free list, so a reader never sees a half-made entry.
import {
  T_INDEX_SLOTS, T_ENTRIES, T_LAN_INDEX, T_WAN_INDEX, T_SEED, E_SIZE, E_LAN_ADDR, E_REMOTE_ADDR,
  E_WAN_ADDR, E_LAN_PORT, E_REMOTE_PORT, E_WAN_PORT, E_PROTO, IDX_EMPTY, IDX_TOMBSTONE, H_LAN, H_WAN,
} from "./layout";
import { setTable6 } from "./table6";
import { setNpt6 } from "./npt6";
import { setNat66 } from "./nat66";

let table: usize = 0;
// The header's layout fields never change after the host made the table: read them once.
let entries: usize = 0, lanIndex: usize = 0, wanIndex: usize = 0, slots: u32 = 0, seed: u32 = 0;

export function setTable(base: usize): void {
  table = base;
  entries = <usize>load<u32>(base + T_ENTRIES);
  lanIndex = <usize>load<u32>(base + T_LAN_INDEX);
  wanIndex = <usize>load<u32>(base + T_WAN_INDEX);
  slots = load<u32>(base + T_INDEX_SLOTS);
  seed = load<u32>(base + T_SEED);
  setTable6(base);
  setNpt6(base);
  setNat66(base);
}
export function tableBase(): usize { return table; }

// Mixes a 5-tuple into 32 bits (murmur3 finaliser steps); the seed is random per table.
export function hash5(domain: u32, proto: u32, a1: u32, p1: u32, a2: u32, p2: u32, seed: u32): u32 {
  let h = (domain + proto) ^ seed;
  h = (h ^ a1) * 0x85ebca6b; h ^= h >>> 13;
  h = (h ^ a2) * 0xc2b2ae35; h ^= h >>> 16;
  h = (h ^ ((p1 << 16) | p2)) * 0x85ebca6b; h ^= h >>> 13;
  h = h * 0xc2b2ae35; h ^= h >>> 16;
  return h;
}

@inline function entryAt(i: u32): usize { return entries + <usize>i * E_SIZE; }
// Where a key's probe starts: the hash's top 30 bits scaled to the index, a multiply where a
// remainder would divide. With at most 2^23 slots the product stays below 2^53, so the
// TypeScript twin (host/core-ts/table.ts) computes it exactly in a double.
@inline function homeSlot(h: u32): u32 { return <u32>((<u64>(h >>> 2) * <u64>slots) >>> 30); }
// Linear probing over an index of `slots` u32 slots (not a power of two: it is sized to the table).
@inline function nextSlot(i: u32): u32 { i++; return i == slots ? 0 : i; }

// The entry whose LAN side is lanAddr:lanPort talking to remoteAddr:remotePort, or -1.
export function lookupLan(proto: u32, lanAddr: u32, lanPort: u32, remoteAddr: u32, remotePort: u32): i32 {
  const index = lanIndex;
  let i = homeSlot(hash5(H_LAN, proto, lanAddr, lanPort, remoteAddr, remotePort, seed));
  for (let n: u32 = 0; n < slots; n++) {
    const slot = atomic.load<i32>(index + (<usize>i << 2));
    if (slot == IDX_EMPTY) return -1;
    if (slot != IDX_TOMBSTONE) {
      const e = entryAt(<u32>(slot - 1));
      if (load<u32>(e + E_LAN_ADDR) == lanAddr && load<u32>(e + E_REMOTE_ADDR) == remoteAddr
        && <u32>load<u16>(e + E_LAN_PORT) == lanPort && <u32>load<u16>(e + E_REMOTE_PORT) == remotePort
        && <u32>load<u8>(e + E_PROTO) == proto) return slot - 1;
    }
    i = nextSlot(i);
  }
  return -1;
}

// The entry whose WAN side is remoteAddr:remotePort talking to wanAddr:wanPort, or -1.
export function lookupWan(proto: u32, remoteAddr: u32, remotePort: u32, wanAddr: u32, wanPort: u32): i32 {
  const index = wanIndex;
  let i = homeSlot(hash5(H_WAN, proto, remoteAddr, remotePort, wanAddr, wanPort, seed));
  for (let n: u32 = 0; n < slots; n++) {
    const slot = atomic.load<i32>(index + (<usize>i << 2));
    if (slot == IDX_EMPTY) return -1;
    if (slot != IDX_TOMBSTONE) {
      const e = entryAt(<u32>(slot - 1));
      if (load<u32>(e + E_WAN_ADDR) == wanAddr && load<u32>(e + E_REMOTE_ADDR) == remoteAddr
        && <u32>load<u16>(e + E_WAN_PORT) == wanPort && <u32>load<u16>(e + E_REMOTE_PORT) == remotePort
        && <u32>load<u8>(e + E_PROTO) == proto) return slot - 1;
    }
    i = nextSlot(i);
  }
  return -1;
}

export function entryAddress(i: u32): usize { return entryAt(i); }
