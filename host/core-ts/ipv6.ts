// IPv6 header: the TypeScript twin of assembly/ipv6.ts.
import * as L from "../../assembly/layout";
import * as W from "../../assembly/wire";
import { mem, be16, le32, bswap16 } from "./memory";
import { sum } from "./checksum";

export const payloadLength = (ip: number): number => be16(ip + W.IPV6_PAYLOAD_LENGTH);

export function validate6(ip: number, len: number, checkHop: boolean): number {
  if (len < W.IPV6_HEADER) return L.R_TRUNCATED;
  if (mem.u8[ip] >> 4 !== 6) return L.R_BAD_VERSION;
  if (!checkHop) return L.R_NONE;
  const plen = payloadLength(ip);
  if (plen === 0 || W.IPV6_HEADER + plen > len) return L.R_BAD_TOTAL_LENGTH;
  if (mem.u8[ip + W.IPV6_HOP_LIMIT] === 0) return L.R_TTL_EXPIRED;
  return L.R_NONE;
}

let upperAt = 0,
  upperProto = 0;
export const upperOffset = (): number => upperAt;
export const upperProtocol = (): number => upperProto;

export function walk6(ip: number, len: number): number {
  const u8 = mem.u8;
  let nh = u8[ip + W.IPV6_NEXT_HEADER];
  let at = W.IPV6_HEADER;
  for (let n = 0; n < W.EXT_HEADERS_MAX; n++) {
    if (nh === W.NH_FRAGMENT) return L.R_FRAGMENT;
    if (nh !== W.NH_HOP_BY_HOP && nh !== W.NH_ROUTING && nh !== W.NH_DEST_OPTIONS) {
      upperAt = at;
      upperProto = nh;
      return L.R_NONE;
    }
    if (nh === W.NH_HOP_BY_HOP && at !== W.IPV6_HEADER) return L.R_BAD_L4_HEADER;
    if (at + 8 > len) return L.R_BAD_L4_HEADER;
    const h = ip + at;
    if (nh === W.NH_ROUTING && u8[h + W.ROUTING_TYPE] === 0 && u8[h + W.ROUTING_SEGMENTS_LEFT] !== 0)
      return L.R_ROUTING_HEADER_0;
    nh = u8[h + W.EXT_NEXT_HEADER];
    at += (u8[h + W.EXT_LENGTH] + 1) << 3;
  }
  return L.R_UNSUPPORTED;
}

const onlyLast = (a: number, last: number): boolean =>
  le32(a) === 0 && le32(a + 4) === 0 && le32(a + 8) === 0 && mem.dv.getUint32(a + 12, false) === last;

function martianSource(a: number): boolean {
  if (mem.u8[a] === 0xff) return true;
  if (onlyLast(a, 0) || onlyLast(a, 1)) return true;
  return le32(a) === 0 && le32(a + 4) === 0 && le32(a + 8) === 0xffff0000;
}

const linkLocal = (a: number): boolean => mem.u8[a] === 0xfe && (mem.u8[a + 1] & 0xc0) === 0x80;

export function scope6(ip: number): number {
  const src = ip + W.IPV6_SRC,
    dst = ip + W.IPV6_DST;
  if (linkLocal(src) || linkLocal(dst) || mem.u8[dst] === 0xff) return L.R_LINK_SCOPE;
  if (martianSource(src)) return L.R_MARTIAN;
  if (onlyLast(dst, 0) || onlyLast(dst, 1)) return L.R_MARTIAN;
  return L.R_NONE;
}

// The sum of an ICMPv6 message and its pseudo-header (assembly/ipv6.ts icmp6Sum): 0xffff when its
// checksum is right.
export function icmp6Sum(ip: number, icmp: number, len: number): number {
  const pseudo = sum(ip + W.IPV6_SRC, 32, bswap16(len & 0xffff) + bswap16(L.PROTO_ICMPV6));
  return sum(icmp, len, pseudo);
}
