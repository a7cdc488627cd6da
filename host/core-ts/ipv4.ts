// IPv4 header: the TypeScript twin of assembly/ipv4.ts.
import { sum } from "./checksum";
import { mem, be16, beAddr } from "./memory";
import * as L from "../../assembly/layout";

export const IP_TOTAL_LENGTH = 2;
export const IP_FRAG = 6;
export const IP_TTL = 8;
export const IP_PROTO = 9;
export const IP_CHECKSUM = 10;
export const IP_SRC = 12;
export const IP_DST = 16;
export const FRAG_RESERVED = 0x8000;
export const FRAG_MF = 0x2000;
export const FRAG_OFFSET_MASK = 0x1fff;

export const headerLength = (ip: number): number => (mem.u8[ip] & 0xf) << 2;
export const totalLength = (ip: number): number => be16(ip + IP_TOTAL_LENGTH);
export const protocol = (ip: number): number => mem.u8[ip + IP_PROTO];
export const fragField = (ip: number): number => be16(ip + IP_FRAG);
export const isFragment = (ip: number): boolean => (fragField(ip) & (FRAG_MF | FRAG_OFFSET_MASK)) !== 0;
export const srcAddr = (ip: number): number => beAddr(ip + IP_SRC);
export const dstAddr = (ip: number): number => beAddr(ip + IP_DST);

export function validate(ip: number, len: number, checkTtl: boolean): number {
  if (len < 20) return L.R_TRUNCATED;
  const vihl = mem.u8[ip];
  if ((vihl >> 4) !== 4) return L.R_BAD_VERSION;
  const ihl = (vihl & 0xf) << 2;
  if (ihl < 20 || ihl > len) return L.R_BAD_IHL;
  const total = totalLength(ip);
  if (total < ihl || total > len) return L.R_BAD_TOTAL_LENGTH;
  if (sum(ip, ihl, 0) !== 0xffff) return L.R_BAD_IP_CHECKSUM;
  const frag = fragField(ip);
  if ((frag & FRAG_RESERVED) !== 0) return L.R_BAD_FRAGMENT;
  if (((frag & FRAG_OFFSET_MASK) << 3) + total - ihl > 65535) return L.R_BAD_FRAGMENT;
  if (checkTtl && mem.u8[ip + IP_TTL] === 0) return L.R_TTL_EXPIRED;
  return L.R_NONE;
}
