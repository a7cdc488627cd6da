// TCP, UDP and ICMP headers: where the ports (or query id) and the checksum live.
import { PROTO_TCP, PROTO_UDP, PROTO_ICMP, END_SRC } from "./layout";
import { ICMP_CHECKSUM, ICMP_HEADER, ICMP_ID, TCP_CHECKSUM, TCP_DATA_OFFSET, TCP_DST_PORT, TCP_HEADER, TCP_SRC_PORT, UDP_CHECKSUM, UDP_HEADER, UDP_LENGTH } from "./wire";





// Offset of the checksum field in the L4 header, or -1 for protocols we do not translate.
@inline
export function checksumOffset(proto: i32): i32 {
  if (proto == PROTO_TCP) return <i32>TCP_CHECKSUM;
  if (proto == PROTO_UDP) return <i32>UDP_CHECKSUM;
  if (proto == PROTO_ICMP) return <i32>ICMP_CHECKSUM;
  return -1;
}

// Offset of the port that names `end` (ICMP queries: the id, the same field for both ends).
@inline
export function portOffset(proto: i32, end: i32): usize {
  if (proto == PROTO_ICMP) return ICMP_ID;
  return end == END_SRC ? TCP_SRC_PORT : TCP_DST_PORT; // same offsets in UDP
}

// The L4 header's length (after l4HeaderOk).
export function l4HeaderLength(l4: usize, proto: i32): i32 {
  return proto == PROTO_TCP ? (<i32>load<u8>(l4 + TCP_DATA_OFFSET) >> 4) << 2 : UDP_HEADER; // ICMP's is 8 too
}

// Is a full L4 header present in `avail` bytes, and is it self-consistent?
export function l4HeaderOk(l4: usize, avail: i32, proto: i32): bool {
  if (proto == PROTO_TCP) {
    if (avail < TCP_HEADER) return false;
    const doff = (<i32>load<u8>(l4 + TCP_DATA_OFFSET) >> 4) << 2;
    return doff >= TCP_HEADER && doff <= avail;
  }
  if (proto == PROTO_UDP) {
    if (avail < UDP_HEADER) return false;
    const ulen = <i32>bswap<u16>(load<u16>(l4 + UDP_LENGTH));
    return ulen >= UDP_HEADER && ulen <= avail;
  }
  if (proto == PROTO_ICMP) return avail >= ICMP_HEADER;
  return false;
}
