// Differential run: random and mutated packets (IPv4, and a quarter IPv6) through the WASM and the TS core over the same
// table, half of them one at a time (processPacket), half in batches (processBatch); both cores
// must give the same verdict, drop reason and bytes for every packet, and count the same in
// their statistics; every translated packet must carry correct checksums by full recomputation,
// and a packet of a known flow the addresses and ports the flow says (an oracle of its own, from
// the flow list, not from the cores).
import { coreSetup, addFlows, type FlowSpec, ingressOf } from "./core-setup";
import { ipv4, tcp, udp, icmp, withPartialChecksum, plainVnet, concat, verifyChecksums } from "./packets";
import { ipv6, tcp6, udp6, icmp6, ext, NH } from "./packets6";
import { parseAddr6, formatAddr6 } from "../host/net/addr6";
import { parseNpt6, npt6Out, inPrefix } from "../host/net/npt6";
import { slotAddress, statsAddress, descAddress } from "../host/shm/memory-map";
import * as L from "../assembly/layout";

export interface DiffResult {
  packets: number;
  verdicts: Record<string, number>;
  mismatches: string[];
  badChecksums: string[];
  badTranslations: string[];
  translationsChecked: number;
}

// What a translated packet of a known flow must carry: source and destination address:port (for
// ICMP queries the id stands in the source or destination port).
type Expect = [string, number, string, number];

// The addresses and ports of a packet (virtio_net_hdr first), as an Expect.
function endpoints(b: Uint8Array): Expect {
  const ip = b.subarray(10),
    ihl = (ip[0] & 15) * 4,
    l4 = ip.subarray(ihl);
  const addr = (o: number): string => [...ip.subarray(o, o + 4)].join(".");
  const u16 = (o: number): number => (l4[o] << 8) | l4[o + 1];
  if (ip[9] === 1) return l4[0] === 8 ? [addr(12), u16(4), addr(16), 0] : [addr(12), 0, addr(16), u16(4)];
  return [addr(12), u16(0), addr(16), u16(2)];
}

// xorshift32: reproducible from the seed.
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

// A third of the IPv6 flows sit behind NPTv6: their LAN end inside, seen from the WAN outside.
const NPT = parseNpt6("fd00:1::/64=2001:db8:2::/64");
const outsideOf = (inside: string): string => {
  const a = parseAddr6(inside);
  npt6Out(NPT, a, 0);
  return formatAddr6(a);
};
// What NPTv6 may change in a forwarded packet: addresses of its prefixes (wherever they are:
// the header, an ICMPv6 error's quote), and never the packet's one's-complement sum.
function nptChangedOnly(input: Uint8Array, out: Uint8Array): boolean {
  const may = new Uint8Array(input.length);
  for (let i = 0; i + 16 <= input.length; i++)
    for (const n of NPT)
      if (inPrefix(input, n.inside, n.bits, i) || inPrefix(input, n.outside, n.bits, i)) may.fill(1, i, i + 16);
  let a = 0,
    b = 0;
  for (let i = L.VNET_HDR_LEN + 8; i + 1 < input.length; i += 2) {
    a += (input[i] << 8) | input[i + 1];
    b += (out[i] << 8) | out[i + 1];
  }
  return input.every((x, i) => x === out[i] || may[i] === 1) && a % 0xffff === b % 0xffff;
}

export function runDifferential(count: number, seed: number): DiffResult {
  const s = coreSetup(4096, NPT);
  // the WASM core works on one copy, the TS core on the other, each with statistics of its own
  const BATCH = 16;
  const slotA = slotAddress(0, 0),
    slotB = slotAddress(0, 1);
  const batchSlot = (core: number, k: number): number => slotAddress(0, 2 + core * BATCH + k);
  const descOf = (core: number): number => descAddress(0) + core * BATCH * L.D_SIZE;
  const statsA = statsAddress(0),
    statsB = slotAddress(0, L.BATCH_MAX - 1);
  const rand = rng(seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(a: T[]): T => a[int(a.length)];

  const flows: FlowSpec[] = [];
  const protos = [6, 17, 1];
  for (let i = 0; i < 96; i++) {
    const proto = protos[i % 3];
    flows.push({
      proto,
      lan: `192.168.0.${2 + (i % 50)}`,
      lanPort: 30000 + i,
      remote: `10.0.${i % 4}.${2 + (i % 7)}`,
      remotePort: proto === 1 ? 0 : 1000 + i,
      wan: "10.0.0.1",
      wanPort: 61000 + i,
    });
  }
  addFlows(s, flows);
  // IPv6 flows (routed): LAN 2001:db8:1::/64 and, behind NPTv6, fd00:1::/64; far ends in 2001:db8:ff::/64
  const flows6: Array<{ proto: number; lan: string; lanPort: number; remote: string; remotePort: number }> = [];
  for (let i = 0; i < 48; i++) {
    const proto = [6, 17, 58][i % 3];
    const f = {
      proto,
      lan: `${i % 3 === 1 ? "fd00:1" : "2001:db8:1"}::${(2 + (i % 20)).toString(16)}`,
      lanPort: 40000 + i,
      remote: `2001:db8:ff::${(2 + (i % 9)).toString(16)}`,
      remotePort: proto === 58 ? 0 : 2000 + i,
    };
    flows6.push(f);
    s.table.v6.create(proto, parseAddr6(f.lan), f.lanPort, parseAddr6(f.remote), f.remotePort, 0);
  }

  const payload = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const options = (): number[] => (rand() < 0.2 ? [0x94, 0x04, 0, 0] : []);

  function l4For(
    proto: number,
    src: string,
    dst: string,
    sport: number,
    dport: number,
    icmpType: number,
    size: number,
  ): Uint8Array {
    if (proto === 6) {
      const opts = rand() < 0.3 ? [1, 2, 4, 0x05, 0xb4, 1, 1, 1] : [];
      return tcp(src, dst, sport, dport, pick([0x02, 0x12, 0x10, 0x18, 0x11, 0x04]), payload(size), opts);
    }
    if (proto === 17) return udp(src, dst, sport, dport, payload(size), rand() < 0.9);
    return icmp(icmpType, 0, ((icmpType === 8 ? sport : dport) << 16) | int(65536), payload(size));
  }

  function l4For6(proto: number, src: string, dst: string, sport: number, dport: number, size: number): Uint8Array {
    if (proto === 6) return tcp6(src, dst, sport, dport, pick([0x02, 0x12, 0x10, 0x18, 0x11, 0x04]), payload(size));
    if (proto === 17) return udp6(src, dst, sport, dport, payload(size));
    const echo = sport !== 0 ? 128 : 129;
    return icmp6(
      src,
      dst,
      rand() < 0.9 ? echo : pick([130, 133, 135, 136, 1, 200]),
      0,
      ((sport || dport) << 16) | int(65536),
      payload(size),
    );
  }

  // An IPv6 packet of a flow (or of none, or an ICMPv6 error about one), with extension headers
  // now and then. A forwarded one must come out with only its hop limit changed (judge, below).
  function packet6(): { bytes: Uint8Array } {
    const f = pick(flows6);
    const out = rand() < 0.5;
    const unknown = rand() < 0.1;
    const lanPort = unknown ? int(65536) : f.lanPort;
    // from the WAN a LAN end behind NPTv6 is reached by its outside address (now and then, wrongly, by its inside one)
    const lanSeen = f.lan.startsWith("fd00:") && rand() < 0.9 ? outsideOf(f.lan) : f.lan;
    const [src, dst, sport, dport] = out
      ? [f.lan, f.remote, lanPort, f.remotePort]
      : [f.remote, lanSeen, f.remotePort, lanPort];
    let upper = l4For6(f.proto, src, dst, sport, dport, rand() < 0.05 ? int(60000) : int(1400));
    let nh = f.proto;
    if (rand() < 0.1) {
      // an ICMPv6 error about the flow's packet the other way
      const about = ipv6({ src: dst, dst: src, nh: f.proto }, l4For6(f.proto, dst, src, dport, sport, int(40)));
      upper = icmp6(
        src,
        dst,
        pick([1, 2, 3, 4]),
        0,
        1280,
        about.subarray(0, Math.min(about.length, 40 + int(about.length))),
      );
      nh = 58;
    }
    const r = rand();
    if (r < 0.05) {
      upper = concat(ext(nh, [1, 4, 0, 0, 0, 0]), upper);
      nh = NH.HOP;
    } else if (r < 0.08) {
      upper = concat(ext(nh, [0, int(2), 0, 0, 0, 0]), upper);
      nh = NH.ROUTING;
    } else if (r < 0.1) {
      upper = concat(new Uint8Array([nh, 0, 0, int(2), 0, 0, 0, 1]), upper);
      nh = NH.FRAGMENT;
    } else if (r < 0.12) {
      upper = concat(ext(nh, [1, 4, 0, 0, 0, 0]), upper);
      nh = NH.DEST;
    }
    const pkt = ipv6({ src, dst, nh, hop: int(256) }, upper);
    return { bytes: concat(plainVnet(), pkt) };
  }

  // The packet, and (for a known flow's plain packet) what it must look like once translated.
  function packet(): { bytes: Uint8Array; expect?: Expect } {
    if (rand() < 0.25) return packet6();
    const f = pick(flows);
    const unknown = rand() < 0.1;
    const out = rand() < 0.5;
    const size = rand() < 0.05 ? int(60000) : int(1400);
    const lanPort = unknown ? int(65536) : f.lanPort;
    const kind = rand();
    if (kind < 0.12) {
      // an ICMP error about the flow, embedding its other side
      const emb = out
        ? ipv4(
            { src: f.remote, dst: f.lan, proto: f.proto, ttl: 5 },
            l4For(f.proto, f.remote, f.lan, f.remotePort, lanPort, 0, int(40)),
          )
        : ipv4(
            { src: f.wan, dst: f.remote, proto: f.proto, ttl: 1 },
            l4For(f.proto, f.wan, f.remote, f.wanPort, f.remotePort, 8, int(40)),
          );
      const cut = emb.subarray(0, Math.min(emb.length, 28 + int(emb.length)));
      const src = out ? f.lan : pick([f.remote, "10.9.9.9"]);
      const dst = out ? f.remote : f.wan;
      return {
        bytes: concat(
          plainVnet(),
          ipv4({ src, dst, proto: 1, ttl: 1 + int(255) }, icmp(pick([3, 11, 12]), int(16), 0, cut)),
        ),
      };
    }
    const [src, dst, sport, dport] = out
      ? [f.lan, f.remote, lanPort, f.remotePort]
      : [f.remote, f.wan, f.remotePort, unknown ? int(65536) : f.wanPort];
    const l4 = l4For(f.proto, src, dst, sport, dport, out ? 8 : 0, size);
    const pkt = ipv4(
      {
        src,
        dst,
        proto: f.proto,
        ttl: 1 + int(255),
        id: int(65536),
        options: options(),
        frag: rand() < 0.03 ? pick([0x2000, 0x0010, 0x4000]) : rand() < 0.3 ? 0x4000 : 0,
      },
      l4,
    );
    // out: our public end replaces the LAN end; in: the LAN end replaces the public one (an ICMP
    // query's remote "port" is 0: the id travels as the LAN side's port)
    const expect: Expect | undefined = unknown
      ? undefined
      : out
        ? [f.wan, f.wanPort, f.remote, f.remotePort]
        : [f.remote, f.remotePort, f.lan, f.lanPort];
    if (f.proto !== 1 && rand() < 0.3)
      return { bytes: withPartialChecksum(pkt, size > 1400 ? (f.proto === 6 ? 1 : 5) : 0, 1400), expect };
    return { bytes: concat(plainVnet(), pkt), expect };
  }

  function mutate(b: Uint8Array): Uint8Array {
    const r = rand();
    if (r < 0.3) {
      const c = Uint8Array.from(b);
      for (let k = 1 + int(3); k > 0; k--) c[int(Math.min(c.length, 80))] = int(256);
      return c;
    }
    if (r < 0.6) return b.subarray(0, int(b.length));
    if (r < 0.7) return payload(int(100));
    const c = Uint8Array.from(b);
    c[int(10)] = int(256);
    return c;
  }

  const res: DiffResult = {
    packets: 0,
    verdicts: {},
    mismatches: [],
    badChecksums: [],
    badTranslations: [],
    translationsChecked: 0,
  };
  const u8 = s.u8,
    dv = new DataView(s.memory.buffer);

  // Compares the two cores' results for one packet (at `a` and `b`, `len` bytes).
  const judge = (
    n: number,
    pkt: Uint8Array,
    expect: Expect | undefined,
    a: number,
    b: number,
    va: number,
    vb: number,
    ra: number,
    rb: number,
  ): void => {
    res.packets++;
    const name = ["forward", "drop", "slow"][va] ?? `?${va}`;
    res.verdicts[name] = (res.verdicts[name] ?? 0) + 1;
    const outA = u8.subarray(a, a + pkt.length),
      outB = u8.subarray(b, b + pkt.length);
    if (va !== vb || ra !== rb || Buffer.compare(outA, outB) !== 0) {
      if (res.mismatches.length < 5)
        res.mismatches.push(
          `#${n} verdict wasm=${va}/${ra} ts=${vb}/${rb} input=${Buffer.from(pkt).toString("hex").slice(0, 200)}`,
        );
      return;
    }
    // A packet that arrives with a wrong L4 checksum keeps it wrong (the fast path does not
    // verify end-to-end checksums: the receiver does); a right one must stay right.
    if (pkt[L.VNET_HDR_LEN] >> 4 === 6) {
      // IPv6 is routed: a forwarded packet differs from what came in by its hop limit alone, and
      // the addresses NPTv6 maps, checksum-neutrally
      if (va === L.V_FORWARD) {
        res.translationsChecked++;
        const want = Uint8Array.from(pkt);
        if (want[L.VNET_HDR_LEN + 7] !== 255) want[L.VNET_HDR_LEN + 7]++;
        if (Buffer.compare(outA, want) !== 0 && !nptChangedOnly(want, outA) && res.badTranslations.length < 5)
          res.badTranslations.push(`#${n} IPv6 forwarded with more changed than its hop limit and NPTv6's addresses`);
      }
      return;
    }
    if (va === L.V_FORWARD && pkt.length > 30 && verifyChecksums(pkt) === "") {
      const bad = verifyChecksums(outA);
      if (bad && res.badChecksums.length < 5)
        res.badChecksums.push(`#${n} ${bad}: ${Buffer.from(pkt).toString("hex").slice(0, 200)}`);
    }
    if (va === L.V_FORWARD && expect) {
      res.translationsChecked++;
      const got = endpoints(outA);
      if (got.join(" ") !== expect.join(" ") && res.badTranslations.length < 5)
        res.badTranslations.push(`#${n} got ${got.join(" ")}, want ${expect.join(" ")}`);
    }
  };

  // Batches hold packets of one side (the side is per batch, as a TUN device's queue is).
  const pending: Array<Array<{ n: number; pkt: Uint8Array; expect?: Expect }>> = [[], []];
  const flush = (side: number): void => {
    const batch = pending[side];
    if (batch.length === 0) return;
    batch.forEach(({ pkt }, k) => {
      for (const core of [0, 1]) {
        u8.set(pkt, batchSlot(core, k));
        dv.setUint32(descOf(core) + k * L.D_SIZE + L.D_OFFSET, batchSlot(core, k), true);
        dv.setUint32(descOf(core) + k * L.D_SIZE + L.D_LENGTH, pkt.length, true);
      }
    });
    s.cores.wasm.processBatch(descOf(0), batch.length, statsA, side);
    s.cores.ts.processBatch(descOf(1), batch.length, statsB, side);
    batch.forEach(({ n, pkt, expect }, k) => {
      const da = descOf(0) + k * L.D_SIZE,
        db = descOf(1) + k * L.D_SIZE;
      judge(
        n,
        pkt,
        expect,
        batchSlot(0, k),
        batchSlot(1, k),
        dv.getUint32(da + L.D_VERDICT, true),
        dv.getUint32(db + L.D_VERDICT, true),
        dv.getUint32(da + L.D_REASON, true),
        dv.getUint32(db + L.D_REASON, true),
      );
    });
    pending[side] = [];
  };

  for (let n = 0; n < count; n++) {
    const made = packet();
    let pkt = made.bytes,
      expect = made.expect;
    if (rand() < 0.4) {
      pkt = mutate(pkt);
      expect = undefined;
    } // a mutated packet has no oracle
    u8.set(pkt, slotA);
    const side = ingressOf(u8, slotA + L.VNET_HDR_LEN);
    if (rand() < 0.5) {
      pending[side].push({ n, pkt, expect });
      if (pending[side].length === BATCH) flush(side);
      continue;
    }
    u8.set(pkt, slotB);
    const va = s.cores.wasm.processPacket(slotA, pkt.length, statsA, side);
    const ra = s.cores.wasm.lastReason();
    const vb = s.cores.ts.processPacket(slotB, pkt.length, statsB, side);
    judge(n, pkt, expect, slotA, slotB, va, vb, ra, s.cores.ts.lastReason());
  }
  flush(0);
  flush(1);
  const a = new Float64Array(s.memory.buffer, statsA, L.STATS_SLOTS),
    b = new Float64Array(s.memory.buffer, statsB, L.STATS_SLOTS);
  for (let k = 0; k < L.STATS_SLOTS; k++) {
    if (a[k] !== b[k]) res.mismatches.push(`statistics slot ${k}: wasm ${a[k]}, ts ${b[k]}`);
  }
  return res;
}
