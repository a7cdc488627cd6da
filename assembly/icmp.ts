// ICMP message kinds, and the translation of ICMP errors (RFC 5508): the packet embedded in an
// error is one we translated, seen from the other side, so its header is translated back.
import { sum } from "./checksum";
import { ICMP_CHECKSUM, ICMP_TYPE, ICMP_ID } from "./wire";
import {
  ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_TIMESTAMP, ICMP_TIMESTAMP_REPLY,
  ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAM_PROBLEM,
} from "./layout";

export const KIND_OTHER = 0;
export const KIND_REQUEST = 1; // query from the asker: the id names the asker's end (like a source port)
export const KIND_REPLY = 2; // answer: the id names the asker's end (like a destination port)
export const KIND_ERROR = 3;

export function kind(type: u32): i32 {
  if (type == ICMP_ECHO_REQUEST || type == ICMP_TIMESTAMP) return KIND_REQUEST;
  if (type == ICMP_ECHO_REPLY || type == ICMP_TIMESTAMP_REPLY) return KIND_REPLY;
  if (type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAM_PROBLEM) return KIND_ERROR;
  return KIND_OTHER;
}

// The id of an ICMP query, as a number.
@inline export function queryId(icmp: usize): u32 { return <u32>bswap<u16>(load<u16>(icmp + ICMP_ID)); }
@inline export function icmpType(icmp: usize): u32 { return <u32>load<u8>(icmp + ICMP_TYPE); }

// Does the ICMP message of `len` bytes carry a correct checksum?
@inline export function checksumOk(icmp: usize, len: i32): bool { return sum(icmp, len, 0) == 0xffff; }

// Recomputes the checksum of an ICMP message (after its embedded packet changed).
export function recomputeChecksum(icmp: usize, len: i32): void {
  store<u16>(icmp + ICMP_CHECKSUM, 0);
  store<u16>(icmp + ICMP_CHECKSUM, <u16>(~sum(icmp, len, 0) & 0xffff));
}

// Is the embedded IPv4 header at `emb` (with `avail` bytes) usable? Returns its header length or 0.
// The embedded packet is usually cut short, so its total length is not checked; the header
// checksum is, since a translated header is written back with it updated.
export function embeddedHeaderLength(emb: usize, avail: i32): i32 {
  if (avail < 20) return 0;
  const vihl = <i32>load<u8>(emb);
  if ((vihl >> 4) != 4) return 0;
  const ihl = (vihl & 0xf) << 2;
  if (ihl < 20 || ihl + 8 > avail) return 0; // RFC 792: the header and 8 bytes of its payload
  if (sum(emb, ihl, 0) != 0xffff) return 0;
  return ihl;
}

