// The table sync's datagrams (host/sync/table-sync.ts), like pfsync's: a header, records, and an
// HMAC-SHA256 over both with the pair's shared key. A datagram whose MAC is wrong, whose version
// is not ours, whose sequence number is not above the last one from that sender, or whose time
// is more than MAX_SKEW_MS from ours is refused whole.
//
//   header (32 B): "IPMS" | version u8 | kind u8 | records u16 | sender u64 | seq u64 (µs since
//                  the epoch, rising) | role u8 | flags u8 (1: part of a full table) | 0 u16 |
//                  full-from u32 (low 32 bits of the sender whose full table this side holds)
//   records:       a type byte, then its fields (FLOW 32 B, DELETE 16 B, PINHOLE 16 B,
//                  POLICY 3 B + JSON, SEQ 28 B, EXPECT 20 B, FLOW6 52 B, DELETE6 40 B)
//   MAC (32 B)
import { createHmac, timingSafeEqual } from "node:crypto";

export const MAGIC = 0x49504d53; // "IPMS"
export const VERSION = 1;
export const HEADER = 32;
export const MAC = 32;
export const MAX_DATAGRAM = 1400; // one datagram per packet on a 1500-byte link
export const MAX_POLICY = 60_000; // a policy travels in one (fragmented) datagram
export const MAX_SKEW_MS = 60_000;

export const KIND_DATA = 0,
  KIND_HELLO = 1;
export const ROLES = ["master", "backup", "fault"] as const;
export type Role = (typeof ROLES)[number];

export const T_FLOW = 1,
  T_DELETE = 2,
  T_PINHOLE = 3,
  T_POLICY = 4,
  T_SEQ = 5,
  T_EXPECT = 6,
  T_FLOW6 = 7,
  T_DELETE6 = 8;
export const FLOW_SIZE = 32,
  DELETE_SIZE = 16,
  PINHOLE_SIZE = 16,
  SEQ_SIZE = 28,
  EXPECT_SIZE = 20,
  FLOW6_SIZE = 52,
  DELETE6_SIZE = 40;

// A flow as the peer needs it: its keys, its public port, its TCP state, and how long ago it was
// last seen and made (so that the peer's timers are right after a failover).
export interface SyncFlow {
  proto: number;
  tcpState: number;
  fixed: boolean;
  alg: boolean;
  lanAddr: number;
  lanPort: number;
  remoteAddr: number;
  remotePort: number;
  wanAddr: number;
  wanPort: number;
  idle: number;
  age: number; // seconds
}
// An IPv6 flow (routed): both ends as 16 bytes each, TCP state, fixed (opened by a rule from the
// WAN side), idle and age in seconds.
export interface SyncFlow6 {
  proto: number;
  tcpState: number;
  fixed: boolean;
  alg: boolean; // a NAT66 FTP control connection
  lan: Uint8Array;
  lanPort: number;
  remote: Uint8Array;
  remotePort: number;
  wanPort: number; // NAT66: its public port (0: routed)
  idle: number;
  age: number;
}
// An IPv6 flow that ended: its key.
export type SyncDelete6 = Pick<SyncFlow6, "proto" | "lan" | "lanPort" | "remote" | "remotePort">;
export interface SyncDelete {
  proto: number;
  lanAddr: number;
  lanPort: number;
  remoteAddr: number;
  remotePort: number;
}
export interface SyncPinhole {
  proto: number;
  lanAddr: number;
  lanPort: number;
  port: number;
  expiresIn: number;
}
// The FTP helper's state: a control connection's sequence shift, and an expected data connection.
export interface SyncSeq {
  key: SyncDelete;
  boundary: number;
  before: number;
  after: number;
}
export interface SyncExpect {
  proto: number;
  lanAddr: number;
  lanPort: number;
  port: number;
  remote: number;
  expiresIn: number;
}

export type SyncRecord =
  | { type: typeof T_FLOW; flow: SyncFlow }
  | { type: typeof T_DELETE; key: SyncDelete }
  | { type: typeof T_PINHOLE; pinhole: SyncPinhole }
  | { type: typeof T_POLICY; json: string }
  | { type: typeof T_SEQ; seq: SyncSeq }
  | { type: typeof T_EXPECT; expect: SyncExpect }
  | { type: typeof T_FLOW6; flow6: SyncFlow6 }
  | { type: typeof T_DELETE6; key: SyncDelete6 };

export interface Header {
  kind: number;
  sender: bigint;
  seq: bigint;
  role: Role;
  full: boolean;
  fullFrom: number;
}

export function recordSize(r: SyncRecord): number {
  switch (r.type) {
    case T_FLOW:
      return FLOW_SIZE;
    case T_DELETE:
      return DELETE_SIZE;
    case T_PINHOLE:
      return PINHOLE_SIZE;
    case T_POLICY:
      return 3 + Buffer.byteLength(r.json);
    case T_SEQ:
      return SEQ_SIZE;
    case T_EXPECT:
      return EXPECT_SIZE;
    case T_FLOW6:
      return FLOW6_SIZE;
    case T_DELETE6:
      return DELETE6_SIZE;
  }
}

function writeRecord(b: Buffer, at: number, r: SyncRecord): number {
  b[at] = r.type;
  switch (r.type) {
    case T_FLOW: {
      const f = r.flow;
      b[at + 1] = f.proto;
      b[at + 2] = f.tcpState;
      b[at + 3] = (f.fixed ? 1 : 0) | (f.alg ? 2 : 0);
      b.writeUInt32BE(f.lanAddr, at + 4);
      b.writeUInt32BE(f.remoteAddr, at + 8);
      b.writeUInt32BE(f.wanAddr, at + 12);
      b.writeUInt16BE(f.lanPort, at + 16);
      b.writeUInt16BE(f.remotePort, at + 18);
      b.writeUInt16BE(f.wanPort, at + 20);
      b.writeUInt32BE(Math.min(f.idle, 0xffffffff), at + 22);
      b.writeUInt32BE(Math.min(f.age, 0xffffffff), at + 26);
      return at + FLOW_SIZE;
    }
    case T_DELETE: {
      const k = r.key;
      b[at + 1] = k.proto;
      b.writeUInt32BE(k.lanAddr, at + 2);
      b.writeUInt32BE(k.remoteAddr, at + 6);
      b.writeUInt16BE(k.lanPort, at + 10);
      b.writeUInt16BE(k.remotePort, at + 12);
      return at + DELETE_SIZE;
    }
    case T_PINHOLE: {
      const p = r.pinhole;
      b[at + 1] = p.proto;
      b.writeUInt32BE(p.lanAddr, at + 2);
      b.writeUInt16BE(p.lanPort, at + 6);
      b.writeUInt16BE(p.port, at + 8);
      b.writeUInt32BE(Math.max(0, Math.min(p.expiresIn, 0xffffffff)), at + 10);
      return at + PINHOLE_SIZE;
    }
    case T_POLICY: {
      const n = b.write(r.json, at + 3);
      b.writeUInt16BE(n, at + 1);
      return at + 3 + n;
    }
    case T_SEQ: {
      const s = r.seq;
      b[at + 1] = s.key.proto;
      b.writeUInt32BE(s.key.lanAddr, at + 2);
      b.writeUInt32BE(s.key.remoteAddr, at + 6);
      b.writeUInt16BE(s.key.lanPort, at + 10);
      b.writeUInt16BE(s.key.remotePort, at + 12);
      b.writeUInt32BE(s.boundary >>> 0, at + 14);
      b.writeInt32BE(s.before, at + 18);
      b.writeInt32BE(s.after, at + 22);
      return at + SEQ_SIZE;
    }
    case T_EXPECT: {
      const e = r.expect;
      b[at + 1] = e.proto;
      b.writeUInt32BE(e.lanAddr, at + 2);
      b.writeUInt16BE(e.lanPort, at + 6);
      b.writeUInt16BE(e.port, at + 8);
      b.writeUInt32BE(e.remote, at + 10);
      b.writeUInt32BE(Math.max(0, Math.min(e.expiresIn, 0xffffffff)), at + 14);
      return at + EXPECT_SIZE;
    }
    case T_FLOW6: {
      const f = r.flow6;
      b[at + 1] = f.proto;
      b[at + 2] = f.tcpState;
      b[at + 3] = (f.fixed ? 1 : 0) | (f.alg ? 2 : 0);
      b.set(f.lan, at + 4);
      b.set(f.remote, at + 20);
      b.writeUInt16BE(f.lanPort, at + 36);
      b.writeUInt16BE(f.remotePort, at + 38);
      b.writeUInt32BE(Math.min(f.idle, 0xffffffff), at + 40);
      b.writeUInt32BE(Math.min(f.age, 0xffffffff), at + 44);
      b.writeUInt16BE(f.wanPort, at + 48);
      b.writeUInt16BE(0, at + 50);
      return at + FLOW6_SIZE;
    }
    case T_DELETE6: {
      const k = r.key;
      b[at + 1] = k.proto;
      b.set(k.lan, at + 2);
      b.set(k.remote, at + 18);
      b.writeUInt16BE(k.lanPort, at + 34);
      b.writeUInt16BE(k.remotePort, at + 36);
      return at + DELETE6_SIZE;
    }
  }
}

export function encode(key: Buffer, h: Header, records: SyncRecord[]): Buffer {
  const size = HEADER + records.reduce((n, r) => n + recordSize(r), 0) + MAC;
  const b = Buffer.alloc(size);
  b.writeUInt32BE(MAGIC, 0);
  b[4] = VERSION;
  b[5] = h.kind;
  b.writeUInt16BE(records.length, 6);
  b.writeBigUInt64BE(h.sender, 8);
  b.writeBigUInt64BE(h.seq, 16);
  b[24] = ROLES.indexOf(h.role);
  b[25] = h.full ? 1 : 0;
  b.writeUInt32BE(h.fullFrom >>> 0, 28);
  let at = HEADER;
  for (const r of records) at = writeRecord(b, at, r);
  createHmac("sha256", key).update(b.subarray(0, at)).digest().copy(b, at);
  return b;
}

export class SyncRefused extends Error {
  constructor(readonly why: "short" | "magic" | "version" | "mac" | "malformed") {
    super(why);
  }
}

// Checks the MAC first: nothing of a datagram that is not the peer's is looked at.
export function decode(key: Buffer, b: Buffer): { header: Header; records: SyncRecord[] } {
  if (b.length < HEADER + MAC) throw new SyncRefused("short");
  const body = b.subarray(0, b.length - MAC);
  const want = createHmac("sha256", key).update(body).digest();
  if (!timingSafeEqual(want, b.subarray(b.length - MAC))) throw new SyncRefused("mac");
  if (b.readUInt32BE(0) !== MAGIC) throw new SyncRefused("magic");
  if (b[4] !== VERSION) throw new SyncRefused("version");
  const role = ROLES[b[24]];
  if (!role || (b[5] !== KIND_DATA && b[5] !== KIND_HELLO)) throw new SyncRefused("malformed");
  const header: Header = {
    kind: b[5],
    sender: b.readBigUInt64BE(8),
    seq: b.readBigUInt64BE(16),
    role,
    full: (b[25] & 1) !== 0,
    fullFrom: b.readUInt32BE(28),
  };
  const records: SyncRecord[] = [];
  let at = HEADER;
  const need = (n: number): void => {
    if (at + n > body.length) throw new SyncRefused("malformed");
  };
  for (let i = b.readUInt16BE(6); i > 0; i--) {
    need(1);
    switch (body[at]) {
      case T_FLOW:
        need(FLOW_SIZE);
        records.push({
          type: T_FLOW,
          flow: {
            proto: body[at + 1],
            tcpState: body[at + 2],
            fixed: (body[at + 3] & 1) !== 0,
            alg: (body[at + 3] & 2) !== 0,
            lanAddr: body.readUInt32BE(at + 4),
            remoteAddr: body.readUInt32BE(at + 8),
            wanAddr: body.readUInt32BE(at + 12),
            lanPort: body.readUInt16BE(at + 16),
            remotePort: body.readUInt16BE(at + 18),
            wanPort: body.readUInt16BE(at + 20),
            idle: body.readUInt32BE(at + 22),
            age: body.readUInt32BE(at + 26),
          },
        });
        at += FLOW_SIZE;
        break;
      case T_DELETE:
        need(DELETE_SIZE);
        records.push({
          type: T_DELETE,
          key: {
            proto: body[at + 1],
            lanAddr: body.readUInt32BE(at + 2),
            remoteAddr: body.readUInt32BE(at + 6),
            lanPort: body.readUInt16BE(at + 10),
            remotePort: body.readUInt16BE(at + 12),
          },
        });
        at += DELETE_SIZE;
        break;
      case T_PINHOLE:
        need(PINHOLE_SIZE);
        records.push({
          type: T_PINHOLE,
          pinhole: {
            proto: body[at + 1],
            lanAddr: body.readUInt32BE(at + 2),
            lanPort: body.readUInt16BE(at + 6),
            port: body.readUInt16BE(at + 8),
            expiresIn: body.readUInt32BE(at + 10),
          },
        });
        at += PINHOLE_SIZE;
        break;
      case T_POLICY: {
        need(3);
        const n = body.readUInt16BE(at + 1);
        need(3 + n);
        records.push({ type: T_POLICY, json: body.toString("utf8", at + 3, at + 3 + n) });
        at += 3 + n;
        break;
      }
      case T_SEQ:
        need(SEQ_SIZE);
        records.push({
          type: T_SEQ,
          seq: {
            key: {
              proto: body[at + 1],
              lanAddr: body.readUInt32BE(at + 2),
              remoteAddr: body.readUInt32BE(at + 6),
              lanPort: body.readUInt16BE(at + 10),
              remotePort: body.readUInt16BE(at + 12),
            },
            boundary: body.readUInt32BE(at + 14),
            before: body.readInt32BE(at + 18),
            after: body.readInt32BE(at + 22),
          },
        });
        at += SEQ_SIZE;
        break;
      case T_EXPECT:
        need(EXPECT_SIZE);
        records.push({
          type: T_EXPECT,
          expect: {
            proto: body[at + 1],
            lanAddr: body.readUInt32BE(at + 2),
            lanPort: body.readUInt16BE(at + 6),
            port: body.readUInt16BE(at + 8),
            remote: body.readUInt32BE(at + 10),
            expiresIn: body.readUInt32BE(at + 14),
          },
        });
        at += EXPECT_SIZE;
        break;
      case T_FLOW6:
        need(FLOW6_SIZE);
        records.push({
          type: T_FLOW6,
          flow6: {
            proto: body[at + 1],
            tcpState: body[at + 2],
            fixed: (body[at + 3] & 1) !== 0,
            alg: (body[at + 3] & 2) !== 0,
            lan: Uint8Array.from(body.subarray(at + 4, at + 20)),
            remote: Uint8Array.from(body.subarray(at + 20, at + 36)),
            lanPort: body.readUInt16BE(at + 36),
            remotePort: body.readUInt16BE(at + 38),
            idle: body.readUInt32BE(at + 40),
            age: body.readUInt32BE(at + 44),
            wanPort: body.readUInt16BE(at + 48),
          },
        });
        at += FLOW6_SIZE;
        break;
      case T_DELETE6:
        need(DELETE6_SIZE);
        records.push({
          type: T_DELETE6,
          key: {
            proto: body[at + 1],
            lan: Uint8Array.from(body.subarray(at + 2, at + 18)),
            remote: Uint8Array.from(body.subarray(at + 18, at + 34)),
            lanPort: body.readUInt16BE(at + 34),
            remotePort: body.readUInt16BE(at + 36),
          },
        });
        at += DELETE6_SIZE;
        break;
      default:
        throw new SyncRefused("malformed");
    }
  }
  if (at !== body.length) throw new SyncRefused("malformed");
  return { header, records };
}
