// IPv4 header: the TypeScript twin of assembly/ipv4.ts.
import { sum } from "./checksum";
import { mem, be16, beAddr } from "./memory";
import * as L from "../../assembly/layout";
import {
  IPV4_DST,
  IPV4_FRAG,
  IPV4_FRAG_MF,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_FRAG_RESERVED,
  IPV4_PROTO,
  IPV4_SRC,
  IPV4_TOTAL_LENGTH,
  IPV4_TTL,
} from "../../assembly/wire";

export const headerLength = (ip: number): number => (mem.u8[ip] & 0xf) << 2;
export const totalLength = (ip: number): number => be16(ip + IPV4_TOTAL_LENGTH);
export const protocol = (ip: number): number => mem.u8[ip + IPV4_PROTO];
export const fragField = (ip: number): number => be16(ip + IPV4_FRAG);
export const isFragment = (ip: number): boolean => (fragField(ip) & (IPV4_FRAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0;
export const srcAddr = (ip: number): number => beAddr(ip + IPV4_SRC);
export const dstAddr = (ip: number): number => beAddr(ip + IPV4_DST);

export function validate(ip: number, len: number, checkTtl: boolean): number {
  if (len < 20) return L.R_TRUNCATED;
  const vihl = mem.u8[ip];
  if (vihl >> 4 !== 4) return L.R_BAD_VERSION;
  const ihl = (vihl & 0xf) << 2;
  if (ihl < 20 || ihl > len) return L.R_BAD_IHL;
  const total = totalLength(ip);
  if (total < ihl || total > len) return L.R_BAD_TOTAL_LENGTH;
  if (sum(ip, ihl, 0) !== 0xffff) return L.R_BAD_IP_CHECKSUM;
  const frag = fragField(ip);
  if ((frag & IPV4_FRAG_RESERVED) !== 0) return L.R_BAD_FRAGMENT;
  if (((frag & IPV4_FRAG_OFFSET_MASK) << 3) + total - ihl > 65535) return L.R_BAD_FRAGMENT;
  if (checkTtl && mem.u8[ip + IPV4_TTL] === 0) return L.R_TTL_EXPIRED;
  return L.R_NONE;
}
