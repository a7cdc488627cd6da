// IPv6 packets for tests (RFC 8200), built with plain byte arithmetic and sharing no code with
// the cores: the fixed header, extension headers, and TCP/UDP/ICMPv6 with the IPv6 pseudo-header.
import { checksum } from "./packets";
import { parseAddr6 } from "../host/net/addr6";

const NH_TCP = 6,
  NH_UDP = 17,
  NH_ICMPV6 = 58;

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 255;
  b[at + 1] = v & 255;
}

// RFC 8200 8.1: source, destination, upper-layer length (32 bits), next header (32 bits).
export function pseudoSum6(src: string, dst: string, nh: number, len: number): number {
  const p = new Uint8Array(40);
  p.set(parseAddr6(src), 0);
  p.set(parseAddr6(dst), 16);
  p[34] = len >> 8;
  p[35] = len & 255;
  p[39] = nh;
  return checksum(p);
}

function withChecksum(b: Uint8Array, at: number, src: string, dst: string, nh: number, zeroAsOnes = false): Uint8Array {
  let c = ~checksum(b, 0, b.length, pseudoSum6(src, dst, nh, b.length)) & 0xffff;
  if (zeroAsOnes && c === 0) c = 0xffff;
  put16(b, at, c);
  return b;
}

export function tcp6(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  flags: number,
  payload: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(20 + payload.length);
  put16(b, 0, sport);
  put16(b, 2, dport);
  b[7] = 1;
  b[12] = 5 << 4;
  b[13] = flags;
  put16(b, 14, 65535);
  b.set(payload, 20);
  return withChecksum(b, 16, src, dst, NH_TCP);
}

export function udp6(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, b.length);
  b.set(payload, 8);
  return withChecksum(b, 6, src, dst, NH_UDP, true);
}

// An ICMPv6 message: type, code, the 4 bytes after the checksum (echo: id << 16 | seq), body.
export function icmp6(
  src: string,
  dst: string,
  type: number,
  code: number,
  rest: number,
  body: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(8 + body.length);
  b[0] = type;
  b[1] = code;
  b[4] = (rest >>> 24) & 255;
  b[5] = (rest >>> 16) & 255;
  b[6] = (rest >>> 8) & 255;
  b[7] = rest & 255;
  b.set(body, 8);
  return withChecksum(b, 2, src, dst, NH_ICMPV6);
}

// An extension header (hop-by-hop, routing, destination options): next header, length in 8-byte
// units past the first 8, then `body` (padded to a multiple of 8 with the first 2 bytes).
export function ext(next: number, body: number[]): Uint8Array {
  const len = Math.ceil((body.length + 2) / 8) * 8;
  const b = new Uint8Array(len);
  b[0] = next;
  b[1] = len / 8 - 1;
  b.set(body, 2);
  return b;
}

export interface Ip6Opts {
  src: string;
  dst: string;
  nh: number; // the first next header (the upper layer, or the first extension header)
  hop?: number;
}

export function ipv6(o: Ip6Opts, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(40 + payload.length);
  b[0] = 0x60;
  put16(b, 4, payload.length);
  b[6] = o.nh;
  b[7] = o.hop ?? 64;
  b.set(parseAddr6(o.src), 8);
  b.set(parseAddr6(o.dst), 24);
  b.set(payload, 40);
  return b;
}

export const NH = { TCP: NH_TCP, UDP: NH_UDP, ICMPV6: NH_ICMPV6, HOP: 0, ROUTING: 43, FRAGMENT: 44, ESP: 50, DEST: 60 };

// One's-complement sum of the bytes as big-endian 16-bit words, folded (not complemented).
export function sum16(a: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 2) s += (a[i] << 8) | (a[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

// Is the upper layer's checksum of an IPv6 packet with no extension headers right over its
// pseudo-header (RFC 8200 8.1)?
export function l4ChecksumOk(p: Uint8Array): boolean {
  const len = p.length - 40;
  const b = new Uint8Array(40 + len);
  b.set(p.subarray(8, 40), 0);
  b[34] = len >> 8;
  b[35] = len & 0xff;
  b[39] = p[6];
  b.set(p.subarray(40), 40);
  return sum16(b) === 0xffff;
}
