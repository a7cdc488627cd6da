// The slow path, in TypeScript inside each worker: packets the fast path had no answer for.
// A new flow walks the ipchains chains as the 2.2 kernel did (input, then forward, then output),
// and a MASQ, port forward or REDIRECT decision makes an entry in the shared table; the packet is
// then translated by the core like any other. Everything here is per flow, not per packet.
import * as L from "../../assembly/layout";
import type { Core } from "../core/core";
import { type ConnTable, HOST_LIMITED } from "../table/conntrack";
import { type Policy, type PacketKey, evaluate, findPortForward, type Decision } from "../policy/rules";
import type { SharedPolicy } from "../policy/shared-policy";
import { formatAddr } from "../net/addr";
import { Reassembler } from "./reassembly";
import { FtpHelper6 } from "./ftp-helper6";
import { FtpHelper, FTP_PORT } from "./ftp-helper";
import { AlgState } from "../table/alg-state";
import {
  buildUnreachable,
  ICMP_ERROR_TYPES,
  ICMP_CODE_ADMIN_PROHIBITED,
  ICMP_CODE_PORT_UNREACH,
  ICMP_CODE_NET_UNREACH,
} from "./icmp-reply";
import type { NetworkView, IngressView } from "../net/network-view";
import { routeDev } from "../net/routes";
import { checkSource, type SpoofCheck } from "./reverse-path";
import { parseIpv4, parseL4, isSyn, isQuery, TCP_RST } from "../net/wire";

import { A_FORWARD, A_DROP, A_PASS, A_REPLY, A_HELD } from "./actions";
import { SlowPath6, type Filtering } from "./slow-path6";
import { readNpt6 } from "../net/npt6";
export type { Filtering };

export { A_FORWARD, A_DROP, A_PASS, A_REPLY, A_HELD };

// What the slow path is told at start; what changes (addresses, interfaces) comes in the
// NetworkView.
export interface PathOptions {
  filtering: Filtering;
  ftpHelper: boolean; // the FTP helper watches control connections to port 21
  spoofCheck: SpoofCheck;
}

export class SlowPath {
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  reason = 0; // drop reason of the last A_DROP
  length = 0; // bytes to write for A_FORWARD, A_PASS and A_REPLY (a reassembled datagram is longer)
  private readonly frags = new Reassembler();
  private readonly alg: AlgState;
  private readonly ftp: FtpHelper;
  private readonly v6: SlowPath6;

  private net!: NetworkView;
  private own = new Set<number>(); // the gateway's addresses
  private ingress!: IngressView; // where the packet being handled came in

  constructor(
    private readonly core: Core,
    private readonly table: ConnTable,
    memory: WebAssembly.Memory,
    private readonly options: PathOptions,
    public policy: Policy,
    private readonly shared: SharedPolicy,
    private readonly stats: number,
    network: NetworkView,
  ) {
    this.u8 = new Uint8Array(memory.buffer);
    this.dv = new DataView(memory.buffer);
    this.alg = new AlgState(table, table.map.alg);
    this.ftp = new FtpHelper(core, table, this.alg, memory, network.publicAddr);
    this.v6 = new SlowPath6(
      core,
      table.v6,
      this.u8,
      this.dv,
      shared,
      stats,
      options.filtering,
      readNpt6(this.dv, this.u8, table.map.tableBase),
      table.pinholes6,
      options.ftpHelper,
      new FtpHelper6(core, table.v6, table.pinholes6, this.alg, this.u8, this.dv),
    );
    this.network = network;
  }

  set network(v: NetworkView) {
    this.net = v;
    this.own = new Set(v.addrs.map((a) => a.addr));
    this.ftp.publicAddr = v.publicAddr;
    this.v6.network = v;
  }

  // The gateway's address on an interface (the source of the ICMP errors it sends there).
  private addrOn(iface: string): number {
    if (iface === this.net.wan && this.net.publicAddr) return this.net.publicAddr;
    return this.net.addrs.find((a) => a.iface === iface)?.addr ?? this.net.publicAddr;
  }

  private side(): number {
    return this.ingress.wan ? L.IN_WAN : L.IN_INSIDE;
  }

  private drop(reason: number): number {
    this.reason = reason;
    return A_DROP;
  }

  private decide(chain: "input" | "forward" | "output", k: PacketKey, bytes: number): Decision {
    const d = evaluate(this.policy, chain, k);
    this.shared.count(d.counter, bytes);
    if (d.log) {
      // ipchains -l: one line per packet that a logging rule decided (first packets of flows)
      process.stderr.write(
        `ipmasq: log ${d.verdict} by "${d.rule}": proto ${k.proto} ${formatAddr(k.src)}:${k.sport} -> ${formatAddr(k.dst)}:${k.dport} via ${k.iface}\n`,
      );
    }
    return d;
  }

  // Decides a packet the fast path had no answer for; `ingress` is where it came in.
  // Returns an A_* action; the bytes to write are then in `length`, a drop's reason in `reason`.
  handle(vnet: number, n: number, fastReason: number, ingress: IngressView): number {
    this.length = n;
    this.ingress = ingress;
    if (this.u8[vnet + L.VNET_HDR_LEN] >> 4 === 6) {
      const a = this.v6.handle(vnet, n, fastReason, ingress, this.policy);
      this.reason = this.v6.reason;
      this.length = this.v6.length;
      return a;
    }
    if (fastReason === L.R_FRAGMENT) return this.fragment(vnet, n);
    if (fastReason === L.R_ALG) {
      this.length = this.ftp.process(vnet, n);
      return A_FORWARD;
    }
    const o = this.options,
      net = this.net;
    const ip = vnet + L.VNET_HDR_LEN;
    const { ihl, totalLength: bytes, proto, src, dst } = parseIpv4(this.u8, this.dv, ip);
    const l4 = parseL4(this.u8, this.dv, ip + ihl, proto);

    // Sent by the gateway itself (a redirect target's replies are routed through us): not a flow.
    if (ingress.iface === "lo") return this.pass(ip);
    const bad = checkSource(o.spoofCheck, src, ingress.iface, this.own, net.routes);
    if (bad !== L.R_NONE) return this.drop(bad);

    const k: PacketKey = {
      proto,
      src,
      sport: l4.sport,
      dst,
      dport: l4.dport,
      syn: isSyn(l4.tcpFlags),
      fragment: false,
      icmpType: l4.icmpType,
      iface: "",
    };
    const rst = (l4.tcpFlags & TCP_RST) !== 0;
    const fromLan = !ingress.wan;
    k.iface = ingress.iface;

    const input = this.decide("input", k, bytes);
    if (input.verdict === "DENY") return this.drop(L.R_POLICY);
    if (input.verdict === "REJECT") return this.reply(vnet, n, ICMP_CODE_PORT_UNREACH, L.R_POLICY);
    if (input.verdict === "REDIRECT") {
      // transparent proxy: to a port of the gateway on the side the packet came from
      if (proto !== L.PROTO_TCP && proto !== L.PROTO_UDP) return this.drop(L.R_UNSUPPORTED);
      const local = this.addrOn(ingress.iface);
      return this.fixedFlow(vnet, n, proto, local, input.redirectPort || k.dport, src, k.sport, dst, k.dport, k.syn);
    }

    if (net.publicAddr !== 0 && dst === net.publicAddr) {
      const pf =
        proto === L.PROTO_TCP || proto === L.PROTO_UDP ? findPortForward(this.policy, proto, dst, k.dport) : undefined;
      if (pf && !rst) {
        if (fromLan) {
          // hairpin: masquerade the LAN client first, so the server answers through us and sees
          // the public address (RFC 4787 REQ-9a); the fast path then chains the two entries
          const m = this.table.createFlow(proto, src, k.sport, dst, k.dport, net.publicAddr, this.tcpState(k.syn), {
            wantPort: k.sport,
            limited: true,
          });
          if (m < 0) return this.refused(vnet, n, m);
          const wanPort = this.table.flow(m).wanPort;
          return this.fixedFlow(vnet, n, proto, pf.addr, pf.port, net.publicAddr, wanPort, dst, k.dport, k.syn);
        }
        return this.fixedFlow(
          vnet,
          n,
          proto,
          pf.addr,
          pf.port,
          src,
          k.sport,
          dst,
          k.dport,
          k.syn,
          o.ftpHelper && proto === L.PROTO_TCP && pf.port === FTP_PORT,
        );
      }
      const owner =
        proto === L.PROTO_TCP || proto === L.PROTO_UDP ? this.table.mappingOwner(proto, k.dport) : undefined;
      if (owner && !rst) return this.toMapping(vnet, n, proto, owner, k, fromLan);
      // Addressed to the gateway and no flow of ours: ICMP for the gateway's own use (its pings,
      // errors about its own traffic) and UDP outside the NAT ports (its own services; here
      // only because of reassembly) go back to the kernel; the NAT ports are closed.
      return proto === L.PROTO_ICMP || (proto === L.PROTO_UDP && !this.table.isNatPort(k.dport))
        ? this.pass(ip)
        : this.drop(L.R_NO_MAPPING);
    }
    if (proto === L.PROTO_ICMP && ICMP_ERROR_TYPES.has(k.icmpType)) return this.drop(L.R_NO_MAPPING); // about no flow we know

    k.iface = routeDev(net.routes, dst) ?? ""; // forward and output chains: -i is the way out
    const fwd = this.decide("forward", k, bytes);
    if (fwd.verdict === "DENY") return this.drop(L.R_POLICY);
    if (fwd.verdict === "REJECT") return this.reply(vnet, n, ICMP_CODE_PORT_UNREACH, L.R_POLICY);
    const out = this.decide("output", k, bytes);
    if (out.verdict === "DENY") return this.drop(L.R_POLICY);
    if (out.verdict === "REJECT") return this.reply(vnet, n, ICMP_CODE_PORT_UNREACH, L.R_POLICY);
    if (fwd.verdict !== "MASQ") return this.pass(ip); // ACCEPT: routed as it is

    const translatable =
      proto === L.PROTO_TCP || proto === L.PROTO_UDP || (proto === L.PROTO_ICMP && isQuery(k.icmpType));
    if (!translatable) return this.drop(L.R_UNSUPPORTED);
    if (rst) return this.drop(L.R_NO_MAPPING); // a stray reset opens nothing
    // masquerading is for what comes from inside: a WAN packet with an inside source is forged
    if (ingress.wan) return this.drop(L.R_SPOOFED);
    if (net.publicAddr === 0) return this.reply(vnet, n, ICMP_CODE_NET_UNREACH, L.R_NO_WAN);
    const ftp = o.ftpHelper && proto === L.PROTO_TCP && k.dport === FTP_PORT;
    const entry = this.table.createFlow(
      proto,
      src,
      k.sport,
      dst,
      k.dport,
      net.publicAddr,
      proto === L.PROTO_TCP ? this.tcpState(k.syn) : 0,
      { wantPort: k.sport, alg: ftp, limited: true },
    );
    if (entry < 0) return this.refused(vnet, n, entry);
    return this.translate(vnet, n);
  }

  // Reassembles; a complete datagram replaces the fragment in the slot and goes on as one packet.
  private fragment(vnet: number, n: number): number {
    const ip = vnet + L.VNET_HDR_LEN;
    const r = this.frags.add(this.u8.subarray(ip, vnet + n), this.table.now);
    if (r.kind === "held") return A_HELD;
    if (r.kind === "refused") return this.drop(r.why === "limit" ? L.R_FRAGMENT : L.R_BAD_FRAGMENT);
    this.u8.fill(0, vnet, ip);
    this.u8.set(r.datagram, ip);
    const len = L.VNET_HDR_LEN + r.datagram.length;
    const v = this.core.processPacket(vnet, len, this.stats, this.side());
    if (v === L.V_FORWARD) {
      this.length = len;
      return A_FORWARD;
    }
    if (v === L.V_DROP) return this.drop(L.R_BAD_FRAGMENT);
    return this.handle(vnet, len, this.core.lastReason(), this.ingress);
  }

  // A packet to a public port that a LAN end holds (endpoint-independent mapping): let in as the
  // filtering allows; from the LAN it is hairpinned, with our public address as its source.
  private toMapping(
    vnet: number,
    n: number,
    proto: number,
    owner: { addr: number; port: number },
    k: PacketKey,
    fromLan: boolean,
  ): number {
    const pub = this.net.publicAddr;
    let remote = k.src,
      remotePort = k.sport;
    if (fromLan) {
      const m = this.table.createFlow(proto, k.src, k.sport, k.dst, k.dport, pub, this.tcpState(k.syn), {
        wantPort: k.sport,
        limited: true,
      });
      if (m < 0) return this.refused(vnet, n, m);
      remote = pub;
      remotePort = this.table.flow(m).wanPort;
    }
    // Hairpinned packets come from our own public address: no outside host to filter. An
    // expected connection (FTP data) is let in once from the announced peer.
    const expected = !fromLan && this.alg.expected(proto, k.dport, remote);
    if (
      !fromLan &&
      !expected &&
      this.options.filtering === "address-dependent" &&
      !this.table.hasFlowTo(proto, owner.addr, owner.port, remote)
    )
      return this.drop(L.R_NO_MAPPING);
    const state = proto !== L.PROTO_TCP ? 0 : k.syn ? L.TS_SYN_IN : L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED;
    const f = fromLan
      ? this.table.createFixedFlow(proto, owner.addr, owner.port, remote, remotePort, pub, k.dport, state)
      : this.table.createFlow(proto, owner.addr, owner.port, remote, remotePort, pub, state, { wantPort: k.dport });
    if (expected) this.alg.take(proto, k.dport, remote); // the flow holds the mapping now
    if (f < 0) return this.reply(vnet, n, ICMP_CODE_ADMIN_PROHIBITED, L.R_TABLE_FULL);
    return this.translate(vnet, n);
  }

  // SYN: a new connection; anything else: picked up mid-stream (e.g. after a restart).
  private tcpState(syn: boolean): number {
    return syn ? L.TS_SYN_OUT : L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED;
  }

  // A flow whose inside end is lanAddr:lanPort and whose client is remote, reached at wan.
  private fixedFlow(
    vnet: number,
    n: number,
    proto: number,
    lanAddr: number,
    lanPort: number,
    remote: number,
    remotePort: number,
    wan: number,
    wanPort: number,
    syn: boolean,
    alg = false,
  ): number {
    const state = proto !== L.PROTO_TCP ? 0 : syn ? L.TS_SYN_IN : L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED;
    if (this.table.createFixedFlow(proto, lanAddr, lanPort, remote, remotePort, wan, wanPort, state, alg) < 0) {
      return this.reply(vnet, n, ICMP_CODE_ADMIN_PROHIBITED, L.R_TABLE_FULL);
    }
    return this.translate(vnet, n);
  }

  private translate(vnet: number, n: number): number {
    const v = this.core.processPacket(vnet, n, this.stats, this.side());
    if (v === L.V_FORWARD) return A_FORWARD;
    if (v === L.V_SLOW && this.core.lastReason() === L.R_ALG) {
      this.length = this.ftp.process(vnet, n);
      return A_FORWARD;
    }
    return this.drop(L.R_NO_MAPPING);
  }

  // No flow for it: the table is full, or its LAN host has its share. The sender hears
  // "administratively prohibited", as from a full table, and nobody else is affected.
  private refused(vnet: number, n: number, why: number): number {
    return this.reply(vnet, n, ICMP_CODE_ADMIN_PROHIBITED, why === HOST_LIMITED ? L.R_HOST_LIMIT : L.R_TABLE_FULL);
  }

  private pass(ip: number): number {
    this.core.adjustTtl(ip, 1);
    return A_PASS;
  }

  private reply(vnet: number, n: number, code: number, reason: number): number {
    const len = buildUnreachable(this.u8, this.core, vnet, n, this.addrOn(this.ingress.iface), code);
    this.reason = reason;
    if (len === 0) return A_DROP;
    this.length = len;
    return A_REPLY;
  }
}
