// TCP, UDP and ICMP header offsets: the TypeScript twin of assembly/l4.ts.
import { mem, be16 } from "./memory";
import * as L from "../../assembly/layout";
import {
  ICMP_CHECKSUM,
  ICMP_HEADER,
  ICMP_ID,
  TCP_CHECKSUM,
  TCP_DATA_OFFSET,
  TCP_DST_PORT,
  TCP_HEADER,
  TCP_SRC_PORT,
  UDP_CHECKSUM,
  UDP_HEADER,
  UDP_LENGTH,
} from "../../assembly/wire";

const CHECKSUM_OFFSET: Record<number, number> = {
  [L.PROTO_TCP]: TCP_CHECKSUM,
  [L.PROTO_UDP]: UDP_CHECKSUM,
  [L.PROTO_ICMP]: ICMP_CHECKSUM,
};

export const checksumOffset = (proto: number): number => CHECKSUM_OFFSET[proto] ?? -1;

export function portOffset(proto: number, end: number): number {
  if (proto === L.PROTO_ICMP) return ICMP_ID;
  return end === L.END_SRC ? TCP_SRC_PORT : TCP_DST_PORT;
}

// The L4 header's length (after l4HeaderOk).
export function l4HeaderLength(l4: number, proto: number): number {
  return proto === L.PROTO_TCP ? (mem.u8[l4 + TCP_DATA_OFFSET] >> 4) << 2 : UDP_HEADER; // ICMP's is 8 too
}

export function l4HeaderOk(l4: number, avail: number, proto: number): boolean {
  if (proto === L.PROTO_TCP) {
    if (avail < TCP_HEADER) return false;
    const doff = (mem.u8[l4 + TCP_DATA_OFFSET] >> 4) << 2;
    return doff >= TCP_HEADER && doff <= avail;
  }
  if (proto === L.PROTO_UDP) {
    if (avail < UDP_HEADER) return false;
    const ulen = be16(l4 + UDP_LENGTH);
    return ulen >= UDP_HEADER && ulen <= avail;
  }
  if (proto === L.PROTO_ICMP) return avail >= ICMP_HEADER;
  return false;
}
