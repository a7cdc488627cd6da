// The shared-memory map, verdicts and drop reasons.
//
// This one file is compiled by AssemblyScript into the WASM core AND imported by the TypeScript
// host and the TypeScript core twin, so both sides agree on every offset by construction.
// Keep it to plain `export const NAME = <small integer>;` lines: valid in both languages.

// ---- Memory map (byte addresses in the shared WebAssembly.Memory) -------------------------------
// [0, MEM_RESERVED)        the WASM module's own static data and stack (stub runtime, no heap use)
// [WORKERS_BASE, ...)      one block per worker: stats, batch descriptors, packet slab
// [table base, ...)        the connection table (header, entries, indexes, port table); see below
export const MEM_RESERVED = 65536;
export const WASM_PAGE = 65536;
export const MEMORY_MAX_PAGES = 8192; // 512 MiB: must equal asconfig's maximumMemory

// ---- Batch descriptors ---------------------------------------------------------------------------
// One descriptor per packet, 16 bytes: where the packet is and what to do with it.
export const D_OFFSET = 0; // u32 address of the virtio_net_hdr that precedes the IPv4 packet
export const D_LENGTH = 4; // u32 bytes read from TUN (virtio_net_hdr included)
export const D_VERDICT = 8; // u32 one of V_* (written by the core)
export const D_REASON = 12; // u32 drop reason (R_*) or, for V_FORWARD, the entry index + 1
export const D_SIZE = 16;

export const V_FORWARD = 0; // translated in place: write it back
export const V_DROP = 1; // malformed or refused: count D_REASON and drop
export const V_SLOW = 2; // no fast-path answer: the TypeScript slow path decides

// ---- Drop reasons (also the index of the counter in a worker's stats) -----------------------------
export const R_NONE = 0;
export const R_TRUNCATED = 1; // fewer bytes than an IPv4 header, or than a virtio_net_hdr
export const R_BAD_VERSION = 2;
export const R_BAD_IHL = 3;
export const R_BAD_TOTAL_LENGTH = 4;
export const R_BAD_IP_CHECKSUM = 5;
export const R_BAD_FRAGMENT = 6; // reserved flag, or offset + length past 65535
export const R_TTL_EXPIRED = 7;
export const R_BAD_L4_HEADER = 8; // TCP/UDP/ICMP header truncated or inconsistent
export const R_BAD_ICMP = 9; // ICMP error whose checksum or embedded packet is wrong
export const R_BAD_VNET_HDR = 10; // offload metadata that does not fit the packet
export const R_NO_MAPPING = 11; // inbound packet that matches no connection
export const R_POLICY = 12; // refused by the forward policy
export const R_TABLE_FULL = 13;
export const R_FRAGMENT = 14; // fragments are not translated by the fast path
export const R_UNSUPPORTED = 15; // protocol or ICMP type that is not masqueraded
export const R_ALG = 16; // not a drop: translated, and an application helper (FTP) wants to see it
export const R_SPOOFED = 17; // source not reachable through the interface it came in on (reverse path)
export const R_MARTIAN = 18; // source that no interface may send: 0/8, 127/8, multicast, class E, ours
export const R_NO_WAN = 19; // a new outbound flow while the WAN has no address or route
export const R_HOST_LIMIT = 20; // a new flow of a LAN host that has --max-conns-per-host flows already
export const R_LINK_SCOPE = 21; // IPv6 link-local or multicast source or destination, ND/RA/RS: never forwarded
export const R_ROUTING_HEADER_0 = 22; // IPv6 routing header type 0 with segments left (RFC 5095)
export const R_UNIQUE_LOCAL = 23; // an IPv6 unique local address (fc00::/7) across the WAN (RFC 6092 REC-7)
export const R_NPT = 24; // NPTv6: from the WAN to an inside address, or an address the mapping cannot carry
export const R_COUNT = 25;

// ---- Ingress: which side of the gateway a batch came in on -----------------------------------------
// Every ingress interface has its own TUN device (host/kernel/follow-network.ts makes them,
// host/kernel/wiring.ts routes into them), so the worker knows it.
// A packet from the WAN may only use a flow's WAN-side key, a packet from inside only the LAN-side
// key (and the WAN-side key of a fixed flow: a LAN client of a redirect): a WAN host that forges
// a LAN source never reaches a flow's outbound half.
export const IN_INSIDE = 0; // a LAN (or other non-WAN) interface, or the gateway itself
export const IN_WAN = 1;

// ---- Worker block ---------------------------------------------------------------------------------
// WORKERS_BASE + id * WORKER_SIZE. Stats are f64 counters (exact to 2^53, plain stores from both cores).
export const WORKERS_BASE = 65536;
export const W_STATS = 0; // f64[64]
export const W_DESC = 512; // descriptors, BATCH_MAX * D_SIZE
export const W_SLAB = 2048; // BATCH_MAX slots of SLOT_SIZE bytes
export const BATCH_MAX = 64;
export const SLOT_SIZE = 65664; // 10-byte virtio_net_hdr + a 64 KiB GSO super-packet, 64-byte aligned
export const WORKER_SIZE = 4206592; // W_SLAB + BATCH_MAX * SLOT_SIZE, rounded up to 4 KiB

export const S_PKTS_OUT = 0; // stats slots (f64 index); drops are at S_DROPS + reason
export const S_PKTS_IN = 1;
export const S_BYTES_OUT = 2;
export const S_BYTES_IN = 3;
export const S_SLOW = 4;
export const S_BATCHES = 5;
export const S_PASSED = 6; // packets handed back untranslated (the gateway's own traffic)
export const S_DROPS = 16; // 16 + R_*: drops by reason (R_COUNT of them)
export const S_WRITE_ERRORS = 48; // the worker's own slots (host/worker/loop.ts), past the drops
export const S_REPLIES = 49; // ICMP errors the slow path sent
export const S_SLOW_ERRORS = 50; // packets the slow path failed on (dropped)
export const S_READS = 51; // reads from the TUN queue: super-packets, each one or many wire packets
export const S_READ_BYTES = 52; // bytes of those reads (IP, without the virtio header)
export const S_STANDBY = 53; // packets read and dropped while this gateway is an HA backup
export const STATS_SLOTS = 64; // f64 slots in W_STATS

// ---- Connection table header (at the table base) --------------------------------------------------
export const T_MAX_CONNS = 0; // u32 number of entries
export const T_INDEX_SLOTS = 4; // u32 slots per index (1.4 * MAX_CONNS: an index is at most 5/7 full)
export const T_ENTRIES = 8; // u32 address of entry 0
export const T_LAN_INDEX = 12; // u32 address of the LAN-side key index (u32 slots)
export const T_WAN_INDEX = 16; // u32 address of the WAN-side key index
export const T_MAP_INDEX = 20; // u32 address of the mapping index (lan addr:port -> public port)
export const T_PORTS = 24; // u32 address of the port table
export const T_NOW = 28; // u32 seconds since the table was made; the host ticks it
export const T_LOCK = 32; // i32 writers' lock (0 free, 1 held)
export const T_FREE_HEAD = 36; // u32 first free entry + 1 (0: none); FIFO, so a freed entry rests
export const T_FREE_TAIL = 40; // u32 last free entry + 1
export const T_LIVE = 44; // u32 live entries
export const T_SEED = 48; // u32 hash seed, random per start
export const T_MSS_CLAMP = 52; // u32 clamp TCP MSS on SYN to this (0: off)
export const T_STOP = 56; // i32 workers stop when this is non-zero
export const T_FULL_DROPS = 60; // u32 new flows refused because the table was full
export const T_TIMEOUT_UDP = 64; // u32 seconds
export const T_TIMEOUT_TCP_EST = 68;
export const T_TIMEOUT_TCP_TRANS = 72;
export const T_TIMEOUT_ICMP = 76;
export const T_PORT_MIN = 80; // u32 NAT port range for ports >= 1024
export const T_PORT_MAX = 84;
export const T_HOST_LIMIT = 88; // u32 flows one LAN host may have (0: no limit)
export const T_HOST_LIMIT_DROPS = 92; // u32 new flows refused for that
export const T_UNUSED = 96; // u32 entries from this one on were never used (zero): taken before the free list
export const T_WORKERS_READING = 100; // i32 workers whose loop reads its queues: "ready" waits for all (host/worker/readiness.ts)
export const T_PSID_BITS = 104; // u32 MAP-E: the PSID's length k; 0: no port set, the ranges above
export const T_PSID = 108; // u32 MAP-E: the CE's PSID (its ports: host/table/port-space.ts)
export const T_PSID_OFFSET = 112; // u32 MAP-E: the PSID offset a
// The IPv6 flow table: a region of its own (entries keyed by 128-bit addresses, one index),
// with the IPv4 table's lock, clock and timeouts.
export const T6_MAX_FLOWS = 128; // u32 number of IPv6 entries
export const T6_INDEX_SLOTS = 132; // u32 slots of its index (1.4 * T6_MAX_FLOWS)
export const T6_ENTRIES = 136; // u32 address of IPv6 entry 0
export const T6_INDEX = 140; // u32 address of its index (u32 slots, entry + 1)
export const T6_FREE_HEAD = 144; // u32 first free entry + 1 (FIFO, as T_FREE_HEAD)
export const T6_FREE_TAIL = 148;
export const T6_LIVE = 152; // u32 live IPv6 entries
export const T6_UNUSED = 156; // u32 entries from this one on were never used
export const T6_FULL_DROPS = 160; // u32 new IPv6 flows refused because the table was full
export const T6_NPT_COUNT = 164; // u32 NPTv6 mappings at T6_NPT (0: none)
export const T6_MASQ_ADDR = 168; // 16 bytes: the WAN's IPv6 address NAT66 masquerades as (all zero: none)
export const T6_WAN_INDEX = 184; // u32 address of NAT66's index (public port, remote end) -> entry + 1
export const T6_NPT = 192; // NPT6_MAX mappings of NPT6_SIZE bytes
export const T_HEADER_SIZE = 384;

// ---- NPTv6 mapping (RFC 6296: stateless, checksum-neutral), written once at start ------------------
// An inside prefix and an outside prefix of one length (/1 to /64), with the one's-complement
// adjustment each way: added to the subnet word (bits 48-63) for /48 and shorter, else to the
// first interface-identifier word that is not 0xffff (RFC 6296 3.4, 3.5).
export const NPT6_MAX = 4;
export const N6_INSIDE = 0; // 16 bytes, the bits past the prefix zero
export const N6_OUTSIDE = 16; // 16 bytes
export const N6_BITS = 32; // u8 prefix length
export const N6_ADJ_OUT = 34; // u16 inside -> outside (a number, not wire order)
export const N6_ADJ_IN = 36; // u16 outside -> inside
export const NPT6_SIZE = 40;

// ---- Connection entry (64 bytes: one cache line) -----------------------------------------------------
// Addresses and ports are stored as numbers (10.0.0.1 = 0x0a000001), not in wire order.
export const E_LAN_ADDR = 0; // u32 the LAN host
export const E_REMOTE_ADDR = 4; // u32 the far end
export const E_NEXT_FREE = 4; // u32 when free: next free entry + 1 (a free entry has no key)
export const E_WAN_ADDR = 8; // u32 the public (masquerade) address
export const E_LAN_PORT = 12; // u16 (ICMP: query id)
export const E_REMOTE_PORT = 14; // u16 (ICMP: 0)
export const E_WAN_PORT = 16; // u16 public port (ICMP: public query id)
export const E_PROTO = 18; // u8 6, 17 or 1; 0 when the entry is free
export const E_STATE = 19; // u8 TS_* bits | ES_FIXED | ES_ALG
export const E_LAST_SEEN = 20; // u32 T_NOW of the last packet; when free: when it was freed
export const E_BYTES_OUT = 24; // f64
export const E_BYTES_IN = 32; // f64
export const E_PKTS_OUT = 40; // f64 packets on the wire (a GSO super-packet counts its segments)
export const E_PKTS_IN = 48; // f64
export const E_CREATED = 56; // u32 T_NOW when the flow was made
export const E_SIZE = 64;

// ---- IPv6 flow entry (80 bytes) -----------------------------------------------------------------------
// Routed, not translated (RFC 6092): the entry is the flow's state, keyed by the LAN end and the far
// end. Addresses are stored as on the wire (16 bytes, network order); ports as numbers.
export const F6_LAN_ADDR = 0; // 16 bytes: the inside host
export const F6_REMOTE_ADDR = 16; // 16 bytes: the far end
export const F6_NEXT_FREE = 16; // u32 when free: next free entry + 1
export const F6_LAN_PORT = 32; // u16 (ICMPv6 echo: the identifier)
export const F6_REMOTE_PORT = 34; // u16 (ICMPv6 echo: 0)
export const F6_PROTO = 36; // u8 6, 17 or 58; 0 when free
export const F6_STATE = 37; // u8 TS_* bits | ES_FIXED (opened by a rule from the WAN side)
export const F6_WAN_PORT = 38; // u16 NAT66: the public port (ICMPv6 echo: identifier) at T6_MASQ_ADDR; 0: routed
export const F6_LAST_SEEN = 40; // u32 T_NOW of the last packet; when free: when it was freed
export const F6_CREATED = 44; // u32
export const F6_BYTES_OUT = 48; // f64
export const F6_BYTES_IN = 56; // f64
export const F6_PKTS_OUT = 64; // f64
export const F6_PKTS_IN = 72; // f64
export const F6_SIZE = 80;

// ---- IPv6 pinholes (24 bytes each): inbound openings a LAN host asked for with PCP -----------------
// RFC 6887 MAP with an IPv6 internal address: the firewall lets the WAN in to that address:port
// (nothing is translated) until the lifetime ends. Written by the host's PCP server, read by the
// slow path, both under the table's lock.
export const PINHOLES6 = 256;
export const PH6_ADDR = 0; // 16 bytes
export const PH6_PORT = 16; // u16
export const PH6_PROTO = 18; // u8 6 or 17; 0 free
export const PH6_EXPIRES = 20; // u32 T_NOW when it closes
export const PH6_WAN_PORT = 24; // u16 under NAT66: the public port it holds (0: a pinhole, nothing translated)
export const PH6_SIZE = 28;

// Flags set when the entry is made; the fast path keeps them when it adds TCP bits.
export const ES_FIXED = 64; // port forward or redirect: fixed ports, no port-table mapping
export const ES_ALG = 128; // every packet also goes to an application helper (FTP control)

// TCP state: a small set of facts, enough to choose the RFC 5382 timeout.
export const TS_SYN_OUT = 1; // SYN seen from the LAN side
export const TS_SYN_IN = 2; // SYN seen from the WAN side
export const TS_ESTABLISHED = 4; // both sides have talked (ACK after SYNs, or picked up mid-stream)
export const TS_FIN_OUT = 8;
export const TS_FIN_IN = 16;
export const TS_RST = 32;
export const TS_MASK = 63;

// Index slots hold entry + 1; 0 is empty; IDX_TOMBSTONE (all ones as i32) marks a deleted slot.
export const IDX_EMPTY = 0;
export const IDX_TOMBSTONE = -1;

// Hash domains keep the four indexes' keys apart.
export const H_LAN = 0;
export const H_WAN = 256;
export const H_MAP = 512;
export const H_REMOTE = 768; // (lan addr:port, remote addr): address-dependent filtering
export const H_FLOW6 = 1024; // IPv6 flows: (proto, lan addr:port, remote addr:port)
// The host's filtering indexes of IPv6 flows hash with hash6 too, their domain added to the protocol.
export const H6_REMOTE = 256; // (proto, lan addr:port, remote addr): address-dependent filtering
export const H6_ENDPOINT = 512; // (proto, lan addr:port): endpoint-independent filtering
export const H6_WAN = 768; // NAT66 (proto, public port, remote addr:port), read by the cores too

// ---- IPv6 LAN endpoints (24 bytes a slot): how many flows each LAN address:port has -------------------
// Endpoint-independent filtering lets a WAN host in to an endpoint that has any flow. Many flows
// share an endpoint (a peer-to-peer node talks to thousands from one port), so it is counted in
// one slot of its own, not indexed once per flow. Written and read by the host, under the lock.
export const EP6_LAN_ADDR = 0; // 16 bytes
export const EP6_LAN_PORT = 16; // u16
export const EP6_PROTO = 18; // u8; 0 empty, EP6_TOMBSTONE deleted
export const EP6_FLOWS = 20; // u32
export const EP6_WAN_PORT = 24; // u16 NAT66: its public port while it has a masqueraded flow (0: none)
export const EP6_SIZE = 28;
export const EP6_TOMBSTONE = 255;

// ---- Port table: 3 protocols x 65536 ports x 12 bytes ----------------------------------------------
export const P_LAN_ADDR = 0; // u32 owner of the mapping
export const P_LAN_PORT = 4; // u16
export const P_REFS = 6; // u16 flows using this mapping (0: unmapped)
export const P_FREED_AT = 8; // u32 T_NOW when the last flow ended (the port rests before reuse)
export const P_SIZE = 12;
export const PORT_REST_SECONDS = 120;
export const LOW_PORT_MIN = 600; // LAN ports below 1024 are mapped to these (host only)
export const LOW_PORT_MAX = 1023;

// ---- NAT66 port table: 3 protocols (TCP, UDP, ICMPv6) x 65536 ports x 8 bytes --------------------------
// Who holds a public port of the masquerade address: a LAN endpoint's slot (EP6_*), whose
// EP6_WAN_PORT says the port back (endpoint-independent mapping). Host only, under the lock.
export const P6_OWNER = 0; // u32 endpoint slot + 1 (0: free)
export const P6_FREED_AT = 4; // u32 T_NOW when it was let go (the port rests PORT_REST_SECONDS)
export const P6_SIZE = 8;

// ---- virtio_net_hdr (precedes every packet on an IFF_VNET_HDR TUN) ---------------------------------
export const VNET_HDR_LEN = 10;
export const VN_FLAGS = 0; // u8
export const VN_GSO_TYPE = 1; // u8
export const VN_HDR_LEN = 2; // u16 (little-endian, as the kernel writes it on LE hosts)
export const VN_GSO_SIZE = 4; // u16
export const VN_CSUM_START = 6; // u16
export const VN_CSUM_OFFSET = 8; // u16
export const VNET_F_NEEDS_CSUM = 1;
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 128;

// ---- Wire constants ----------------------------------------------------------------------------------
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_TIMESTAMP = 13;
export const ICMP_TIMESTAMP_REPLY = 14;

// Which end of the packet a rewrite changes.
export const END_SRC = 0;
export const END_DST = 1;
