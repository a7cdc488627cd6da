// The IPv6 slow path: a packet the fast path knew no flow for. IPv6 is routed, not translated:
// the decision is whether a flow may begin, by RFC 6092's simple security unless a forward rule
// says otherwise — outbound from the LAN's prefixes allowed, inbound only for known flows, for a
// LAN endpoint as --filtering allows (REC-11) and IPsec (REC-21-23); a forward rule with an IPv6
// address (or none) decides first. A flow it lets through gets an entry (host/table/flows6.ts);
// the core then forwards the packet, and every later one, without coming here. A MASQ rule with
// an IPv6 source is NAT66: its networks' flows leave as the WAN's address and a public port, and
// are reached from the WAN only there, as --filtering allows.
import * as L from "../../assembly/layout";
import * as W from "../../assembly/wire";
import type { Core } from "../core/core";
import type { Flows6 } from "../table/flows6";
import type { Pinholes6 } from "../table/pinholes6";
import { type Policy, type PacketKey, evaluate, type Decision, masqSources6 } from "../policy/rules";
import type { SharedPolicy } from "../policy/shared-policy";
import type { NetworkView, IngressView } from "../net/network-view";
import { parseAddr6, parsePrefix6, inPrefix6, formatAddr6, type Prefix6 } from "../net/addr6";
import { A_FORWARD, A_DROP, A_REPLY } from "./actions";
import { type Npt6, npt6FromWan, npt6Out, npt6Inside, NPT_REFUSED } from "../net/npt6";
import { FTP_PORT } from "./ftp-helper";
import type { FtpHelper6 } from "./ftp-helper6";

// Filtering of inbound packets, both families: to a mapped public port (RFC 4787 REQ-8), to a LAN
// IPv6 address:port with a flow (RFC 6092 REC-11). Endpoint-independent lets anyone in,
// address-dependent only hosts the LAN end has sent to.
export type Filtering = "endpoint-independent" | "address-dependent";

// Inbound IPsec passes by default (RFC 6092 REC-21, REC-22: ESP and AH; REC-23: IKE on UDP 500,
// and 4500 for IKE and ESP behind a NAT, RFC 3948).
const IKE_PORTS = new Set([500, 4500]);

// Fragments (RFC 8200 4.5) are forwarded as they come, either way; the receiver reassembles. The
// first (offset 0) holds the upper-layer header (RFC 7112): it is decided as its datagram would
// be (a known flow, the policy, a new flow), and when it passes it opens a gate for its datagram,
// through which the later fragments pass. A fragment before its first, or of a datagram whose
// first did not pass, is dropped (`fragment`). Gates are few and short-lived.
const FRAGMENT_GATES = 256;
const FRAGMENT_GATE_MS = 60_000; // RFC 8200's reassembly time

const ICMPV6_CODE_ADMIN_PROHIBITED = 1;
// Unique local addresses (RFC 4193) stay inside the site: by default none crosses the WAN (RFC
// 6092 REC-7); a forward rule naming the address lets it.
const UNIQUE_LOCAL = parsePrefix6("fc00::/7");
const HOP_LIMIT = 64;

// A datagram's gate: when it closes (ms), and under NAT66 the address its later fragments take
// (at IPV6_SRC leaving, IPV6_DST coming back).
interface Gate {
  closes: number;
  to?: { at: number; addr: Uint8Array };
}

// What the slow path needs of an IPv6 packet: its addresses, the upper layer after the
// extension headers, and the ports (ICMPv6 echo: the identifier at the asker's end).
interface Packet6 {
  src: Uint8Array;
  dst: Uint8Array;
  proto: number; // the upper-layer protocol, or the header the walk stopped at (ESP, AH, fragment)
  upper: number; // its offset from the IPv6 header
  sport: number;
  dport: number;
  icmpType: number;
  tcpFlags: number;
  length: number; // bytes of the whole packet
  fragment?: { id: string; first: boolean }; // a fragment: its datagram, and whether it is the first
  npt?: "in" | "out"; // NPTv6 applies: "in" from the WAN (`dst` is already the inside address), "out" leaving
  masqIn?: number; // NAT66, from the WAN to this public port: `dst` and `dport` are already its LAN end's
}

function parse6(u8: Uint8Array, dv: DataView, ip: number, len: number): Packet6 {
  const total = Math.min(len, W.IPV6_HEADER + dv.getUint16(ip + W.IPV6_PAYLOAD_LENGTH));
  let nh = u8[ip + W.IPV6_NEXT_HEADER];
  let at = W.IPV6_HEADER;
  let fragment: Packet6["fragment"];
  for (let n = 0; n < W.EXT_HEADERS_MAX && at + 8 <= total; n++) {
    if (nh === W.NH_FRAGMENT && !fragment) {
      // the first fragment holds the upper-layer header (RFC 7112): the walk goes on through it
      const first = dv.getUint16(ip + at + W.FRAGMENT_OFFSET) >> 3 === 0;
      const ends = Buffer.from(u8.buffer, u8.byteOffset + ip + W.IPV6_SRC, 32).toString("hex");
      fragment = { id: `${ends}:${dv.getUint32(ip + at + W.FRAGMENT_ID)}`, first };
      if (!first) break;
      nh = u8[ip + at + W.EXT_NEXT_HEADER];
      at += W.FRAGMENT_HEADER;
      continue;
    }
    if (nh !== W.NH_HOP_BY_HOP && nh !== W.NH_ROUTING && nh !== W.NH_DEST_OPTIONS) break;
    nh = u8[ip + at + W.EXT_NEXT_HEADER];
    at += (u8[ip + at + W.EXT_LENGTH] + 1) << 3;
  }
  const p: Packet6 = {
    src: u8.slice(ip + W.IPV6_SRC, ip + W.IPV6_SRC + 16),
    dst: u8.slice(ip + W.IPV6_DST, ip + W.IPV6_DST + 16),
    proto: nh,
    upper: at,
    sport: 0,
    dport: 0,
    icmpType: -1,
    tcpFlags: 0,
    length: total,
    fragment,
  };
  const l4 = ip + at;
  if ((nh === L.PROTO_TCP || nh === L.PROTO_UDP) && at + 4 <= total) {
    p.sport = dv.getUint16(l4 + W.TCP_SRC_PORT);
    p.dport = dv.getUint16(l4 + W.TCP_DST_PORT);
    if (nh === L.PROTO_TCP && at + W.TCP_HEADER <= total) p.tcpFlags = u8[l4 + W.TCP_FLAGS];
  } else if (nh === L.PROTO_ICMPV6 && at + W.ICMP_HEADER <= total) {
    p.icmpType = u8[l4 + W.ICMP_TYPE];
    const id = dv.getUint16(l4 + W.ICMP_ID);
    if (p.icmpType === W.ICMPV6_ECHO_REQUEST) p.sport = id;
    if (p.icmpType === W.ICMPV6_ECHO_REPLY) p.dport = id;
  }
  return p;
}

export class SlowPath6 {
  reason = 0;
  length = 0;
  private readonly gates = new Map<string, Gate>(); // by datagram
  private lanPrefixes: Array<{ iface: string; prefix: Prefix6 }> = [];
  private own: Uint8Array[] = [];
  private net!: NetworkView;

  constructor(
    private readonly core: Core,
    private readonly flows: Flows6,
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
    private readonly shared: SharedPolicy,
    private readonly stats: number,
    private readonly filtering: Filtering,
    private readonly npt: Npt6[],
    private readonly pinholes: Pinholes6,
    private readonly ftpHelper: boolean,
    private readonly ftp: FtpHelper6,
  ) {}

  set network(v: NetworkView) {
    this.net = v;
    const addrs = v.addrs6 ?? [];
    this.lanPrefixes = addrs.map((a) => ({ iface: a.iface, prefix: parsePrefix6(`${a.addr}/${a.bits}`) }));
    this.own = addrs.map((a) => parseAddr6(a.addr));
  }

  private drop(reason: number): number {
    this.reason = reason;
    return A_DROP;
  }

  // Forwarded as it is, no flow (a fragment, another protocol): the hop limit given back, as the
  // core does (the kernel takes one on the way in and one on the way out), the prefix translated.
  private pass(ip: number, p?: Packet6): number {
    if (this.u8[ip + W.IPV6_HOP_LIMIT] !== 255) this.u8[ip + W.IPV6_HOP_LIMIT]++;
    if (p?.npt === "in") this.u8.set(p.dst, ip + W.IPV6_DST);
    if (p?.npt === "out") npt6Out(this.npt, this.u8, ip + W.IPV6_SRC);
    return A_FORWARD;
  }

  // NPTv6 (RFC 6296): the decision is made on the inside address; the packet keeps the address it
  // came with until it is forwarded (the core maps it again). From the WAN an inside address, or
  // one no mapping can carry, is refused.
  private mapPrefix(p: Packet6, fromWan: boolean): boolean {
    if (!this.npt.length) return true;
    if (fromWan) {
      const inside = Uint8Array.from(p.dst);
      const k = npt6FromWan(this.npt, inside, 0);
      if (k === NPT_REFUSED) return false;
      if (k >= 0) {
        p.dst = inside;
        p.npt = "in";
      }
    } else if (npt6Inside(this.npt, p.src, 0) && !npt6Inside(this.npt, p.dst, 0)) p.npt = "out";
    return true;
  }

  private onLink(a: Uint8Array, iface?: string): boolean {
    return this.lanPrefixes.some((p) => (iface === undefined || p.iface === iface) && inPrefix6(a, p.prefix));
  }
  private isOwn(a: Uint8Array): boolean {
    return this.own.some((o) => o.every((b, i) => b === a[i]));
  }

  private isMasq(a: Uint8Array): boolean {
    return this.flows.masqAddress?.every((b, i) => b === a[i]) ?? false;
  }

  // NAT66, from a LAN host to a public port of the masquerade address (RFC 4787 REQ-9): the host
  // is masqueraded first, so the LAN end that holds the port answers through the gateway and sees
  // the public address; the core then chains the two flows. Nobody's port: closed.
  private hairpin(vnet: number, n: number, p: Packet6, iface: string): number {
    const owner = this.flows.wanOwner(p.proto, p.dport);
    if (!owner || p.tcpFlags & W.TCP_RST) return this.drop(L.R_NO_MAPPING);
    const syn = (p.tcpFlags & (W.TCP_SYN | W.TCP_ACK)) === W.TCP_SYN;
    const midStream = L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED;
    const tcp = (state: number): number => (p.proto !== L.PROTO_TCP ? 0 : syn ? state : midStream);
    const client = this.flows.create(p.proto, p.src, p.sport, p.dst, p.dport, tcp(L.TS_SYN_OUT), {});
    const server =
      client < 0
        ? -1
        : this.flows.create(
            p.proto,
            owner.lan,
            owner.lanPort,
            p.dst,
            this.flows.flow(client).wanPort,
            tcp(L.TS_SYN_IN),
            {
              want: p.dport,
            },
          );
    if (server < 0) return this.reply(vnet, n, iface, L.R_TABLE_FULL);
    const v = this.core.processPacket(vnet, n, this.stats, L.IN_INSIDE);
    return v === L.V_FORWARD ? A_FORWARD : this.drop(this.core.lastReason());
  }

  // NAT66, from the WAN to the masquerade address: a TCP or UDP port (or echo reply identifier)
  // a LAN end holds is that end's (the decision is made on it, as for a LAN address); anything
  // else is the gateway's own (its ICMPv6), delivered by the kernel; a port nobody holds, nobody's.
  private masqIn(p: Packet6): "mapped" | "unmapped" | "own" | "none" {
    if (!this.isMasq(p.dst)) return "none";
    const echoReply = p.proto === L.PROTO_ICMPV6 && p.icmpType === W.ICMPV6_ECHO_REPLY;
    // (a first fragment of TCP or UDP has its ports: it is decided as the datagram is)
    if ((p.fragment && !p.fragment.first) || (p.proto !== L.PROTO_TCP && p.proto !== L.PROTO_UDP && !echoReply))
      return "own";
    if (p.fragment && echoReply) return "own";
    const owner = this.flows.wanOwner(p.proto, p.dport);
    // nobody's: ICMPv6 and UDP outside the NAT's ports are the gateway's own (all UDP comes here
    // for its fragments' sake), the rest is closed
    if (!owner)
      return p.proto === L.PROTO_ICMPV6 || (p.proto === L.PROTO_UDP && !this.flows.isNatPort(p.dport))
        ? "own"
        : "unmapped";
    p.masqIn = p.dport;
    p.dst = owner.lan;
    p.dport = owner.lanPort;
    return "mapped";
  }

  handle(vnet: number, n: number, fastReason: number, ingress: IngressView, policy: Policy): number {
    this.length = n;
    const ip = vnet + L.VNET_HDR_LEN;
    if (fastReason === L.R_ALG) {
      // a NAT66 FTP control connection's packet, translated: the helper reads what it names
      this.length = this.ftp.process(vnet, n);
      return A_FORWARD;
    }
    const p = parse6(this.u8, this.dv, ip, n - L.VNET_HDR_LEN);
    const fromWan = ingress.wan;
    const wan = this.net.wan;
    if (!this.mapPrefix(p, fromWan)) return this.drop(L.R_NPT);

    // Anti-spoofing both ways (RFC 6092 REC-5, RFC 7084 L-?): from a LAN only its own prefixes;
    // from the WAN never a LAN prefix or the gateway's own address.
    if (this.isOwn(p.src)) return this.drop(L.R_MARTIAN);
    if (fromWan ? this.onLink(p.src) && !this.onLink(p.src, wan) : !this.onLink(p.src, ingress.iface))
      return this.drop(L.R_SPOOFED);
    // a later fragment passes through its datagram's gate (translated as its first was), or is
    // the gateway's own (the kernel reassembles), or nobody's
    if (p.fragment && !p.fragment.first) {
      const g = this.gate(p.fragment.id);
      if (g?.to) this.u8.set(g.to.addr, ip + g.to.at);
      if (g) return this.pass(ip, p);
      return this.isOwn(p.dst) ? this.pass(ip) : this.drop(L.R_FRAGMENT);
    }
    if (!fromWan && this.isMasq(p.dst) && (p.proto === L.PROTO_TCP || p.proto === L.PROTO_UDP) && !p.fragment)
      return this.hairpin(vnet, n, p, ingress.iface);
    const masqIn = fromWan ? this.masqIn(p) : "none";
    if (masqIn === "none" && this.isOwn(p.dst)) return this.pass(ip); // for the gateway itself (the kernel delivers it)
    if (masqIn === "own") return this.pass(ip);
    if (masqIn === "unmapped") return this.drop(L.R_NO_MAPPING);
    // a masqueraded LAN end is reached from the WAN only by its public end
    if (fromWan && masqIn === "none" && masqSources6(policy).some((m) => inPrefix6(p.dst, m)))
      return this.drop(L.R_NO_MAPPING);

    // a first fragment from the WAN of a flow the fast path would have forwarded
    const known = p.fragment && fromWan ? this.flows.find(p.proto, p.dst, p.dport, p.src, p.sport) : -1;
    if (known >= 0) return p.masqIn !== undefined ? this.fragment66(ip, p, "in", known) : this.whole(ip, p);
    const k: PacketKey = {
      proto: p.proto === L.PROTO_ICMPV6 ? L.PROTO_ICMP : p.proto,
      src: 0,
      sport: p.sport,
      dst: 0,
      dport: p.dport,
      syn: (p.tcpFlags & (W.TCP_SYN | W.TCP_ACK)) === W.TCP_SYN,
      fragment: false,
      icmpType: p.icmpType,
      iface: fromWan ? (this.lanPrefixes.find((x) => inPrefix6(p.dst, x.prefix))?.iface ?? "") : wan,
      src6: p.src,
      dst6: p.dst,
    };
    const d = evaluate(policy, "forward", k);
    const crossesWan = fromWan || !this.onLink(p.dst) || this.onLink(p.dst, wan); // to a LAN: inside
    // (a unique local prefix behind NPTv6 crosses translated)
    if (
      d.byPolicy &&
      crossesWan &&
      !p.npt &&
      p.masqIn === undefined &&
      (inPrefix6(p.src, UNIQUE_LOCAL) || inPrefix6(p.dst, UNIQUE_LOCAL))
    )
      return this.drop(L.R_UNIQUE_LOCAL);
    if (!d.byPolicy) {
      this.shared.count(d.counter, p.length);
      if (d.log) this.log(d, p, ingress.iface);
      if (d.verdict === "DENY") return this.drop(L.R_POLICY);
      if (d.verdict === "REJECT") return this.reply(vnet, n, ingress.iface);
      if (d.verdict === "REDIRECT") return this.drop(L.R_UNSUPPORTED);
    }
    // Allowed by a rule (ACCEPT, or MASQ: routed, IPv6 needs no translation), or by the default.
    const allowed =
      !d.byPolicy ||
      !fromWan ||
      p.proto === W.NH_ESP ||
      p.proto === W.NH_AH ||
      (p.proto === L.PROTO_UDP && IKE_PORTS.has(p.dport)) ||
      this.filterLetsIn(p) ||
      this.pinholeLetsIn(p);
    if (!allowed) return this.drop(L.R_NO_MAPPING);
    // NAT66: leaving by the WAN under a MASQ rule with an IPv6 source (or coming back to one)
    const masq = p.masqIn !== undefined || (!fromWan && d.verdict === "MASQ" && crossesWan);
    if (masq && !this.flows.masqAddress) return this.drop(L.R_NO_WAN);
    const echo = p.proto === L.PROTO_ICMPV6 && p.icmpType === W.ICMPV6_ECHO_REQUEST;
    if ((fastReason === L.R_UNSUPPORTED || (p.fragment && p.proto === L.PROTO_ICMPV6)) && !echo)
      return this.whole(ip, p); // another protocol, or an ICMPv6 message that is not a flow: no state
    if (p.tcpFlags & W.TCP_RST) return this.drop(L.R_NO_MAPPING); // a stray reset opens nothing
    if (p.proto !== L.PROTO_TCP && p.proto !== L.PROTO_UDP && p.proto !== L.PROTO_ICMPV6) return this.whole(ip, p);
    // The flow's LAN end: the inside one (from the WAN, the destination).
    const lanFirst = !fromWan;
    const state =
      p.proto !== L.PROTO_TCP
        ? 0
        : k.syn
          ? lanFirst
            ? L.TS_SYN_OUT
            : L.TS_SYN_IN
          : L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED; // picked up mid-stream (a restart)
    const alg = masq && lanFirst && this.ftpHelper && p.proto === L.PROTO_TCP && p.dport === FTP_PORT ? L.ES_ALG : 0;
    const e = lanFirst
      ? this.flows.create(p.proto, p.src, p.sport, p.dst, p.dport, state | alg, masq ? {} : undefined)
      : masq
        ? this.flows.create(p.proto, p.dst, p.dport, p.src, p.sport, state, { want: p.masqIn })
        : this.flows.create(p.proto, p.dst, p.dport, p.src, p.sport, state | L.ES_FIXED);
    if (e < 0) {
      this.reason = L.R_TABLE_FULL;
      return this.reply(vnet, n, ingress.iface, L.R_TABLE_FULL);
    }
    // the core forwards no fragment: as it is, or under NAT66 translated here
    if (p.fragment) return masq ? this.fragment66(ip, p, lanFirst ? "out" : "in", e) : this.whole(ip, p);
    const v = this.core.processPacket(vnet, n, this.stats, fromWan ? L.IN_WAN : L.IN_INSIDE);
    if (v === L.V_FORWARD) return A_FORWARD;
    return this.drop(this.core.lastReason());
  }

  // A WAN host's packet to a LAN endpoint with no flow of its own (RFC 6092 REC-11, 17, 33; the
  // same --filtering as IPv4's mapped ports): endpoint-independent lets in anyone once the LAN
  // end has a flow; address-dependent only a host it has a flow to, from any port.
  private filterLetsIn(p: Packet6): boolean {
    if (p.proto !== L.PROTO_TCP && p.proto !== L.PROTO_UDP) return false;
    return this.filtering === "endpoint-independent"
      ? this.flows.hasEndpoint(p.proto, p.dst, p.dport)
      : this.flows.hasFlowTo(p.proto, p.dst, p.dport, p.src);
  }

  // A port the LAN host opened with PCP (RFC 6887; REC-48): anyone may begin a flow to it.
  private pinholeLetsIn(p: Packet6): boolean {
    return (p.proto === L.PROTO_TCP || p.proto === L.PROTO_UDP) && this.pinholes.has(p.proto, p.dst, p.dport);
  }

  // Forwarded as it is; a first fragment opens its datagram's gate (see FRAGMENT_GATES).
  private whole(ip: number, p: Packet6, to?: Gate["to"]): number {
    if (p.fragment?.first) {
      const now = Date.now();
      this.gates.delete(p.fragment.id); // to the end: the map is in order of age
      this.gates.set(p.fragment.id, { closes: now + FRAGMENT_GATE_MS, to });
      this.closeGates(now);
    }
    return this.pass(ip, p);
  }

  // NAT66, a first fragment (RFC 7112: it holds the upper-layer header): its address and port
  // rewritten by the core's own rewrite (the checksum covers the whole datagram, which changes
  // by the same difference); its gate gives the later fragments the same address. Leaving
  // (`out`): from the public end of flow `e`; coming back (`in`): to its LAN end.
  private fragment66(ip: number, p: Packet6, way: "out" | "in", e: number): number {
    const masq = this.flows.masqAddress;
    if (!masq || (p.proto !== L.PROTO_TCP && p.proto !== L.PROTO_UDP)) return this.drop(L.R_FRAGMENT);
    const checksumAt = p.proto === L.PROTO_TCP ? W.TCP_CHECKSUM : W.UDP_CHECKSUM;
    if (p.upper + checksumAt + 2 > p.length) return this.drop(L.R_FRAGMENT); // its header cut short
    const out = way === "out";
    const f = this.flows.flow(e);
    this.core.rewriteEnd6(
      ip,
      ip + p.upper,
      p.length - p.upper,
      p.proto,
      out ? L.END_SRC : L.END_DST,
      out ? this.flows.masqAddressAt : this.flows.entry(e) + L.F6_LAN_ADDR,
      out ? f.wanPort : f.lanPort,
      false,
    );
    return this.whole(ip, p, { at: out ? W.IPV6_SRC : W.IPV6_DST, addr: out ? masq : p.dst });
  }

  private gate(id: string): Gate | undefined {
    const now = Date.now();
    this.closeGates(now);
    const g = this.gates.get(id);
    return g && g.closes > now ? g : undefined;
  }

  // The expired gates, and the oldest past FRAGMENT_GATES.
  private closeGates(now: number): void {
    for (const [k, g] of this.gates) {
      if (g.closes > now && this.gates.size <= FRAGMENT_GATES) break; // oldest first: the rest are younger
      this.gates.delete(k);
    }
  }

  private log(d: Decision, p: Packet6, via: string): void {
    process.stderr.write(
      `ipmasq: log ${d.verdict} by "${d.rule}": proto ${p.proto} [${formatAddr6(p.src)}]:${p.sport} -> [${formatAddr6(p.dst)}]:${p.dport} via ${via}\n`,
    );
  }

  // ICMPv6 destination unreachable, administratively prohibited (RFC 4443 3.1), from the
  // gateway's address on the interface the packet came in by; as much of the packet as fits in
  // the minimum MTU (1280). Never about an ICMPv6 error (RFC 4443 2.4 e).
  private reply(vnet: number, n: number, iface: string, reason = L.R_POLICY): number {
    this.reason = reason;
    const ip = vnet + L.VNET_HDR_LEN;
    const p = parse6(this.u8, this.dv, ip, n - L.VNET_HDR_LEN);
    if (p.proto === L.PROTO_ICMPV6 && p.icmpType >= 0 && p.icmpType <= W.ICMPV6_ERROR_MAX) return A_DROP;
    const from = (this.net.addrs6 ?? []).find((a) => a.iface === iface);
    if (!from) return A_DROP;
    const quoted = this.u8.slice(ip, ip + Math.min(p.length, 1280 - W.IPV6_HEADER - W.ICMP_HEADER));
    const plen = W.ICMP_HEADER + quoted.length;
    const u8 = this.u8,
      dv = this.dv;
    u8.fill(0, vnet, ip + W.IPV6_HEADER + plen);
    u8[ip] = 0x60;
    dv.setUint16(ip + W.IPV6_PAYLOAD_LENGTH, plen);
    u8[ip + W.IPV6_NEXT_HEADER] = L.PROTO_ICMPV6;
    u8[ip + W.IPV6_HOP_LIMIT] = HOP_LIMIT;
    u8.set(parseAddr6(from.addr), ip + W.IPV6_SRC);
    u8.set(p.src, ip + W.IPV6_DST);
    const icmp = ip + W.IPV6_HEADER;
    u8[icmp + W.ICMP_TYPE] = W.ICMPV6_DEST_UNREACH;
    u8[icmp + W.ICMP_CODE] = ICMPV6_CODE_ADMIN_PROHIBITED;
    u8.set(quoted, icmp + W.ICMP_HEADER);
    // the checksum covers the pseudo-header (the core's sums are in memory order)
    const pseudo = this.core.sum(ip + W.IPV6_SRC, 32, 0) + (((plen & 0xff) << 8) | (plen >> 8)) + (L.PROTO_ICMPV6 << 8);
    dv.setUint16(icmp + W.ICMP_CHECKSUM, ~this.core.sum(icmp, plen, pseudo) & 0xffff, true);
    this.length = L.VNET_HDR_LEN + W.IPV6_HEADER + plen;
    return A_REPLY;
  }
}
