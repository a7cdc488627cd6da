// The wire formats the host side reads and writes, field by field (the cores have their own
// copies in assembly/ipv4.ts and l4.ts, typed for AssemblyScript). Offsets are from the start
// of each header; multi-byte fields are in network order. A packet the host reads is parsed
// into a record once; one it makes is emitted from a record.
import * as L from "../../assembly/layout";

// IPv4 header (RFC 791 3.1)
export const IPV4_VER_IHL = 0; // version << 4 | header length in 32-bit words
export const IPV4_TOTAL_LENGTH = 2;
export const IPV4_ID = 4;
export const IPV4_FRAG = 6; // flags << 13 | fragment offset in 8-byte units
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_HEADER = 20; // without options

// TCP header (RFC 9293 3.1)
export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
export const TCP_DATA_OFFSET = 12; // header length in 32-bit words << 4
export const TCP_FLAGS = 13;
export const TCP_CHECKSUM = 16;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK_FLAG = 0x10;

// UDP header (RFC 768)
export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;

// ICMP header (RFC 792)
export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CHECKSUM = 2;
export const ICMP_ID = 4; // echo and timestamp: the query id
export const ICMP_HEADER = 8;

export interface Ipv4Repr {
  ihl: number; // header length in bytes
  totalLength: number;
  proto: number;
  src: number; dst: number;
}

export function parseIpv4(u8: Uint8Array, dv: DataView, ip: number): Ipv4Repr {
  return {
    ihl: (u8[ip + IPV4_VER_IHL] & 15) * 4, totalLength: dv.getUint16(ip + IPV4_TOTAL_LENGTH),
    proto: u8[ip + IPV4_PROTO], src: dv.getUint32(ip + IPV4_SRC), dst: dv.getUint32(ip + IPV4_DST),
  };
}

// The transport fields the slow path decides on: ports (ICMP queries: the id as source port),
// TCP flags, the ICMP type (-1 for other protocols).
export interface L4Repr { sport: number; dport: number; tcpFlags: number; icmpType: number }

const ICMP_QUERIES = new Set([L.ICMP_ECHO_REQUEST, L.ICMP_TIMESTAMP]);

export function parseL4(u8: Uint8Array, dv: DataView, l4: number, proto: number): L4Repr {
  if (proto === L.PROTO_TCP || proto === L.PROTO_UDP) {
    return { sport: dv.getUint16(l4 + TCP_SRC_PORT), dport: dv.getUint16(l4 + TCP_DST_PORT), tcpFlags: proto === L.PROTO_TCP ? u8[l4 + TCP_FLAGS] : 0, icmpType: -1 };
  }
  if (proto === L.PROTO_ICMP) {
    const type = u8[l4 + ICMP_TYPE];
    return { sport: ICMP_QUERIES.has(type) ? dv.getUint16(l4 + ICMP_ID) : 0, dport: 0, tcpFlags: 0, icmpType: type };
  }
  return { sport: 0, dport: 0, tcpFlags: 0, icmpType: -1 };
}

export const isQuery = (icmpType: number): boolean => ICMP_QUERIES.has(icmpType);

// A SYN that opens a connection (SYN without ACK).
export const isSyn = (flags: number): boolean => (flags & (TCP_SYN | TCP_ACK_FLAG)) === TCP_SYN;

// Writes an IPv4 header without options (checksum field zero: the caller seals it).
export function emitIpv4(u8: Uint8Array, dv: DataView, ip: number, r: { totalLength: number; ttl: number; proto: number; src: number; dst: number }): void {
  u8.fill(0, ip, ip + IPV4_HEADER);
  u8[ip + IPV4_VER_IHL] = 0x45; // version 4, 5 words
  dv.setUint16(ip + IPV4_TOTAL_LENGTH, r.totalLength);
  u8[ip + IPV4_TTL] = r.ttl;
  u8[ip + IPV4_PROTO] = r.proto;
  dv.setUint32(ip + IPV4_SRC, r.src);
  dv.setUint32(ip + IPV4_DST, r.dst);
}
