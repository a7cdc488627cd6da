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
  if (len & 2) {
    acc += dv.getUint16(p, true);
    p += 2;
  }
  if (len & 1) acc += mem.u8[p];
  return fold(acc);
}

export const delta16 = (old: number, now: number): number => (~old & 0xffff) + now;
export const delta32 = (old: number, now: number): number =>
  (~old & 0xffff) + ((~old >>> 16) & 0xffff) + (now & 0xffff) + (now >>> 16);
function fold24(s: number): number {
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}
export const applyDelta = (check: number, delta: number): number => ~fold24((~check & 0xffff) + delta) & 0xffff;
export const applyDeltaToSum = (partial: number, delta: number): number => fold24(partial + delta);

export const replace16 = (check: number, old: number, now: number): number => applyDelta(check, delta16(old, now));
export const replace32 = (check: number, old: number, now: number): number => applyDelta(check, delta32(old, now));
export const sumReplace32 = (partial: number, old: number, now: number): number =>
  applyDeltaToSum(partial, delta32(old, now));
