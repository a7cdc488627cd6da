// The fast path: the TypeScript twin of assembly/batch.ts, same verdicts, same bytes.
import { validate, headerLength, totalLength, protocol, isFragment, srcAddr, dstAddr, fragField } from "./ipv4";
import { IPV4_FRAG_OFFSET_MASK, TCP_SRC_PORT, TCP_DST_PORT, TCP_FLAGS, TCP_SYN } from "../../assembly/wire";
import { l4HeaderOk, l4HeaderLength, checksumOffset } from "./l4";
import { rewriteEnd, rewriteEndTtl, rewriteAddr, adjustTtl, clampMss } from "./rewrite";
import {
  kind,
  queryId,
  icmpType,
  checksumOk,
  recomputeChecksum,
  embeddedHeaderLength,
  KIND_REQUEST,
  KIND_REPLY,
  KIND_ERROR,
} from "./icmp";
import { lookupLan, lookupWan, entryAddress, tableBase } from "./table";
import { mem, le16, le32, leAddr, be16 } from "./memory";
import * as L from "../../assembly/layout";
import { drop, slow, forward, lastReason } from "./verdict";
import { count, flushCounts, add } from "./counters";
import { segments, trackTcp, touch, account } from "./flow";
import { route6 } from "./route6";

export { lastReason };

function vnetOk(vnet: number, ihl: number, proto: number): boolean {
  const u8 = mem.u8;
  const gso = u8[vnet + L.VN_GSO_TYPE] & ~L.VNET_GSO_ECN;
  if (gso !== L.VNET_GSO_NONE) {
    if (gso === L.VNET_GSO_TCPV4) {
      if (proto !== L.PROTO_TCP) return false;
    } else if (gso === L.VNET_GSO_UDP_L4) {
      if (proto !== L.PROTO_UDP) return false;
    } else return false;
  }
  if ((u8[vnet + L.VN_FLAGS] & L.VNET_F_NEEDS_CSUM) !== 0) {
    if (proto !== L.PROTO_TCP && proto !== L.PROTO_UDP) return false;
    if (le16(vnet + L.VN_CSUM_START) !== ihl) return false;
    if (le16(vnet + L.VN_CSUM_OFFSET) !== checksumOffset(proto)) return false;
  }
  return true;
}

function hairpin(
  ip: number,
  l4: number,
  l4len: number,
  proto: number,
  src: number,
  sport: number,
  dst: number,
  dport: number,
  partial: boolean,
  segs: number,
  bytes: number,
): void {
  const idx = lookupWan(proto, src, sport, dst, dport);
  if (idx < 0) return;
  const e = entryAddress(idx);
  rewriteEnd(ip, l4, l4len, proto, L.END_DST, leAddr(e + L.E_LAN_ADDR), le16(e + L.E_LAN_PORT), partial);
  finishTcp(e, l4, proto, false, partial);
  touch(e + L.E_LAST_SEEN);
  account(e, L.E_BYTES_IN, L.E_PKTS_IN, segs, bytes);
}

function finishTcp(e: number, l4: number, proto: number, outbound: boolean, partial: boolean): void {
  if (proto !== L.PROTO_TCP) return;
  const flags = mem.u8[l4 + TCP_FLAGS];
  trackTcp(e + L.E_STATE, flags, outbound);
  if (flags & TCP_SYN) {
    const mss = le32(tableBase() + L.T_MSS_CLAMP);
    if (mss !== 0) clampMss(l4, mss, partial);
  }
}

export function processPacket(vnet: number, n: number, stats: number, ingress: number): number {
  const v = translate(vnet, n, ingress);
  flushCounts(stats);
  return v;
}

function translate(vnet: number, n: number, ingress: number): number {
  if (n < L.VNET_HDR_LEN) return drop(L.R_TRUNCATED);
  const ip = vnet + L.VNET_HDR_LEN;
  const len = n - L.VNET_HDR_LEN;
  const bad = validate(ip, len, true);
  if (bad !== L.R_NONE) {
    // IPv6 is told apart only here, after IPv4's own check: the IPv4 path pays nothing for it
    if (bad === L.R_BAD_VERSION && mem.u8[ip] >> 4 === 6) return route6(vnet, len, ingress);
    return drop(bad);
  }
  const ihl = headerLength(ip);
  const proto = protocol(ip);
  if (isFragment(ip)) return slow(L.R_FRAGMENT);
  const l4 = ip + ihl;
  const l4len = totalLength(ip) - ihl;
  if (proto !== L.PROTO_TCP && proto !== L.PROTO_UDP && proto !== L.PROTO_ICMP) return slow(L.R_UNSUPPORTED);
  if (!l4HeaderOk(l4, l4len, proto)) return drop(L.R_BAD_L4_HEADER);
  if (!vnetOk(vnet, ihl, proto)) return drop(L.R_BAD_VNET_HDR);
  const partial = (mem.u8[vnet + L.VN_FLAGS] & L.VNET_F_NEEDS_CSUM) !== 0;

  let sport = 0,
    dport = 0;
  if (proto === L.PROTO_ICMP) {
    const k = kind(icmpType(l4));
    if (k === KIND_ERROR) return icmpError(ip, l4, l4len, ingress);
    if (k === KIND_REQUEST) sport = queryId(l4);
    else if (k === KIND_REPLY) dport = queryId(l4);
    else return slow(L.R_UNSUPPORTED);
  } else {
    sport = be16(l4 + TCP_SRC_PORT);
    dport = be16(l4 + TCP_DST_PORT);
  }
  const src = srcAddr(ip),
    dst = dstAddr(ip);
  const segs = segments(vnet, l4, l4len, proto);
  let bytes = totalLength(ip);
  if (segs > 1) bytes += (segs - 1) * (ihl + l4HeaderLength(l4, proto));

  const fromWan = ingress === L.IN_WAN;
  let idx = fromWan ? -1 : lookupLan(proto, src, sport, dst, dport);
  if (idx >= 0) {
    const e = entryAddress(idx);
    const wanAddr = leAddr(e + L.E_WAN_ADDR),
      wanPort = le16(e + L.E_WAN_PORT);
    rewriteEndTtl(ip, l4, l4len, proto, L.END_SRC, wanAddr, wanPort, partial, 1);
    finishTcp(e, l4, proto, true, partial);
    touch(e + L.E_LAST_SEEN);
    account(e, L.E_BYTES_OUT, L.E_PKTS_OUT, segs, bytes);
    count(true, segs, bytes);
    if (dst === wanAddr && proto !== L.PROTO_ICMP)
      hairpin(ip, l4, l4len, proto, wanAddr, wanPort, dst, dport, partial, segs, bytes);
    return helped(e, idx);
  }
  idx = lookupWan(proto, src, sport, dst, dport);
  if (idx >= 0 && !fromWan && (mem.u8[entryAddress(idx) + L.E_STATE] & L.ES_FIXED) === 0) idx = -1;
  if (idx >= 0) {
    const e = entryAddress(idx);
    rewriteEndTtl(ip, l4, l4len, proto, L.END_DST, leAddr(e + L.E_LAN_ADDR), le16(e + L.E_LAN_PORT), partial, 1);
    finishTcp(e, l4, proto, false, partial);
    touch(e + L.E_LAST_SEEN);
    account(e, L.E_BYTES_IN, L.E_PKTS_IN, segs, bytes);
    count(false, segs, bytes);
    return helped(e, idx);
  }
  return slow(L.R_NO_MAPPING);
}

function helped(e: number, idx: number): number {
  if (mem.u8[e + L.E_STATE] & L.ES_ALG) return slow(L.R_ALG);
  return forward(idx);
}

function icmpError(ip: number, l4: number, l4len: number, ingress: number): number {
  if (!checksumOk(l4, l4len)) return drop(L.R_BAD_ICMP);
  const emb = l4 + 8;
  const embIhl = embeddedHeaderLength(emb, l4len - 8);
  if (embIhl === 0) return drop(L.R_BAD_ICMP);
  if ((fragField(emb) & IPV4_FRAG_OFFSET_MASK) !== 0) return slow(L.R_FRAGMENT);
  const eproto = protocol(emb);
  const el4 = emb + embIhl;
  const el4Avail = l4len - 8 - embIhl;
  let esport = 0,
    edport = 0;
  if (eproto === L.PROTO_ICMP) {
    const k = kind(icmpType(el4));
    if (k === KIND_REQUEST) esport = queryId(el4);
    else if (k === KIND_REPLY) edport = queryId(el4);
    else return slow(L.R_UNSUPPORTED);
  } else if (eproto === L.PROTO_TCP || eproto === L.PROTO_UDP) {
    esport = be16(el4 + TCP_SRC_PORT);
    edport = be16(el4 + TCP_DST_PORT);
  } else return slow(L.R_UNSUPPORTED);
  const esrc = srcAddr(emb),
    edst = dstAddr(emb);
  const bytes = totalLength(ip);

  if (ingress === L.IN_WAN) {
    const idx = lookupWan(eproto, edst, edport, esrc, esport);
    if (idx < 0) return slow(L.R_NO_MAPPING);
    const e = entryAddress(idx);
    const lanAddr = leAddr(e + L.E_LAN_ADDR);
    rewriteEnd(emb, el4, el4Avail, eproto, L.END_SRC, lanAddr, le16(e + L.E_LAN_PORT), false);
    rewriteAddr(ip, L.END_DST, lanAddr);
    recomputeChecksum(l4, l4len);
    adjustTtl(ip, 1);
    count(false, 1, bytes);
    return forward(idx);
  }
  const idx = lookupLan(eproto, edst, edport, esrc, esport);
  if (idx >= 0) {
    const e = entryAddress(idx);
    const wanAddr = leAddr(e + L.E_WAN_ADDR);
    rewriteEnd(emb, el4, el4Avail, eproto, L.END_DST, wanAddr, le16(e + L.E_WAN_PORT), false);
    rewriteAddr(ip, L.END_SRC, wanAddr);
    recomputeChecksum(l4, l4len);
    adjustTtl(ip, 1);
    count(true, 1, bytes);
    return forward(idx);
  }
  return slow(L.R_NO_MAPPING);
}

export function processBatch(desc: number, n: number, stats: number, ingress: number): number {
  const dv = mem.dv;
  let slowCount = 0;
  for (let k = 0; k < n; k++) {
    const d = desc + k * L.D_SIZE;
    const v = translate(dv.getUint32(d + L.D_OFFSET, true), dv.getUint32(d + L.D_LENGTH, true), ingress);
    dv.setUint32(d + L.D_VERDICT, v, true);
    const reason = lastReason();
    dv.setUint32(d + L.D_REASON, reason, true);
    if (v === L.V_SLOW) slowCount++;
    else if (v === L.V_DROP) add(stats + (L.S_DROPS + reason) * 8, 1);
  }
  flushCounts(stats);
  add(stats + L.S_SLOW * 8, slowCount);
  add(stats + L.S_BATCHES * 8, 1);
  return slowCount;
}
