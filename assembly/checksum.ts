// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// All sums here are taken over 16-bit words read in memory order (little-endian loads). The
// one's-complement sum is byte-order independent, so a checksum computed this way and stored back
// with a little-endian store has the right bytes on the wire, and no byte swap is ever needed.

// Folds a 32/64-bit accumulator to 16 bits with end-around carry.
@inline
export function fold(acc: u64): u32 {
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  return <u32>acc;
}

// The folded one's-complement sum of len bytes at ptr, plus `initial`. Not complemented.
// SIMD: 64 bytes per step, 16-bit words widened pairwise into four 32-bit lanes.
export function sum(ptr: usize, len: i32, initial: u32): u32 {
  let acc: u64 = <u64>initial;
  let p = ptr;
  let left = len;
  while (left >= 64) {
    // A lane gains at most 4 * 2 * 0xffff per step; 4096 steps stay below 2^32.
    let steps = left >> 6;
    if (steps > 4096) steps = 4096;
    let v = i32x4.splat(0);
    for (let i = 0; i < steps; i++) {
      v = i32x4.add(v, i32x4.extadd_pairwise_i16x8_u(v128.load(p)));
      v = i32x4.add(v, i32x4.extadd_pairwise_i16x8_u(v128.load(p, 16)));
      v = i32x4.add(v, i32x4.extadd_pairwise_i16x8_u(v128.load(p, 32)));
      v = i32x4.add(v, i32x4.extadd_pairwise_i16x8_u(v128.load(p, 48)));
      p += 64;
    }
    left -= steps << 6;
    acc += <u64>i32x4.extract_lane(v, 0) & 0xffffffff;
    acc += <u64>i32x4.extract_lane(v, 1) & 0xffffffff;
    acc += <u64>i32x4.extract_lane(v, 2) & 0xffffffff;
    acc += <u64>i32x4.extract_lane(v, 3) & 0xffffffff;
  }
  while (left >= 8) {
    let w = load<u64>(p);
    acc += (w & 0xffffffff) + (w >> 32);
    p += 8;
    left -= 8;
  }
  while (left >= 2) {
    acc += <u64>load<u16>(p);
    p += 2;
    left -= 2;
  }
  if (left > 0) acc += <u64>load<u8>(p); // odd byte: padded with a zero byte after it
  return fold(acc);
}

// The sum of an IPv4 header (`len` a multiple of 4, 20..60 bytes): 32-bit loads, no SIMD set-up.
@inline
export function headerSum(ptr: usize, len: i32): u32 {
  let acc: u64 = <u64>load<u32>(ptr) + <u64>load<u32>(ptr, 4) + <u64>load<u32>(ptr, 8)
    + <u64>load<u32>(ptr, 12) + <u64>load<u32>(ptr, 16);
  for (let p = ptr + 20, end = ptr + <usize>len; p < end; p += 4) acc += <u64>load<u32>(p);
  return fold(acc);
}

// Incremental update (RFC 1624 eqn. 3), split so that several changed words cost one fold:
// a delta sums ~old + new for each changed 16-bit word; applying it folds once.
@inline export function delta16(old: u32, now: u32): u32 { return (~old & 0xffff) + now; }
@inline export function delta32(old: u32, now: u32): u32 {
  return (~old & 0xffff) + ((~old) >>> 16) + (now & 0xffff) + (now >>> 16);
}
// Folds a sum below 2^24 to 16 bits.
@inline function fold24(s: u32): u32 { s = (s & 0xffff) + (s >>> 16); return (s & 0xffff) + (s >>> 16); }

// The checksum field `check` after the words summed in `delta` changed.
@inline export function applyDelta(check: u32, delta: u32): u32 { return ~fold24((~check & 0xffff) + delta) & 0xffff; }
// The same for a field that holds an uncomplemented partial sum (virtio NEEDS_CSUM: the
// pseudo-header sum the kernel will finish), which must be adjusted, never complemented.
@inline export function applyDeltaToSum(partial: u32, delta: u32): u32 { return fold24(partial + delta); }

export function replace16(check: u32, old: u32, now: u32): u32 { return applyDelta(check, delta16(old, now)); }
export function replace32(check: u32, old: u32, now: u32): u32 { return applyDelta(check, delta32(old, now)); }
export function sumReplace32(partial: u32, old: u32, now: u32): u32 { return applyDeltaToSum(partial, delta32(old, now)); }
