// NPTv6 (RFC 6296): an inside prefix swapped for an outside prefix of the same length and back,
// stateless, 1:1, with one 16-bit word of the address adjusted so that the address's one's-
// complement sum does not change: no TCP, UDP or ICMPv6 checksum (whose pseudo-header holds the
// address) needs rewriting. This is the TypeScript side: parsing --npt6, the mappings as the
// table header stores them (layout.ts T6_NPT*), and the address mapping the TS core and the slow
// path use; assembly/npt6.ts is the WASM core's.
import * as L from "../../assembly/layout";
import { parseAddr6, parsePrefix6, formatPrefix6, type Prefix6 } from "./addr6";

export interface Npt6 {
  inside: Uint8Array; // 16 bytes, zero past the prefix
  outside: Uint8Array;
  bits: number;
  adjOut: number; // added to the adjusted word, inside -> outside
  adjIn: number; // outside -> inside
}

const fold = (s: number): number => {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
};
const sum16 = (a: Uint8Array): number => {
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += (a[i] << 8) | a[i + 1];
  return fold(s);
};

// The mapping of `inside` onto `outside`: the adjustment is the difference of the two prefixes'
// sums (RFC 6296 3.2), one way and the other.
export function makeNpt6(inside: Prefix6, outside: Prefix6): Npt6 {
  const i = Uint8Array.from(inside.bytes),
    o = Uint8Array.from(outside.bytes);
  const si = sum16(i),
    so = sum16(o);
  return {
    inside: i,
    outside: o,
    bits: inside.bits,
    adjOut: fold(si + (~so & 0xffff)),
    adjIn: fold(so + (~si & 0xffff)),
  };
}

// `--npt6 INSIDE/LEN=OUTSIDE/LEN[,…]`; throws with the reason.
export function parseNpt6(text: string): Npt6[] {
  const out = text.split(",").map((one) => {
    const m = /^([^=]+)=([^=]+)$/.exec(one.trim());
    if (!m) throw new Error(`"${one}" is not INSIDE/LEN=OUTSIDE/LEN`);
    const [inside, outside] = [m[1], m[2]].map((p) => {
      if (!p.includes("/")) throw new Error(`${p}: a prefix wants its length (/48, /56, /64…)`);
      const x = parsePrefix6(p);
      if (parseAddr6(p.split("/")[0]).some((b, i) => b !== x.bytes[i]))
        throw new Error(`${p}: bits set past the prefix length (write ${formatPrefix6(x)})`);
      return x;
    });
    if (inside.bits !== outside.bits)
      throw new Error(`${one}: both prefixes must have one length (RFC 6296 maps addresses 1:1)`);
    if (inside.bits < 1 || inside.bits > 64) throw new Error(`${one}: a prefix of /1 to /64`);
    return makeNpt6(inside, outside);
  });
  if (out.length > L.NPT6_MAX) throw new Error(`at most ${L.NPT6_MAX} mappings`);
  for (const [k, a] of out.entries())
    for (const b of out.slice(k + 1))
      for (const [x, y] of [
        [a.inside, b.inside],
        [a.outside, b.outside],
        [a.inside, b.outside],
        [a.outside, b.inside],
      ])
        if (inPrefix(x, y, Math.min(a.bits, b.bits))) throw new Error("the prefixes of two mappings overlap");
  return out;
}

// Whether the 16 bytes `a` (from `at`) lie in the prefix `p` of `bits`.
export function inPrefix(a: Uint8Array, p: Uint8Array, bits: number, at = 0): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (a[at + i] !== p[i]) return false;
  const rest = bits & 7;
  return rest === 0 || (a[at + full] & (0xff << (8 - rest)) & 0xff) === p[full];
}

// Rewrites the address at `a[at..at+16]` from prefix `from` to prefix `to` (RFC 6296 3.4, 3.5):
// the prefix bits replaced, then `adj` added to the subnet word (/48 and shorter) or to the first
// interface-identifier word that is not 0xffff. False when there is none (the address cannot be
// carried). A sum of 0xffff is written as 0 (the same value in one's complement).
export function mapAddress(a: Uint8Array, at: number, to: Uint8Array, bits: number, adj: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) a[at + i] = to[i];
  const rest = bits & 7;
  if (rest) {
    const mask = (0xff << (8 - rest)) & 0xff;
    a[at + full] = (a[at + full] & ~mask) | to[full];
  }
  let w = 6;
  if (bits > 48) {
    w = 8;
    while (w < 16 && a[at + w] === 0xff && a[at + w + 1] === 0xff) w += 2;
    if (w === 16) return false;
  }
  let s = fold(((a[at + w] << 8) | a[at + w + 1]) + adj);
  if (s === 0xffff) s = 0;
  a[at + w] = s >> 8;
  a[at + w + 1] = s & 0xff;
  return true;
}

// What a packet's addresses become. Each returns the mapping used, -1 when none applies, or
// NPT_REFUSED.
export const NPT_REFUSED = -2;

// A destination from the WAN: an outside address becomes its inside one. An inside address is
// refused (reachable from the WAN only through its outside prefix), as is one that cannot be carried.
export function npt6FromWan(list: Npt6[], a: Uint8Array, at: number): number {
  for (const [k, n] of list.entries()) {
    if (inPrefix(a, n.inside, n.bits, at)) return NPT_REFUSED;
    if (inPrefix(a, n.outside, n.bits, at)) return mapAddress(a, at, n.inside, n.bits, n.adjIn) ? k : NPT_REFUSED;
  }
  return -1;
}

// An inside address becomes its outside one (a source leaving by the WAN).
export function npt6Out(list: Npt6[], a: Uint8Array, at: number): number {
  for (const [k, n] of list.entries())
    if (inPrefix(a, n.inside, n.bits, at)) return mapAddress(a, at, n.outside, n.bits, n.adjOut) ? k : NPT_REFUSED;
  return -1;
}

export const npt6Inside = (list: Npt6[], a: Uint8Array, at: number): boolean =>
  list.some((n) => inPrefix(a, n.inside, n.bits, at));

// The mappings into the table header (the host, before the workers start) and out of it.
export function writeNpt6(dv: DataView, u8: Uint8Array, table: number, list: Npt6[]): void {
  dv.setUint32(table + L.T6_NPT_COUNT, list.length, true);
  list.forEach((n, k) => {
    const e = table + L.T6_NPT + k * L.NPT6_SIZE;
    u8.set(n.inside, e + L.N6_INSIDE);
    u8.set(n.outside, e + L.N6_OUTSIDE);
    u8[e + L.N6_BITS] = n.bits;
    dv.setUint16(e + L.N6_ADJ_OUT, n.adjOut, true);
    dv.setUint16(e + L.N6_ADJ_IN, n.adjIn, true);
  });
}

export function readNpt6(dv: DataView, u8: Uint8Array, table: number): Npt6[] {
  const n = Math.min(L.NPT6_MAX, dv.getUint32(table + L.T6_NPT_COUNT, true));
  return Array.from({ length: n }, (_, k) => {
    const e = table + L.T6_NPT + k * L.NPT6_SIZE;
    return {
      inside: u8.slice(e + L.N6_INSIDE, e + L.N6_INSIDE + 16),
      outside: u8.slice(e + L.N6_OUTSIDE, e + L.N6_OUTSIDE + 16),
      bits: u8[e + L.N6_BITS],
      adjOut: dv.getUint16(e + L.N6_ADJ_OUT, true),
      adjIn: dv.getUint16(e + L.N6_ADJ_IN, true),
    };
  });
}

export const formatNpt6 = (n: Npt6): string =>
  `${formatPrefix6({ bytes: [...n.inside], bits: n.bits })}=${formatPrefix6({ bytes: [...n.outside], bits: n.bits })}`;
