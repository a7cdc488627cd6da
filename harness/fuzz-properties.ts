// Property-based fuzzing of every input a stranger (or a broken device, or an insane HA peer)
// controls, with fast-check: generated and mutated inputs, and a failure shrunk to its smallest.
// tests/properties.test.ts runs each with a fixed seed and a bounded count; `npm run fuzz` runs
// them long with random seeds. A failure found becomes a named case in the tests.
import fc from "fast-check";
import { createHmac } from "node:crypto";
import type { RemoteInfo } from "node:dgram";
import { coreSetup, addFlows, type FlowSpec } from "./core-setup";
import { ipv4, tcp, udp, icmp, withPartialChecksum, plainVnet, concat, verifyChecksums } from "./packets";
import { ipv6, tcp6, udp6, icmp6, ext, NH } from "./packets6";
import { parseAddr6, formatAddr6 } from "../host/net/addr6";
import { parseNpt6, npt6Out } from "../host/net/npt6";
import { slotAddress, statsAddress, descAddress } from "../host/shm/memory-map";
import * as L from "../assembly/layout";
import { parseConfig } from "../host/config/config-file";
import { ConfigError } from "../host/policy/ipchains";
import { policyLines } from "../host/policy/save";
import { AlgState } from "../host/table/alg-state";
import { PortMappingServer } from "../host/portmap/port-mapping-server";
import { parseAddr, parsePrefix } from "../host/net/addr";
import { encode, decode, SyncRefused, KIND_DATA, HEADER, MAC } from "../host/sync/sync-wire";
import { parseRequest, SoapError } from "../host/portmap/upnp/soap";
import { SsdpResponder, type Target } from "../host/portmap/upnp/ssdp";
import { answerLine, type Handler } from "../host/control/server";
import { pageAnswerer } from "../host/web/status-page";
import type { GatewayStatus } from "../host/observe/status";
import { HostAccounting } from "../host/observe/host-accounting";
import { Throughput } from "../host/observe/throughput";
import { parsePrefix6 } from "../host/net/addr6";

// ---- the packet cores: WASM and TypeScript agree on every packet --------------------------------

const FLOWS: FlowSpec[] = [6, 17, 1].flatMap((proto, p) =>
  Array.from({ length: 4 }, (_, i) => ({
    proto,
    lan: `192.168.0.${2 + i}`,
    lanPort: 30000 + p * 10 + i,
    remote: `10.0.${i}.2`,
    remotePort: proto === 1 ? 0 : 443 + i,
    wan: "10.0.0.1",
    wanPort: 61000 + p * 10 + i,
  })),
);

// Mostly none, else up to 4 bytes of the first `maxAt` set to anything; now and then cut short.
const mutations = (maxAt: number): fc.Arbitrary<Array<{ at: number; value: number }>> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant([] as Array<{ at: number; value: number }>) },
    {
      weight: 1,
      arbitrary: fc.array(fc.record({ at: fc.nat({ max: maxAt }), value: fc.integer({ min: 0, max: 255 }) }), {
        maxLength: 4,
      }),
    },
  );
const cutShort = fc.option(fc.nat({ max: 400 }), { freq: 5 });

// A packet with a spec's mutations and cut applied (a copy; the packet itself when there are none).
function damaged(
  bytes: Uint8Array,
  p: { mutations: Array<{ at: number; value: number }>; cut: number | null },
): Uint8Array {
  if (!p.mutations.length && p.cut === null) return bytes;
  const b = Uint8Array.from(bytes);
  for (const m of p.mutations) if (m.at < b.length) b[m.at] = m.value;
  return p.cut === null ? b : b.subarray(0, Math.min(b.length, p.cut));
}

const packetSpec = fc.record({
  flow: fc.integer({ min: 0, max: FLOWS.length - 1 }),
  outbound: fc.boolean(),
  unknownPort: fc.option(fc.integer({ min: 0, max: 65535 }), { freq: 4 }),
  protoOverride: fc.option(fc.integer({ min: 0, max: 255 }), { freq: 10 }),
  // each field mostly as a host sends it, else anything
  ttl: fc.oneof({ weight: 3, arbitrary: fc.constant(64) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  frag: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(0, 0x4000) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  ),
  options: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as number[]) },
    { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }) },
  ),
  tcpFlags: fc.integer({ min: 0, max: 255 }),
  tcpOptions: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }),
  icmpType: fc.integer({ min: 0, max: 255 }),
  icmpError: fc.boolean(), // an ICMP error embedding the flow's other direction
  payload: fc.uint8Array({ maxLength: 300 }),
  offload: fc.constantFrom("plain", "partial", "gso"),
  mutations: mutations(120),
  cut: cutShort,
});
type PacketSpec = typeof packetSpec extends fc.Arbitrary<infer T> ? T : never;

function buildPacket(p: PacketSpec): { bytes: Uint8Array; side: number } {
  const f = FLOWS[p.flow];
  const [src, dst, sport, dport] = p.outbound
    ? [f.lan, f.remote, p.unknownPort ?? f.lanPort, f.remotePort]
    : [f.remote, f.wan, f.remotePort, p.unknownPort ?? f.wanPort];
  const l4For = (proto: number, s: string, d: string, sp: number, dp: number): Uint8Array =>
    proto === 6
      ? tcp(s, d, sp, dp, p.tcpFlags, p.payload, p.tcpOptions.length % 4 === 0 ? p.tcpOptions : [])
      : proto === 17
        ? udp(s, d, sp, dp, p.payload, true)
        : icmp(p.icmpType, 0, ((p.outbound ? sp : dp) << 16) | 7, p.payload);
  let ip: Uint8Array;
  if (p.icmpError) {
    const inner = p.outbound
      ? ipv4(
          { src: f.remote, dst: f.lan, proto: f.proto, ttl: 5 },
          l4For(f.proto, f.remote, f.lan, f.remotePort, sport),
        )
      : ipv4(
          { src: f.wan, dst: f.remote, proto: f.proto, ttl: 1 },
          l4For(f.proto, f.wan, f.remote, f.wanPort, f.remotePort),
        );
    ip = ipv4(
      { src, dst, proto: 1, ttl: p.ttl },
      icmp(p.icmpType % 2 ? 3 : 11, 0, 0, inner.subarray(0, 28 + (p.payload.length % 40))),
    );
  } else {
    const opts = p.options.length % 4 === 0 ? p.options : [];
    ip = ipv4(
      { src, dst, proto: p.protoOverride ?? f.proto, ttl: p.ttl, frag: p.frag, options: opts },
      l4For(f.proto, src, dst, sport, dport),
    );
  }
  const bytes =
    p.offload === "plain" || f.proto === 1 || p.icmpError
      ? concat(plainVnet(), ip)
      : withPartialChecksum(ip, p.offload === "gso" ? (f.proto === 6 ? 1 : 5) : 0, 536);
  return { bytes: damaged(bytes, p), side: p.outbound ? L.IN_INSIDE : L.IN_WAN };
}

// What the packet property's inputs came to (so a run can show that it reached every path).
export const verdictMix: Record<"forward" | "drop" | "slow", number> = { forward: 0, drop: 0, slow: 0 };

// The WASM core and the TS core, each on its own copy of the packet and its own statistics, over
// one table: what each did (verdict, drop reason, bytes, counters); throws when they differ. `mix`
// counts the verdicts. Returns where the WASM core's copy is.
function bothCores(
  s: ReturnType<typeof coreSetup>,
  bytes: Uint8Array,
  side: number,
  mix: Record<"forward" | "drop" | "slow", number>,
): { verdict: number; at: number } {
  const dv = new DataView(s.memory.buffer);
  const slots = [slotAddress(0, 0), slotAddress(0, 1)];
  const descs = [descAddress(0), descAddress(0) + L.D_SIZE * 4];
  const stats = [statsAddress(0), slotAddress(0, L.BATCH_MAX - 1)];
  const counters = (at: number): number[] => Array.from(new Float64Array(s.memory.buffer, at, L.STATS_SLOTS));
  const got = (["wasm", "ts"] as const).map((kind, c) => {
    s.u8.set(bytes, slots[c]);
    dv.setUint32(descs[c] + L.D_OFFSET, slots[c], true);
    dv.setUint32(descs[c] + L.D_LENGTH, bytes.length, true);
    const before = counters(stats[c]);
    s.cores[kind].processBatch(descs[c], 1, stats[c], side);
    const after = counters(stats[c]);
    return {
      verdict: dv.getUint32(descs[c] + L.D_VERDICT, true),
      reason: dv.getUint32(descs[c] + L.D_REASON, true),
      out: Buffer.from(s.u8.subarray(slots[c], slots[c] + bytes.length)).toString("hex"),
      counted: after.map((x, i) => x - before[i]).join(","),
    };
  });
  mix[(["forward", "drop", "slow"] as const)[got[0].verdict]]++;
  if (JSON.stringify(got[0]) !== JSON.stringify(got[1]))
    throw new Error(
      `the cores disagree: wasm ${JSON.stringify(got[0]).slice(0, 300)} ts ${JSON.stringify(got[1]).slice(0, 300)}`,
    );
  return { verdict: got[0].verdict, at: slots[0] };
}

// Both cores agree on every IPv4 packet; a forwarded packet that came with right checksums leaves
// with right ones.
export function coresAgree(): fc.IPropertyWithHooks<[PacketSpec]> {
  const s = coreSetup(1024);
  addFlows(s, FLOWS);
  return fc.property(packetSpec, (spec) => {
    const { bytes, side } = buildPacket(spec);
    const got = bothCores(s, bytes, side, verdictMix);
    if (got.verdict === L.V_FORWARD && bytes.length > 30 && verifyChecksums(bytes) === "") {
      const bad = verifyChecksums(s.u8.subarray(got.at, got.at + bytes.length));
      if (bad) throw new Error(`a forwarded packet's checksum went wrong: ${bad}`);
    }
  });
}

// ---- the packet cores on IPv6: routed, and behind NPTv6 -------------------------------------------

const NPT6 = parseNpt6("fd00:1::/64=2001:db8:2::/64");
const FLOWS6 = [6, 17, 58].flatMap((proto, p) =>
  Array.from({ length: 4 }, (_, i) => ({
    proto,
    lan: i % 2 ? `fd00:1::${i + 2}` : `2001:db8:1::${i + 2}`, // every other one behind NPTv6
    lanPort: 30000 + p * 10 + i,
    remote: `2001:db8:ff::${i + 2}`,
    remotePort: proto === 58 ? 0 : 443 + i,
  })),
);
const outsideOf = (a: string): string => {
  const b = parseAddr6(a);
  npt6Out(NPT6, b, 0);
  return formatAddr6(b);
};

const packet6Spec = fc.record({
  flow: fc.integer({ min: 0, max: FLOWS6.length - 1 }),
  outbound: fc.boolean(),
  insideFromWan: fc.integer({ min: 0, max: 9 }).map((n) => n === 0), // from the WAN, a flow behind NPTv6 addressed by its inside address
  unknownPort: fc.option(fc.integer({ min: 0, max: 65535 }), { freq: 4 }),
  hop: fc.oneof({ weight: 3, arbitrary: fc.constant(64) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  ext: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as Array<"hop">) },
    {
      weight: 1,
      arbitrary: fc.array(fc.constantFrom("hop", "dest", "routing0", "routing1", "fragment", "fragment-later"), {
        maxLength: 3,
      }),
    },
  ),
  tcpFlags: fc.integer({ min: 0, max: 255 }),
  icmpType: fc.constantFrom(128, 129, 128, 129, 1, 2, 3, 4, 133, 135, 200),
  icmpError: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
  payload: fc.uint8Array({ maxLength: 300 }),
  offload: fc.constantFrom("plain", "partial"),
  mutations: mutations(140),
  cut: cutShort,
});
type Packet6Spec = typeof packet6Spec extends fc.Arbitrary<infer T> ? T : never;

function buildPacket6(p: Packet6Spec): { bytes: Uint8Array; side: number } {
  const f = FLOWS6[p.flow];
  const lanSeen = f.lan.startsWith("fd00:") && !p.insideFromWan ? outsideOf(f.lan) : f.lan;
  const [src, dst, sport, dport] = p.outbound
    ? [f.lan, f.remote, p.unknownPort ?? f.lanPort, f.remotePort]
    : [f.remote, lanSeen, f.remotePort, p.unknownPort ?? f.lanPort];
  const l4For = (proto: number, s: string, d: string, sp: number, dp: number): Uint8Array =>
    proto === 6
      ? tcp6(s, d, sp, dp, p.tcpFlags, p.payload)
      : proto === 17
        ? udp6(s, d, sp, dp, p.payload)
        : icmp6(s, d, p.icmpType, 0, ((p.outbound ? sp : dp) << 16) | 7, p.payload);
  let upper: Uint8Array;
  let nh: number;
  if (p.icmpError) {
    const inner = p.outbound
      ? ipv6({ src: f.remote, dst: f.lan, nh: f.proto }, l4For(f.proto, f.remote, f.lan, f.remotePort, sport))
      : ipv6(
          { src: lanSeen, dst: f.remote, nh: f.proto, hop: 1 },
          l4For(f.proto, lanSeen, f.remote, f.lanPort, f.remotePort),
        );
    upper = icmp6(src, dst, [1, 2, 3, 4][p.icmpType % 4], 0, 1280, inner.subarray(0, 48 + (p.payload.length % 60)));
    nh = NH.ICMPV6;
  } else {
    upper = l4For(f.proto, src, dst, sport, dport);
    nh = f.proto;
  }
  // each extension header: its bytes (given the header after it) and its own next-header value
  const EXT: Record<Packet6Spec["ext"][number], [number, (next: number) => Uint8Array]> = {
    hop: [NH.HOP, (n) => ext(n, [1, 4, 0, 0, 0, 0])],
    dest: [NH.DEST, (n) => ext(n, [1, 4, 0, 0, 0, 0])],
    routing0: [NH.ROUTING, (n) => ext(n, [0, 0, 0, 0, 0, 0, ...parseAddr6(f.remote)])],
    routing1: [NH.ROUTING, (n) => ext(n, [0, 1, 0, 0, 0, 0, ...parseAddr6(f.remote)])],
    fragment: [NH.FRAGMENT, (n) => Uint8Array.from([n, 0, 0, 1, 0, 0, 0, 9])],
    "fragment-later": [NH.FRAGMENT, (n) => Uint8Array.from([n, 0, 0, 0x10, 0, 0, 0, 9])],
  };
  for (const e of [...p.ext].reverse()) {
    upper = concat(EXT[e][1](nh), upper);
    nh = EXT[e][0];
  }
  const ip = ipv6({ src, dst, nh, hop: p.hop }, upper);
  let bytes = concat(plainVnet(), ip);
  if (p.offload === "partial" && f.proto !== 58 && !p.icmpError && p.ext.length === 0) {
    // the kernel's NEEDS_CSUM form: the L4 checksum holds the pseudo-header's sum
    const v = plainVnet();
    v[L.VN_FLAGS] = L.VNET_F_NEEDS_CSUM;
    new DataView(v.buffer).setUint16(L.VN_CSUM_START, 40, true);
    new DataView(v.buffer).setUint16(L.VN_CSUM_OFFSET, f.proto === 6 ? 16 : 6, true);
    bytes = concat(v, ip);
  }
  return { bytes: damaged(bytes, p), side: p.outbound ? L.IN_INSIDE : L.IN_WAN };
}

export const verdictMix6: Record<"forward" | "drop" | "slow", number> = { forward: 0, drop: 0, slow: 0 };

// As coresAgree, for IPv6 packets over flows of both kinds (routed, and behind NPTv6).
export function cores6Agree(): fc.IPropertyWithHooks<[Packet6Spec]> {
  const s = coreSetup(1024, NPT6);
  for (const f of FLOWS6)
    s.table.v6.create(f.proto, parseAddr6(f.lan), f.lanPort, parseAddr6(f.remote), f.remotePort, 0);
  return fc.property(packet6Spec, (spec) => {
    const { bytes, side } = buildPacket6(spec);
    bothCores(s, bytes, side, verdictMix6);
  });
}

// ---- the rule language ----------------------------------------------------------------------------

const WORDS = [
  "ipchains",
  "-A",
  "-I",
  "-D",
  "-P",
  "-N",
  "-X",
  "-F",
  "-M",
  "-S",
  "-p",
  "-s",
  "-d",
  "-i",
  "-j",
  "-y",
  "-f",
  "!",
  "forward",
  "input",
  "output",
  "mychain",
  "MASQ",
  "ACCEPT",
  "DENY",
  "REJECT",
  "REDIRECT",
  "RETURN",
  "tcp",
  "udp",
  "icmp",
  "all",
  "0/0",
  "192.168.0.0/24",
  "10.0.0.2",
  "80",
  "1024:65535",
  "echo-request",
  "eth0",
  "ppp+",
  "ipmasqadm",
  "portfw",
  "-a",
  "-L",
  "-R",
  "-P",
  "upnp",
  "allow",
  "deny",
  "1024-65535",
  "$VAR",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, as rc scripts write them
  "${X}",
  "#",
  "\\",
  "'",
  '"',
  "=",
  "X=1",
  "3128",
  "99999",
  "-1",
  "1.2.3.4/33",
  "",
];
const line = fc.array(
  fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...WORDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
  { maxLength: 10 },
);

// Any rule file: applied, or refused with `file:line:column: reason` — never anything else.
export function ruleFileErrorsArePositioned(): fc.IPropertyWithHooks<[string[][]]> {
  return fc.property(fc.array(line, { maxLength: 8 }), (lines) => {
    const text = lines.map((l) => l.join(" ")).join("\n");
    try {
      parseConfig("f.conf", text);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw new Error(`not a positioned refusal: ${(e as Error).stack}`);
      if (!/^f\.conf:\d+:\d+: \S/.test(e.message)) throw new Error(`refusal without file:line:column: ${e.message}`);
    }
  });
}

const ADDRS = ["0/0", "192.168.0.0/24", "10.0.0.2", "10.1.0.0/16", "192.168.0.7/32"];
const rule = fc.record({
  chain: fc.constantFrom("forward", "input", "output"),
  proto: fc.constantFrom("", "tcp", "udp", "icmp"),
  src: fc.constantFrom(...ADDRS),
  dst: fc.constantFrom(...ADDRS),
  port: fc.option(fc.integer({ min: 1, max: 65535 }), { freq: 2 }),
  target: fc.constantFrom("ACCEPT", "DENY", "REJECT", "MASQ"),
});

// A policy's meaning: without the slots of its shared counters, which are numbered in the order
// its rules were read (a saved file lists the chains in another order).
const meaning = (p: unknown): string => JSON.stringify(p, (k, v) => (k === "counter" ? undefined : v));

// A rule set that parses, saved (`ipmasq save`) and read again, is the same policy.
export function ruleFileRoundTrip(): fc.IPropertyWithHooks<
  [Array<typeof rule extends fc.Arbitrary<infer T> ? T : never>]
> {
  return fc.property(fc.array(rule, { maxLength: 8 }), (rules) => {
    const text = rules
      // MASQ belongs to the forward chain (the parser refuses it elsewhere, rightly)
      .map(
        (r) =>
          `ipchains -A ${r.chain}${r.proto ? ` -p ${r.proto}` : ""} -s ${r.src} -d ${r.dst}${r.port !== null && (r.proto === "tcp" || r.proto === "udp") ? ` ${r.port}` : ""} -j ${r.target === "MASQ" && r.chain !== "forward" ? "ACCEPT" : r.target}`,
      )
      .join("\n");
    const first = parseConfig("f.conf", text).policy;
    const again = parseConfig("saved.conf", policyLines(first).join("\n")).policy;
    if (meaning(again) !== meaning(first))
      throw new Error(`save changed the policy:\n${text}\n--\n${policyLines(first).join("\n")}`);
  });
}

// ---- NAT-PMP and PCP: any datagram from anywhere is answered in bounds or not at all ---------------

export function portMappingAnswersInBounds(): fc.IPropertyWithHooks<[Uint8Array, string]> {
  const s = coreSetup(1024);
  s.table.now = 1;
  const server = new PortMappingServer(
    new AlgState(s.table, s.map.alg),
    () => [parsePrefix("192.168.0.0/24")],
    () => parseAddr("10.0.0.1"),
    () => {},
    { pinholes: s.table.pinholes6, lanPrefixes: () => [parsePrefix6("2001:db8:1::/64")], onPinhole: () => {} },
  );
  const valid = fc.oneof(
    fc.uint8Array({ maxLength: 1200 }),
    // a NAT-PMP or PCP request's start, then anything
    fc
      .tuple(fc.constantFrom(0, 2), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 1100 }))
      .map(([v, op, rest]) => Uint8Array.from([v, op, ...rest])),
  );
  const from = fc.constantFrom("192.168.0.2", "192.168.0.77", "10.0.0.2", "2001:db8:1::2", "2001:db8:ff::2");
  return fc.property(valid, from, (msg, from) => {
    const r: RemoteInfo = { address: from, family: from.includes(":") ? "IPv6" : "IPv4", port: 5350, size: msg.length };
    const reply = server.answer(Buffer.from(msg), r);
    if (reply !== undefined && (!Buffer.isBuffer(reply) || reply.length > 1100))
      throw new Error(`an answer out of bounds: ${reply?.length} bytes`);
  });
}

// ---- the HA sync: a datagram signed with the pair's key, carrying anything --------------------------

export function syncRecordsRefusedCleanly(): fc.IPropertyWithHooks<[number, Uint8Array]> {
  const key = Buffer.from("a key of the pair, thirty-two characters or more");
  const head = encode(
    key,
    { kind: KIND_DATA, sender: 1n, seq: 1n, role: "master", full: false, fullFrom: 0 },
    [],
  ).subarray(0, HEADER);
  return fc.property(fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 600 }), (count, body) => {
    const b = Buffer.concat([head, body, Buffer.alloc(MAC)]);
    b.writeUInt16BE(count, 6);
    createHmac("sha256", key)
      .update(b.subarray(0, b.length - MAC))
      .digest()
      .copy(b, b.length - MAC);
    try {
      decode(key, b);
    } catch (e) {
      if (!(e instanceof SyncRefused)) throw new Error(`not a refusal: ${(e as Error).stack}`);
    }
  });
}

// ---- UPnP: any SOAP body and action header: parsed, or a SOAP fault --------------------------------

export function soapRefusedCleanly(): fc.IPropertyWithHooks<[string, string]> {
  const parts = [
    "<s:Envelope>",
    "<s:Body>",
    "</s:Body>",
    "<u:AddPortMapping>",
    "</u:AddPortMapping>",
    "<NewExternalPort>",
    "</NewExternalPort>",
    "80",
    "&amp;",
    "&#x41;",
    "&#99999999;",
    "<!DOCTYPE x>",
    "<![CDATA[",
    "<?x?>",
    "/>",
    "<",
    ">",
    "\u0000",
    "ü",
  ];
  const body = fc
    .array(fc.oneof(fc.constantFrom(...parts), fc.string({ maxLength: 6 })), { maxLength: 30 })
    .map((a) => a.join(""));
  const action = fc.oneof(
    fc.constant('"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"'),
    fc.string({ maxLength: 40 }),
  );
  return fc.property(body, action, (b, a) => {
    try {
      parseRequest(b, a);
    } catch (e) {
      if (!(e instanceof SoapError)) throw new Error(`not a SOAP fault: ${(e as Error).stack}`);
    }
  });
}

// ---- SSDP: any datagram from anywhere: a search answered from our targets, or nothing ------------

export function ssdpSearchesInBounds(): fc.IPropertyWithHooks<[string, string]> {
  const targets: Target[] = ["upnp:rootdevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"].map((st) => ({
    st,
    usn: `uuid:x::${st}`,
    location: (a: string) => `http://${a}:5000/`,
  }));
  const ssdp = new SsdpResponder(targets, (a) => a.startsWith("192.168.0."), "test");
  const line = fc.oneof(
    fc.constantFrom(
      "M-SEARCH * HTTP/1.1",
      'MAN: "ssdp:discover"',
      "MAN: ssdp:discover",
      "ST: ssdp:all",
      "ST: upnp:rootdevice",
      "MX: 3",
      "MX: -1",
      "MX: 1e308",
      "MX: NaN",
      "HOST: 239.255.255.250:1900",
      "ST: (.*)+$",
      "",
    ),
    fc.string({ maxLength: 80 }),
  );
  const datagram = fc
    .tuple(fc.array(line, { maxLength: 12 }), fc.constantFrom("\r\n", "\n"))
    .map(([lines, eol]) => lines.join(eol));
  return fc.property(datagram, fc.constantFrom("192.168.0.2", "10.0.0.2"), (text, from) => {
    const r = ssdp.searchOf(Buffer.from(text, "latin1"), from);
    if (r === undefined) return;
    if (!from.startsWith("192.168.0.")) throw new Error("answered a search from outside the LAN");
    if (!r.found.every((t) => targets.includes(t)) || !(r.mx >= 0 && r.mx <= 1))
      throw new Error(`an answer out of bounds: ${JSON.stringify(r)}`);
  });
}

// ---- the control socket: any line gets one answer, never an exception ------------------------------

export function controlLinesAnswered(): fc.IPropertyWithHooks<[string]> {
  // a handler that, like the real one, trusts the request's shape and throws on a surprise
  const handler: Handler = (req) => {
    if (typeof req.cmd !== "string") throw new Error("no cmd");
    if (req.cmd === "ipchains") return { ok: (req.args as string[]).join(" ") };
    return { error: `unknown command ${req.cmd}` };
  };
  const json = fc.oneof(
    fc.json(),
    fc
      .record({ cmd: fc.oneof(fc.constantFrom("status", "ipchains", "conns"), fc.string()), args: fc.jsonValue() })
      .map((o) => JSON.stringify(o)),
    fc.string(),
  );
  return fc.property(json, (line) => {
    const a = answerLine(line, handler);
    if (typeof a !== "object" || (a.ok === undefined && a.error === undefined && a.stream === undefined))
      throw new Error(`no answer for ${JSON.stringify(line)}`);
    JSON.stringify(a);
  });
}

// ---- the status page: any request gets a status, never an exception -------------------------------

export function statusPageAnswersEveryRequest(): fc.IPropertyWithHooks<[string, string, string, string]> {
  const s = coreSetup(1024);
  const token = Buffer.from("a token of the page, long enough");
  const answer = pageAnswerer(
    { host: "192.168.0.1", port: 8080, token },
    {
      // the page's own sources; `status` is a fixed object (what it holds is not under test here)
      status: () => ({ uptimeSeconds: 1 }) as unknown as GatewayStatus,
      table: s.table,
      mappings: () => [],
      hosts: new HostAccounting(s.table),
      traffic: new Throughput(s.memory, s.map, () => s.table.live),
    },
  );
  const method = fc.oneof(fc.constantFrom("GET", "HEAD", "POST", "OPTIONS", ""), fc.string({ maxLength: 8 }));
  const url = fc.oneof(
    fc.constantFrom(
      "/",
      "/app.js",
      "/api/status",
      "/api/hosts?sort=packets",
      "/api/hosts?sort=%00",
      "/api/conns?filter=tcp",
      "/api/traffic?since=-1e999",
      "/api/nothing",
      "http://[::1",
      "//[",
      "http://a:99999/",
      "*",
      "/%",
      "/api/conns?filter=%E0%A4%A",
    ),
    fc.string({ maxLength: 60 }),
    fc.webUrl().map((u) => u),
  );
  const host = fc.oneof(fc.constantFrom("192.168.0.1:8080", "evil.example:8080", ""), fc.string({ maxLength: 20 }));
  const auth = fc.oneof(fc.constantFrom(`Bearer ${token}`, "Bearer x", "", "Basic eA=="), fc.string({ maxLength: 40 }));
  return fc.property(method, url, host, auth, (m, u, h, a) => {
    const r = answer({ method: m, url: u, headers: { host: h, authorization: a } });
    if (![200, 400, 401, 404, 405, 421].includes(r.code) || typeof r.body !== "string")
      throw new Error(`answer ${r.code}`);
    if (r.code === 200 && r.type === "application/json") JSON.parse(r.body);
  });
}

// Every property, by name: what `npm run fuzz` and the tests run.
/** One property checked with a seed: failed, how many inputs ran, and fast-check's report (shrunk). */
export type PropertyRun = (seed: number, numRuns: number) => { failed: boolean; numRuns: number; report: string };

const run =
  <T extends unknown[]>(property: () => fc.IProperty<T>): PropertyRun =>
  (seed, numRuns) => {
    const r = fc.check(property(), { seed, numRuns });
    return { failed: r.failed, numRuns: r.numRuns, report: fc.defaultReportMessage(r) ?? "" };
  };

export const PROPERTIES: Record<string, PropertyRun> = {
  "the packet cores agree (WASM and TS), checksums stay right": run(coresAgree),
  "the packet cores agree on IPv6, routed and behind NPTv6": run(cores6Agree),
  "a rule file is applied or refused with file:line:column": run(ruleFileErrorsArePositioned),
  "a saved rule set reads back as the same policy": run(ruleFileRoundTrip),
  "NAT-PMP/PCP answer any datagram in bounds or not at all": run(portMappingAnswersInBounds),
  "the HA sync refuses a signed datagram's bad records cleanly": run(syncRecordsRefusedCleanly),
  "UPnP SOAP: parsed or a SOAP fault": run(soapRefusedCleanly),
  "SSDP: a search from the LAN answered from our targets, anything else not at all": run(ssdpSearchesInBounds),
  "the control socket answers any line, never throws": run(controlLinesAnswered),
  "the status page answers any request with a status, never throws": run(statusPageAnswersEveryRequest),
};
