// TCP, UDP and ICMP header offsets: the TypeScript twin of assembly/l4.ts.
import { mem, be16 } from "./memory";
import * as L from "../../assembly/layout";

export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_DATA_OFFSET = 12;
export const TCP_FLAGS = 13;
export const TCP_CHECKSUM = 16;
export const TCP_MIN = 20;
export const UDP_LENGTH = 4;
export const UDP_CHECKSUM = 6;
export const UDP_MIN = 8;
export const ICMP_TYPE = 0;
export const ICMP_CHECKSUM = 2;
export const ICMP_ID = 4;
export const ICMP_MIN = 8;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

const CHECKSUM_OFFSET: Record<number, number> = {
  [L.PROTO_TCP]: TCP_CHECKSUM, [L.PROTO_UDP]: UDP_CHECKSUM, [L.PROTO_ICMP]: ICMP_CHECKSUM,
};

export const checksumOffset = (proto: number): number => CHECKSUM_OFFSET[proto] ?? -1;

export function portOffset(proto: number, end: number): number {
  if (proto === L.PROTO_ICMP) return ICMP_ID;
  return end === L.END_SRC ? TCP_SRC_PORT : TCP_DST_PORT;
}

// The L4 header's length (after l4HeaderOk).
export function l4HeaderLength(l4: number, proto: number): number {
  return proto === L.PROTO_TCP ? (mem.u8[l4 + TCP_DATA_OFFSET] >> 4) << 2 : UDP_MIN; // ICMP's is 8 too
}

export function l4HeaderOk(l4: number, avail: number, proto: number): boolean {
  if (proto === L.PROTO_TCP) {
    if (avail < TCP_MIN) return false;
    const doff = (mem.u8[l4 + TCP_DATA_OFFSET] >> 4) << 2;
    return doff >= TCP_MIN && doff <= avail;
  }
  if (proto === L.PROTO_UDP) {
    if (avail < UDP_MIN) return false;
    const ulen = be16(l4 + UDP_LENGTH);
    return ulen >= UDP_MIN && ulen <= avail;
  }
  if (proto === L.PROTO_ICMP) return avail >= ICMP_MIN;
  return false;
}
