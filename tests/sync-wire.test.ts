// The HA table sync's datagrams (host/sync/sync-wire.ts): what is encoded decodes the same; a
// datagram with a wrong key, a flipped bit, a cut end or records that run past it is refused
// whole, before anything in it is used.
import t from "tap";
import {
  encode,
  decode,
  SyncRefused,
  type SyncRecord,
  T_FLOW,
  T_DELETE,
  T_PINHOLE,
  T_POLICY,
  T_SEQ,
  T_EXPECT,
  T_FLOW6,
  FLOW6_SIZE,
  T_DELETE6,
  DELETE6_SIZE,
  KIND_DATA,
  KIND_HELLO,
  FLOW_SIZE,
  SEQ_SIZE,
  EXPECT_SIZE,
  HEADER,
  MAC,
} from "../host/sync/sync-wire";
import { parseAddr6 } from "../host/net/addr6";

const KEY = Buffer.from("a key of the pair, thirty-two characters or more");
const flow = {
  proto: 6,
  tcpState: 3,
  fixed: true,
  alg: false,
  lanAddr: 0xc0a8000a,
  lanPort: 40000,
  remoteAddr: 0x0a0000fe,
  remotePort: 443,
  wanAddr: 0x0a000001,
  wanPort: 41000,
  idle: 7,
  age: 120,
};
const records: SyncRecord[] = [
  { type: T_FLOW, flow },
  { type: T_DELETE, key: { proto: 17, lanAddr: 0xc0a8000b, lanPort: 5353, remoteAddr: 0x08080808, remotePort: 53 } },
  { type: T_PINHOLE, pinhole: { proto: 6, lanAddr: 0xc0a8000c, lanPort: 22, port: 2222, expiresIn: 3600 } },
  { type: T_POLICY, json: JSON.stringify({ portfw: [], chains: { forward: "DENY" }, note: "ü" }) },
  {
    type: T_SEQ,
    seq: {
      key: { proto: 6, lanAddr: 0xc0a8000d, lanPort: 40021, remoteAddr: 0x0a0000fe, remotePort: 21 },
      boundary: 0xfffffff0,
      before: -3,
      after: 12,
    },
  },
  {
    type: T_EXPECT,
    expect: { proto: 6, lanAddr: 0xc0a8000d, lanPort: 40100, port: 40100, remote: 0x0a0000fe, expiresIn: 59 },
  },
  {
    type: T_FLOW6,
    flow6: {
      proto: 6,
      tcpState: 7,
      fixed: false,
      alg: true, // a NAT66 FTP control connection
      lan: parseAddr6("2001:db8:1::2"),
      lanPort: 40000,
      remote: parseAddr6("2001:db8:ff::2"),
      remotePort: 443,
      wanPort: 40001, // NAT66
      idle: 3,
      age: 90,
    },
  },
  {
    type: T_DELETE6,
    key: {
      proto: 58,
      lan: parseAddr6("2001:db8:1::2"),
      lanPort: 7,
      remote: parseAddr6("2001:db8:ff::2"),
      remotePort: 0,
    },
  },
];
const header = {
  kind: KIND_DATA,
  sender: 0x0123456789abcdefn,
  seq: 1_700_000_000_000_000n,
  role: "master" as const,
  full: true,
  fullFrom: 0xdeadbeef,
};

const refused = (b: Buffer, key = KEY): string => {
  try {
    decode(key, b);
    return "accepted";
  } catch (e) {
    return e instanceof SyncRefused ? e.why : `threw ${e}`;
  }
};

t.test("what is encoded decodes the same", async (t) => {
  const b = encode(KEY, header, records);
  t.equal(
    b.length,
    HEADER +
      FLOW_SIZE +
      16 +
      16 +
      3 +
      Buffer.byteLength(records[3].type === T_POLICY ? records[3].json : "") +
      SEQ_SIZE +
      EXPECT_SIZE +
      FLOW6_SIZE +
      DELETE6_SIZE +
      MAC,
    "sizes add up",
  );
  const d = decode(KEY, b);
  t.same(d.header, header);
  t.same(d.records, records);
  t.same(
    decode(KEY, encode(KEY, { ...header, kind: KIND_HELLO, full: false, role: "fault" }, [])).records,
    [],
    "a HELLO has no records",
  );
});

t.test("a datagram that is not the peer's is refused whole", async (t) => {
  const b = encode(KEY, header, records);
  t.equal(refused(b, Buffer.from("another key, thirty-two characters long")), "mac", "another key");
  for (const at of [0, 5, 8, 20, HEADER + 4, b.length - MAC - 1, b.length - 1]) {
    const x = Buffer.from(b);
    x[at] ^= 0x40;
    t.equal(refused(x), "mac", `a bit flipped at byte ${at}`);
  }
  t.equal(refused(b.subarray(0, b.length - 1)), "mac", "the last byte cut");
  t.equal(refused(b.subarray(0, 40)), "short", "shorter than a header and a MAC");
  t.equal(refused(Buffer.alloc(0)), "short", "empty");
});

t.test("the peer's own key on a malformed body: refused, never read past its end", async (t) => {
  // forge with the right key what encode would never write: a count of records past the body
  const b = encode(KEY, header, [{ type: T_FLOW, flow }]);
  const body = Buffer.from(b.subarray(0, b.length - MAC));
  body.writeUInt16BE(3, 6);
  const { createHmac } = await import("node:crypto");
  const sign = (x: Buffer): Buffer => Buffer.concat([x, createHmac("sha256", KEY).update(x).digest()]);
  t.equal(refused(sign(body)), "malformed", "more records than bytes");
  const junk = Buffer.from(body);
  junk.writeUInt16BE(1, 6);
  junk[HEADER] = 99;
  t.equal(refused(sign(junk)), "malformed", "an unknown record type");
  const version = Buffer.from(body);
  version.writeUInt16BE(1, 6);
  version[4] = 2;
  t.equal(refused(sign(version)), "version", "another version");
  const role = Buffer.from(body);
  role.writeUInt16BE(1, 6);
  role[24] = 7;
  t.equal(refused(sign(role)), "malformed", "a role that is none");
  const trailing = Buffer.concat([body, Buffer.alloc(3)]);
  trailing.writeUInt16BE(1, 6);
  t.equal(refused(sign(trailing)), "malformed", "bytes after the last record");
});
