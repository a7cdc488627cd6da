// IPv6 header (RFC 8200): validation, the extension-header walk, and the address scopes a
// gateway never forwards.
import {
  R_NONE, R_TRUNCATED, R_BAD_VERSION, R_BAD_TOTAL_LENGTH, R_TTL_EXPIRED, R_BAD_L4_HEADER, R_FRAGMENT,
  R_UNSUPPORTED, R_ROUTING_HEADER_0, R_MARTIAN, R_LINK_SCOPE,
} from "./layout";
import {
  IPV6_PAYLOAD_LENGTH, IPV6_NEXT_HEADER, IPV6_HOP_LIMIT, IPV6_SRC, IPV6_DST, IPV6_HEADER,
  NH_HOP_BY_HOP, NH_ROUTING, NH_FRAGMENT, NH_DEST_OPTIONS, EXT_NEXT_HEADER, EXT_LENGTH,
  ROUTING_TYPE, ROUTING_SEGMENTS_LEFT, EXT_HEADERS_MAX,
} from "./wire";
import { sum } from "./checksum";
import { PROTO_ICMPV6 } from "./layout";

@inline export function payloadLength(ip: usize): i32 { return <i32>bswap<u16>(load<u16>(ip + IPV6_PAYLOAD_LENGTH)); }

// Checks the fixed header within the `len` bytes read: version, length, hop limit.
// `checkHop` is false for a header embedded in an ICMPv6 error (cut short, its hop limit anything).
export function validate6(ip: usize, len: i32, checkHop: bool): u32 {
  if (len < IPV6_HEADER) return R_TRUNCATED;
  if ((<i32>load<u8>(ip) >> 4) != 6) return R_BAD_VERSION;
  if (!checkHop) return R_NONE;
  const plen = payloadLength(ip);
  if (plen == 0 || IPV6_HEADER + plen > len) return R_BAD_TOTAL_LENGTH; // a jumbogram is not ours
  if (load<u8>(ip + IPV6_HOP_LIMIT) == 0) return R_TTL_EXPIRED;
  return R_NONE;
}

// The walk's results: where the upper-layer header starts (from `ip`) and its protocol.
let upperAt: i32 = 0, upperProto: i32 = 0;
export function upperOffset(): i32 { return upperAt; }
export function upperProtocol(): i32 { return upperProto; }

// Walks the extension headers (hop-by-hop, routing, destination options) to the upper layer,
// within `len` bytes. A fragment header sends the packet to the slow path; a routing header of
// type 0 with segments left is dropped (RFC 5095); anything else (ESP, AH, an unknown next
// header) is an upper layer of its own, "other protocol".
export function walk6(ip: usize, len: i32): u32 {
  let nh = <i32>load<u8>(ip + IPV6_NEXT_HEADER);
  let at = IPV6_HEADER;
  for (let n = 0; n < EXT_HEADERS_MAX; n++) {
    if (nh == NH_FRAGMENT) return R_FRAGMENT;
    if (nh != NH_HOP_BY_HOP && nh != NH_ROUTING && nh != NH_DEST_OPTIONS) {
      upperAt = at; upperProto = nh;
      return R_NONE;
    }
    if (nh == NH_HOP_BY_HOP && at != IPV6_HEADER) return R_BAD_L4_HEADER; // only first (RFC 8200 4.3)
    if (at + 8 > len) return R_BAD_L4_HEADER;
    const h = ip + <usize>at;
    if (nh == NH_ROUTING && load<u8>(h + ROUTING_TYPE) == 0 && load<u8>(h + ROUTING_SEGMENTS_LEFT) != 0) return R_ROUTING_HEADER_0;
    nh = <i32>load<u8>(h + EXT_NEXT_HEADER);
    at += (<i32>load<u8>(h + EXT_LENGTH) + 1) << 3;
  }
  return R_UNSUPPORTED;
}

// The first byte of an address at `a`, and whether all 16 are zero but the last (which is `last`).
@inline function onlyLast(a: usize, last: u8): bool {
  return load<u64>(a) == 0 && load<u32>(a + 8) == 0 && load<u16>(a + 12) == 0 && load<u8>(a + 14) == 0 && load<u8>(a + 15) == last;
}

// A source no interface may send (RFC 4291 2.5.2-2.5.5, RFC 6092 REC-5): the unspecified and
// loopback addresses, IPv4-mapped addresses, multicast.
function martianSource(a: usize): bool {
  if (load<u8>(a) == 0xff) return true;
  if (onlyLast(a, 0) || onlyLast(a, 1)) return true;
  return load<u64>(a) == 0 && load<u32>(a + 8) == 0xffff0000; // ::ffff:0:0/96 (bytes 10-11 are ff ff)
}

// Link-local unicast (fe80::/10): never leaves its link.
@inline function linkLocal(a: usize): bool {
  return load<u8>(a) == 0xfe && (<u32>load<u8>(a + 1) & 0xc0) == 0x80;
}

// What a gateway never forwards, by address: R_NONE if the packet may go on.
export function scope6(ip: usize): u32 {
  const src = ip + IPV6_SRC, dst = ip + IPV6_DST;
  if (linkLocal(src) || linkLocal(dst) || load<u8>(dst) == 0xff) return R_LINK_SCOPE;
  if (martianSource(src)) return R_MARTIAN;
  if (onlyLast(dst, 0) || onlyLast(dst, 1)) return R_MARTIAN;
  return R_NONE;
}

// The sum of an ICMPv6 message of `len` bytes at `icmp` and its pseudo-header (RFC 4443 2.3, RFC
// 8200 8.1: both addresses, the length, next header 58), in memory order as checksum.ts sums:
// 0xffff when its checksum is right.
export function icmp6Sum(ip: usize, icmp: usize, len: i32): u32 {
  const pseudo = sum(ip + IPV6_SRC, 32, <u32>bswap<u16>(<u16>len) + <u32>bswap<u16>(<u16>PROTO_ICMPV6));
  return sum(icmp, len, pseudo);
}
