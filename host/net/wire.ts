// The wire formats the host side reads and writes. The header fields are named once, in
// assembly/wire.ts, which both cores are compiled from too; this file re-exports them and adds
// the records: a packet the host reads is parsed into a record once, one it makes is emitted
// from a record.
import * as L from "../../assembly/layout";
import {
  IPV4_VER_IHL,
  IPV4_TOTAL_LENGTH,
  IPV4_TTL,
  IPV4_PROTO,
  IPV4_SRC,
  IPV4_DST,
  IPV4_HEADER,
  TCP_SRC_PORT,
  TCP_DST_PORT,
  TCP_FLAGS,
  TCP_SYN,
  TCP_ACK,
  ICMP_TYPE,
  ICMP_ID,
} from "../../assembly/wire";

export * from "../../assembly/wire";

export interface Ipv4Repr {
  ihl: number; // header length in bytes
  totalLength: number;
  proto: number;
  src: number;
  dst: number;
}

export function parseIpv4(u8: Uint8Array, dv: DataView, ip: number): Ipv4Repr {
  return {
    ihl: (u8[ip + IPV4_VER_IHL] & 15) * 4,
    totalLength: dv.getUint16(ip + IPV4_TOTAL_LENGTH),
    proto: u8[ip + IPV4_PROTO],
    src: dv.getUint32(ip + IPV4_SRC),
    dst: dv.getUint32(ip + IPV4_DST),
  };
}

// The transport fields the slow path decides on: ports (ICMP queries: the id as source port),
// TCP flags, the ICMP type (-1 for other protocols).
export interface L4Repr {
  sport: number;
  dport: number;
  tcpFlags: number;
  icmpType: number;
}

const ICMP_QUERIES = new Set([L.ICMP_ECHO_REQUEST, L.ICMP_TIMESTAMP]);

export function parseL4(u8: Uint8Array, dv: DataView, l4: number, proto: number): L4Repr {
  if (proto === L.PROTO_TCP || proto === L.PROTO_UDP) {
    return {
      sport: dv.getUint16(l4 + TCP_SRC_PORT),
      dport: dv.getUint16(l4 + TCP_DST_PORT),
      tcpFlags: proto === L.PROTO_TCP ? u8[l4 + TCP_FLAGS] : 0,
      icmpType: -1,
    };
  }
  if (proto === L.PROTO_ICMP) {
    const type = u8[l4 + ICMP_TYPE];
    return { sport: ICMP_QUERIES.has(type) ? dv.getUint16(l4 + ICMP_ID) : 0, dport: 0, tcpFlags: 0, icmpType: type };
  }
  return { sport: 0, dport: 0, tcpFlags: 0, icmpType: -1 };
}

export const isQuery = (icmpType: number): boolean => ICMP_QUERIES.has(icmpType);

// A SYN that opens a connection (SYN without ACK).
export const isSyn = (flags: number): boolean => (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;

// Writes an IPv4 header without options (checksum field zero: the caller seals it).
export function emitIpv4(
  u8: Uint8Array,
  dv: DataView,
  ip: number,
  r: { totalLength: number; ttl: number; proto: number; src: number; dst: number },
): void {
  u8.fill(0, ip, ip + IPV4_HEADER);
  u8[ip + IPV4_VER_IHL] = 0x45; // version 4, 5 words
  dv.setUint16(ip + IPV4_TOTAL_LENGTH, r.totalLength);
  u8[ip + IPV4_TTL] = r.ttl;
  u8[ip + IPV4_PROTO] = r.proto;
  dv.setUint32(ip + IPV4_SRC, r.src);
  dv.setUint32(ip + IPV4_DST, r.dst);
}
