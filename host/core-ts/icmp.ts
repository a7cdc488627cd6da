// ICMP kinds and error helpers: the TypeScript twin of assembly/icmp.ts.
import { sum } from "./checksum";
import { mem, be16, setLe16 } from "./memory";
import { ICMP_CHECKSUM, ICMP_ID } from "../../assembly/wire";
import * as L from "../../assembly/layout";

export const KIND_OTHER = 0;
export const KIND_REQUEST = 1;
export const KIND_REPLY = 2;
export const KIND_ERROR = 3;

const KIND_OF_TYPE: Record<number, number> = {
  [L.ICMP_ECHO_REQUEST]: KIND_REQUEST,
  [L.ICMP_TIMESTAMP]: KIND_REQUEST,
  [L.ICMP_ECHO_REPLY]: KIND_REPLY,
  [L.ICMP_TIMESTAMP_REPLY]: KIND_REPLY,
  [L.ICMP_DEST_UNREACH]: KIND_ERROR,
  [L.ICMP_TIME_EXCEEDED]: KIND_ERROR,
  [L.ICMP_PARAM_PROBLEM]: KIND_ERROR,
};

export const kind = (type: number): number => KIND_OF_TYPE[type] ?? KIND_OTHER;
export const queryId = (icmp: number): number => be16(icmp + ICMP_ID);
export const icmpType = (icmp: number): number => mem.u8[icmp];
export const checksumOk = (icmp: number, len: number): boolean => sum(icmp, len, 0) === 0xffff;

export function recomputeChecksum(icmp: number, len: number): void {
  setLe16(icmp + ICMP_CHECKSUM, 0);
  setLe16(icmp + ICMP_CHECKSUM, ~sum(icmp, len, 0) & 0xffff);
}

export function embeddedHeaderLength(emb: number, avail: number): number {
  if (avail < 20) return 0;
  const vihl = mem.u8[emb];
  if (vihl >> 4 !== 4) return 0;
  const ihl = (vihl & 0xf) << 2;
  if (ihl < 20 || ihl + 8 > avail) return 0;
  if (sum(emb, ihl, 0) !== 0xffff) return 0;
  return ihl;
}
