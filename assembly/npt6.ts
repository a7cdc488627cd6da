// NPTv6 (RFC 6296) in the IPv6 fast path: an inside prefix swapped for its outside prefix and
// back, stateless, with one 16-bit word of the address adjusted so that no checksum changes
// (host/net/npt6.ts says how, and is the TS core's and the slow path's twin of this file). The
// mappings sit in the table header (layout.ts T6_NPT*), written by the host before the workers
// start; with none, a packet pays one comparison.
import { T6_NPT_COUNT, T6_NPT, NPT6_SIZE, NPT6_MAX, N6_INSIDE, N6_OUTSIDE, N6_BITS, N6_ADJ_OUT, N6_ADJ_IN } from "./layout";

export const NPT_NONE: i32 = -1;
export const NPT_REFUSED: i32 = -2;

let mappings: usize = 0;
export let npt6Count: u32 = 0;

export function setNpt6(tableBase: usize): void {
  mappings = tableBase + T6_NPT;
  npt6Count = min(load<u32>(tableBase + T6_NPT_COUNT), NPT6_MAX);
}

// Whether the address at `a` lies in the prefix at `p` of `bits` (1..64): the first eight bytes
// compared as one big-endian number under the prefix's mask.
@inline function inPrefix(a: usize, p: usize, bits: u32): bool {
  const mask = <u64>-1 << (64 - <u64>bits);
  return (bswap<u64>(load<u64>(a)) & mask) == bswap<u64>(load<u64>(p));
}

// The prefix bits of `a` replaced by `to`'s, then `adj` added (one's complement) to the subnet
// word (/48 and shorter) or to the first interface-identifier word that is not 0xffff; a sum of
// 0xffff is written as 0. False when no word can take it.
function mapAddress(a: usize, to: usize, bits: u32, adj: u32): bool {
  const mask = <u64>-1 << (64 - <u64>bits);
  store<u64>(a, bswap<u64>((bswap<u64>(load<u64>(a)) & ~mask) | bswap<u64>(load<u64>(to))));
  let w: usize = a + 6;
  if (bits > 48) {
    w = a + 8;
    while (w < a + 16 && load<u16>(w) == 0xffff) w += 2;
    if (w == a + 16) return false;
  }
  let s = <u32>bswap<u16>(load<u16>(w)) + adj;
  s = (s & 0xffff) + (s >>> 16);
  if (s == 0xffff) s = 0;
  store<u16>(w, bswap<u16>(<u16>s));
  return true;
}

// A destination from the WAN: an outside address becomes its inside one (the mapping's index).
// An inside address is refused: from the WAN it is reachable only through its outside prefix.
export function npt6FromWan(a: usize): i32 {
  for (let k: u32 = 0; k < npt6Count; k++) {
    const n = mappings + <usize>k * NPT6_SIZE;
    const bits = <u32>load<u8>(n + N6_BITS);
    if (inPrefix(a, n + N6_INSIDE, bits)) return NPT_REFUSED;
    if (inPrefix(a, n + N6_OUTSIDE, bits))
      return mapAddress(a, n + N6_INSIDE, bits, <u32>load<u16>(n + N6_ADJ_IN)) ? <i32>k : NPT_REFUSED;
  }
  return NPT_NONE;
}

// An inside address becomes its outside one (a source leaving by the WAN, or a destination
// given back as it came).
export function npt6Out(a: usize): i32 {
  for (let k: u32 = 0; k < npt6Count; k++) {
    const n = mappings + <usize>k * NPT6_SIZE;
    const bits = <u32>load<u8>(n + N6_BITS);
    if (inPrefix(a, n + N6_INSIDE, bits))
      return mapAddress(a, n + N6_OUTSIDE, bits, <u32>load<u16>(n + N6_ADJ_OUT)) ? <i32>k : NPT_REFUSED;
  }
  return NPT_NONE;
}

export function npt6Inside(a: usize): bool {
  for (let k: u32 = 0; k < npt6Count; k++) {
    const n = mappings + <usize>k * NPT6_SIZE;
    if (inPrefix(a, n + N6_INSIDE, <u32>load<u8>(n + N6_BITS))) return true;
  }
  return false;
}
