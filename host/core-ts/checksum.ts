// Internet checksum (RFC 1071) and incremental update (RFC 1624): the TypeScript twin of
// assembly/checksum.ts. Sums are over 16-bit words in memory order; see the WASM file for why.
import { mem } from "./memory";

export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc % 65536) + Math.floor(acc / 65536);
  return acc;
}

// The folded one's-complement sum of len bytes at ptr, plus `initial`. Not complemented.
export function sum(ptr: number, len: number, initial: number): number {
  const dv = mem.dv;
  let acc = initial;
  let p = ptr;
  const end4 = ptr + (len & ~3);
  while (p < end4) {
    const w = dv.getUint32(p, true);
    acc += (w & 0xffff) + (w >>> 16);
    p += 4;
  }
  if (len & 2) { acc += dv.getUint16(p, true); p += 2; }
  if (len & 1) acc += mem.u8[p];
  return fold(acc);
}

export function replace16(check: number, old: number, now: number): number {
  return ~fold((~check & 0xffff) + (~old & 0xffff) + now) & 0xffff;
}

export function replace32(check: number, old: number, now: number): number {
  return replace16(replace16(check, old & 0xffff, now & 0xffff), old >>> 16, now >>> 16);
}

export function sumReplace32(partial: number, old: number, now: number): number {
  return fold(partial + (~old & 0xffff) + (now & 0xffff) + ((~old >>> 16) & 0xffff) + (now >>> 16));
}
