// IPv4 header (RFC 791): field offsets and validation.
import { headerSum } from "./checksum";
import {
  R_NONE, R_TRUNCATED, R_BAD_VERSION, R_BAD_IHL, R_BAD_TOTAL_LENGTH, R_BAD_IP_CHECKSUM,
  R_BAD_FRAGMENT, R_TTL_EXPIRED,
} from "./layout";
import { IPV4_DST, IPV4_FRAG, IPV4_FRAG_MF, IPV4_FRAG_OFFSET_MASK, IPV4_FRAG_RESERVED, IPV4_PROTO, IPV4_SRC, IPV4_TOTAL_LENGTH, IPV4_TTL } from "./wire";



@inline export function headerLength(ip: usize): i32 { return (<i32>load<u8>(ip) & 0xf) << 2; }
@inline export function totalLength(ip: usize): i32 { return <i32>bswap<u16>(load<u16>(ip + IPV4_TOTAL_LENGTH)); }
@inline export function protocol(ip: usize): i32 { return <i32>load<u8>(ip + IPV4_PROTO); }
@inline export function fragField(ip: usize): u32 { return <u32>bswap<u16>(load<u16>(ip + IPV4_FRAG)); }
@inline export function isFragment(ip: usize): bool {
  return (fragField(ip) & (IPV4_FRAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0;
}
@inline export function srcAddr(ip: usize): u32 { return bswap<u32>(load<u32>(ip + IPV4_SRC)); }
@inline export function dstAddr(ip: usize): u32 { return bswap<u32>(load<u32>(ip + IPV4_DST)); }

// Checks everything the translator relies on, within the `len` bytes that were read.
// `checkTtl` is false for a header embedded in an ICMP error (its TTL may well be 0 or 1).
export function validate(ip: usize, len: i32, checkTtl: bool): u32 {
  if (len < 20) return R_TRUNCATED;
  const vihl = <i32>load<u8>(ip);
  if ((vihl >> 4) != 4) return R_BAD_VERSION;
  const ihl = (vihl & 0xf) << 2;
  if (ihl < 20 || ihl > len) return R_BAD_IHL;
  const total = totalLength(ip);
  if (total < ihl || total > len) return R_BAD_TOTAL_LENGTH;
  if (headerSum(ip, ihl) != 0xffff) return R_BAD_IP_CHECKSUM;
  const frag = fragField(ip);
  if ((frag & IPV4_FRAG_RESERVED) != 0) return R_BAD_FRAGMENT;
  if (((<i32>(frag & IPV4_FRAG_OFFSET_MASK)) << 3) + total - ihl > 65535) return R_BAD_FRAGMENT;
  if (checkTtl && load<u8>(ip + IPV4_TTL) == 0) return R_TTL_EXPIRED;
  return R_NONE;
}
