// The wire formats' header fields, by name (as smoltcp's src/wire/ `field` modules): offsets in
// bytes from the start of each header; multi-byte fields are in network order.
//
// Like layout.ts, this one file is compiled by AssemblyScript into the WASM core AND imported by
// the TypeScript core twin and the host (host/net/wire.ts re-exports it), so every side reads a
// field at the same place by construction. Keep it to plain `export const NAME = <integer>;`
// lines: valid in both languages.

// ---- IPv4 header (RFC 791 3.1) --------------------------------------------------------------------
export const IPV4_VER_IHL = 0; // version << 4 | header length in 32-bit words
export const IPV4_TOTAL_LENGTH = 2;
export const IPV4_ID = 4;
export const IPV4_FRAG = 6; // flags << 13 | fragment offset in 8-byte units
export const IPV4_TTL = 8; // the 16-bit word here is TTL | protocol << 8 in memory order
export const IPV4_PROTO = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_HEADER = 20; // without options
export const IPV4_FRAG_RESERVED = 0x8000; // bits of the IPV4_FRAG field
export const IPV4_FRAG_MF = 0x2000; // more fragments
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;

// ---- TCP header (RFC 9293 3.1) ----------------------------------------------------------------------
export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK_SEQ = 8; // the acknowledgment number
export const TCP_DATA_OFFSET = 12; // header length in 32-bit words << 4
export const TCP_FLAGS = 13;
export const TCP_CHECKSUM = 16;
export const TCP_HEADER = 20; // without options
export const TCP_FIN = 0x01; // bits of the TCP_FLAGS byte
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

// ---- UDP header (RFC 768) ---------------------------------------------------------------------------
export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;
export const UDP_LENGTH = 4;
export const UDP_CHECKSUM = 6;
export const UDP_HEADER = 8;

// ---- ICMP header (RFC 792) --------------------------------------------------------------------------
export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CHECKSUM = 2;
export const ICMP_ID = 4; // echo and timestamp: the query id
export const ICMP_HEADER = 8;

// ---- IPv6 header (RFC 8200 3) -----------------------------------------------------------------------
export const IPV6_VER_CLASS = 0; // version << 4 | traffic class, flow label
export const IPV6_PAYLOAD_LENGTH = 4;
export const IPV6_NEXT_HEADER = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
export const IPV6_HEADER = 40;
export const IPV6_ADDR_SIZE = 16;

// ---- IPv6 extension headers (RFC 8200 4): next-header values and fields -----------------------------
export const NH_HOP_BY_HOP = 0;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_ESP = 50;
export const NH_AH = 51;
export const NH_NONE = 59;
export const NH_DEST_OPTIONS = 60;
export const EXT_NEXT_HEADER = 0; // every extension header starts with these two bytes
export const EXT_LENGTH = 1; // in 8-byte units, not counting the first 8
export const ROUTING_TYPE = 2;
export const ROUTING_SEGMENTS_LEFT = 3;
export const EXT_HEADERS_MAX = 8; // a longer chain is not walked by the fast path
export const FRAGMENT_OFFSET = 2; // u16: offset in 8-byte units << 3 | M (more fragments)
export const FRAGMENT_ID = 4; // u32: the datagram's identification
export const FRAGMENT_HEADER = 8;

// ---- ICMPv6 (RFC 4443) ------------------------------------------------------------------------------
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAM_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_ROUTER_SOLICIT = 133; // 133-137: neighbour discovery, link scope only
export const ICMPV6_REDIRECT = 137;
export const ICMPV6_ERROR_MAX = 127; // types below 128 are errors
