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
