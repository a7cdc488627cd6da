// The slow path, in TypeScript inside each worker: packets the fast path had no answer for.
// New flows are checked against the policy, get a public port and an entry in the shared table,
// and are then translated by the core like any other packet. Everything here is per flow, not
// per packet.
import * as L from "../../assembly/layout";
import { Core } from "../core/core";
import { ConnTable } from "../table/conntrack";
import { Policy, evaluate } from "../policy/rules";
import { buildUnreachable, ICMP_CODE_ADMIN_PROHIBITED, ICMP_CODE_PORT_UNREACH } from "./icmp-reply";

export const A_FORWARD = 0; // translated: write it
export const A_DROP = 1;
export const A_PASS = 2; // not ours to translate: hand back to the kernel unchanged (TTL restored)
export const A_REPLY = 3; // the slot now holds an ICMP error to send instead

export interface SlowPathConfig { publicAddr: number; lanAddr: number; wanIface: string; policy: Policy }

const ICMP_ERROR_TYPES = new Set([3, 4, 5, 11, 12]);
const ICMP_QUERY_TYPES = new Set([L.ICMP_ECHO_REQUEST, L.ICMP_TIMESTAMP]);

export class SlowPath {
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  reason = 0; // drop reason of the last A_DROP
  replyLength = 0; // length of the last A_REPLY

  constructor(private readonly core: Core, private readonly table: ConnTable, memory: WebAssembly.Memory,
              public config: SlowPathConfig, private readonly stats: number) {
    this.u8 = new Uint8Array(memory.buffer);
    this.dv = new DataView(memory.buffer);
  }

  private drop(reason: number): number { this.reason = reason; return A_DROP; }

  handle(vnet: number, n: number, fastReason: number): number {
    const u8 = this.u8, dv = this.dv;
    const ip = vnet + L.VNET_HDR_LEN;
    const ihl = (u8[ip] & 15) * 4;
    const proto = u8[ip + 9];
    const src = dv.getUint32(ip + 12), dst = dv.getUint32(ip + 16);
    const l4 = ip + ihl;
    const cfg = this.config;

    if (fastReason === L.R_FRAGMENT) return this.drop(L.R_FRAGMENT);
    if (dst === cfg.publicAddr) {
      // Addressed to the gateway and no flow of ours: ICMP for the gateway's own use (its pings,
      // errors about its own traffic) goes back to the kernel; the NAT ports are closed.
      return proto === L.PROTO_ICMP ? this.pass(ip) : this.drop(L.R_NO_MAPPING);
    }
    let sport = 0, dport = 0, syn = false, rst = false;
    if (proto === L.PROTO_TCP || proto === L.PROTO_UDP) {
      sport = dv.getUint16(l4); dport = dv.getUint16(l4 + 2);
      if (proto === L.PROTO_TCP) { const f = u8[l4 + 13]; syn = (f & 0x12) === 0x02; rst = (f & 0x04) !== 0; }
    } else if (proto === L.PROTO_ICMP) {
      const type = u8[l4];
      if (ICMP_ERROR_TYPES.has(type)) return this.drop(L.R_NO_MAPPING); // about no flow we know
      if (ICMP_QUERY_TYPES.has(type)) sport = dv.getUint16(l4 + 4);
    }
    const target = evaluate(cfg.policy, { proto, src, sport, dst, dport, syn, iface: cfg.wanIface });
    if (target === "DENY") return this.drop(L.R_POLICY);
    if (target === "REJECT") return this.reply(vnet, n, ICMP_CODE_PORT_UNREACH, L.R_POLICY);
    if (target === "ACCEPT") return this.pass(ip);
    // MASQ
    const translatable = proto === L.PROTO_TCP || proto === L.PROTO_UDP
      || (proto === L.PROTO_ICMP && ICMP_QUERY_TYPES.has(u8[l4]));
    if (!translatable) return this.drop(L.R_UNSUPPORTED);
    if (rst) return this.drop(L.R_NO_MAPPING); // a stray reset opens nothing
    const state = proto !== L.PROTO_TCP ? 0 : syn ? L.TS_SYN_OUT
      : L.TS_SYN_OUT | L.TS_SYN_IN | L.TS_ESTABLISHED; // picked up mid-stream (e.g. after a restart)
    const entry = this.table.createFlow(proto, src, sport, dst, dport, cfg.publicAddr, state, sport);
    if (entry < 0) return this.reply(vnet, n, ICMP_CODE_ADMIN_PROHIBITED, L.R_TABLE_FULL);
    const v = this.core.processPacket(vnet, n, this.stats);
    return v === L.V_FORWARD ? A_FORWARD : this.drop(L.R_NO_MAPPING);
  }

  private pass(ip: number): number {
    this.core.adjustTtl(ip, 1);
    return A_PASS;
  }

  private reply(vnet: number, n: number, code: number, reason: number): number {
    const len = buildUnreachable(this.u8, this.core, vnet, n, this.config.lanAddr, code);
    this.reason = reason;
    if (len === 0) return A_DROP;
    this.replyLength = len;
    return A_REPLY;
  }
}
