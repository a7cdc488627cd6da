// Lock-free lookups in the IPv6 flow table (layout.ts T6_* and F6_*): the same discipline as the
// IPv4 table (table.ts): writers hold T_LOCK, an index slot is published after its entry is
// complete, a freed entry rests in a FIFO before reuse. A routed flow has one key, its LAN end
// and its far end, whichever way a packet goes; a NAT66 flow has a second, its public port and
// far end, for what comes back to the masquerade address.
import {
  T6_INDEX_SLOTS, T6_ENTRIES, T6_INDEX, T_SEED, F6_SIZE, F6_LAN_ADDR, F6_REMOTE_ADDR, F6_LAN_PORT,
  F6_REMOTE_PORT, F6_PROTO, F6_WAN_PORT, IDX_EMPTY, IDX_TOMBSTONE, H_FLOW6, H6_WAN, T6_WAN_INDEX,
} from "./layout";

let entries: usize = 0, index: usize = 0, wanIndex: usize = 0, slots: u32 = 0, seed: u32 = 0;

export function setTable6(base: usize): void {
  entries = <usize>load<u32>(base + T6_ENTRIES);
  index = <usize>load<u32>(base + T6_INDEX);
  wanIndex = <usize>load<u32>(base + T6_WAN_INDEX);
  slots = load<u32>(base + T6_INDEX_SLOTS);
  seed = load<u32>(base + T_SEED);
}

@inline function mix(h: u32, w: u32, k: u32): u32 { h = (h ^ w) * k; return h ^ (h >>> 15); }

// Mixes an IPv6 flow key into 32 bits: the addresses' eight words as they lie in memory (little-
// endian loads of network-order bytes: both cores read the same), then the ports.
export function hash6(proto: u32, lan: usize, lanPort: u32, remote: usize, remotePort: u32, seed: u32): u32 {
  let h = (H_FLOW6 + proto) ^ seed;
  h = mix(h, load<u32>(lan), 0x85ebca6b); h = mix(h, load<u32>(lan + 4), 0xc2b2ae35);
  h = mix(h, load<u32>(lan + 8), 0x85ebca6b); h = mix(h, load<u32>(lan + 12), 0xc2b2ae35);
  h = mix(h, load<u32>(remote), 0x85ebca6b); h = mix(h, load<u32>(remote + 4), 0xc2b2ae35);
  h = mix(h, load<u32>(remote + 8), 0x85ebca6b); h = mix(h, load<u32>(remote + 12), 0xc2b2ae35);
  h = mix(h, (lanPort << 16) | remotePort, 0x85ebca6b);
  h = h * 0xc2b2ae35; h ^= h >>> 16;
  return h;
}

// NAT66's key: the public port and the far end (the masquerade address is one for all).
export function hashWan6(proto: u32, wanPort: u32, remote: usize, remotePort: u32, seed: u32): u32 {
  let h = (H_FLOW6 + H6_WAN + proto) ^ seed;
  h = mix(h, load<u32>(remote), 0x85ebca6b); h = mix(h, load<u32>(remote + 4), 0xc2b2ae35);
  h = mix(h, load<u32>(remote + 8), 0x85ebca6b); h = mix(h, load<u32>(remote + 12), 0xc2b2ae35);
  h = mix(h, (wanPort << 16) | remotePort, 0x85ebca6b);
  h = h * 0xc2b2ae35; h ^= h >>> 16;
  return h;
}

@inline function same16(a: usize, b: usize): bool { return load<u64>(a) == load<u64>(b) && load<u64>(a + 8) == load<u64>(b + 8); }

export function entry6Address(i: u32): usize { return entries + <usize>i * F6_SIZE; }

// The flow whose LAN end is lan:lanPort and far end remote:remotePort (addresses: 16 bytes at
// those memory addresses), or -1.
export function lookup6(proto: u32, lan: usize, lanPort: u32, remote: usize, remotePort: u32): i32 {
  if (slots == 0) return -1;
  let i = <u32>((<u64>(hash6(proto, lan, lanPort, remote, remotePort, seed) >>> 2) * <u64>slots) >>> 30);
  for (let n: u32 = 0; n < slots; n++) {
    const slot = atomic.load<i32>(index + (<usize>i << 2));
    if (slot == IDX_EMPTY) return -1;
    if (slot != IDX_TOMBSTONE) {
      const e = entry6Address(<u32>(slot - 1));
      if (<u32>load<u16>(e + F6_LAN_PORT) == lanPort && <u32>load<u16>(e + F6_REMOTE_PORT) == remotePort
        && <u32>load<u8>(e + F6_PROTO) == proto && same16(e + F6_LAN_ADDR, lan) && same16(e + F6_REMOTE_ADDR, remote)) return slot - 1;
    }
    i++; if (i == slots) i = 0;
  }
  return -1;
}

// The NAT66 flow whose public port is wanPort and far end remote:remotePort, or -1.
export function lookupWan6(proto: u32, wanPort: u32, remote: usize, remotePort: u32): i32 {
  if (slots == 0 || wanIndex == 0) return -1;
  let i = <u32>((<u64>(hashWan6(proto, wanPort, remote, remotePort, seed) >>> 2) * <u64>slots) >>> 30);
  for (let n: u32 = 0; n < slots; n++) {
    const slot = atomic.load<i32>(wanIndex + (<usize>i << 2));
    if (slot == IDX_EMPTY) return -1;
    if (slot != IDX_TOMBSTONE) {
      const e = entry6Address(<u32>(slot - 1));
      if (<u32>load<u16>(e + F6_WAN_PORT) == wanPort && <u32>load<u16>(e + F6_REMOTE_PORT) == remotePort
        && <u32>load<u8>(e + F6_PROTO) == proto && same16(e + F6_REMOTE_ADDR, remote)) return slot - 1;
    }
    i++; if (i == slots) i = 0;
  }
  return -1;
}
