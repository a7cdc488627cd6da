// The fast path: one call translates a whole batch of packets read from the TUN queue.
// Per packet: validate, look the flow up by its LAN-side or WAN-side key, rewrite, and leave a
// verdict in the descriptor. Anything without an established entry goes to the slow path.
import { validate, headerLength, totalLength, protocol, isFragment, srcAddr, dstAddr, fragField } from "./ipv4";
import { IPV4_FRAG_OFFSET_MASK, TCP_SRC_PORT, TCP_DST_PORT, TCP_FLAGS, TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK } from "./wire";
import { l4HeaderOk, l4HeaderLength, checksumOffset } from "./l4";
import { rewriteEnd, rewriteEndTtl, rewriteAddr, adjustTtl, clampMss } from "./rewrite";
import { kind, queryId, icmpType, checksumOk, recomputeChecksum, embeddedHeaderLength, KIND_REQUEST, KIND_REPLY, KIND_ERROR } from "./icmp";
import { lookupLan, lookupWan, entryAddress, tableBase } from "./table";
import { drop, slow, forward, lastReason } from "./verdict";
import { count, addStat, flushCounts } from "./counters";
import { route6 } from "./route6";
import { segments, trackTcp, touch, account } from "./flow";
import {
  D_OFFSET, D_LENGTH, D_VERDICT, D_REASON, D_SIZE, V_FORWARD, V_DROP, V_SLOW,
  R_NONE, R_TRUNCATED, R_BAD_VERSION, R_BAD_L4_HEADER, R_BAD_ICMP, R_BAD_VNET_HDR, R_FRAGMENT, R_UNSUPPORTED, R_NO_MAPPING,
  VNET_HDR_LEN, VN_FLAGS, VN_GSO_TYPE, VN_GSO_SIZE, VN_CSUM_START, VN_CSUM_OFFSET, VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_UDP_L4, VNET_GSO_ECN,
  PROTO_TCP, PROTO_UDP, PROTO_ICMP, END_SRC, END_DST,
  E_LAN_ADDR, E_LAN_PORT, E_WAN_ADDR, E_WAN_PORT, E_STATE, E_LAST_SEEN, E_BYTES_OUT, E_BYTES_IN, E_PKTS_OUT, E_PKTS_IN,
  T_NOW, T_MSS_CLAMP, ES_ALG, ES_FIXED, IN_WAN, R_ALG, TS_SYN_OUT, TS_SYN_IN, TS_ESTABLISHED, TS_FIN_OUT, TS_FIN_IN, TS_RST,
  S_SLOW, S_BATCHES, S_DROPS,
} from "./layout";

// Offload metadata must describe this packet, or the kernel would finish the wrong checksum.
function vnetOk(vnet: usize, ihl: i32, proto: i32): bool {
  const gso = <u32>load<u8>(vnet + VN_GSO_TYPE) & ~VNET_GSO_ECN;
  if (gso != VNET_GSO_NONE) {
    if (gso == VNET_GSO_TCPV4) { if (proto != PROTO_TCP) return false; }
    else if (gso == VNET_GSO_UDP_L4) { if (proto != PROTO_UDP) return false; }
    else return false;
  }
  if ((<u32>load<u8>(vnet + VN_FLAGS) & VNET_F_NEEDS_CSUM) != 0) {
    if (proto != PROTO_TCP && proto != PROTO_UDP) return false;
    if (<i32>load<u16>(vnet + VN_CSUM_START) != ihl) return false;
    if (<i32>load<u16>(vnet + VN_CSUM_OFFSET) != checksumOffset(proto)) return false;
  }
  return true;
}

// Translates one packet in place (the slow path's entry). `vnet` is the virtio_net_hdr, `n` the
// bytes read, `ingress` IN_INSIDE or IN_WAN.
export function processPacket(vnet: usize, n: i32, stats: usize, ingress: u32): u32 {
  const v = translate(vnet, n, ingress);
  flushCounts(stats);
  return v;
}

function translate(vnet: usize, n: i32, ingress: u32): u32 {
  if (n < VNET_HDR_LEN) return drop(R_TRUNCATED);
  const ip = vnet + VNET_HDR_LEN;
  const len = n - VNET_HDR_LEN;
  const bad = validate(ip, len, true);
  if (bad != R_NONE) {
    // IPv6 is told apart only here, after IPv4's own check: the IPv4 path pays nothing for it
    if (bad == R_BAD_VERSION && (<u32>load<u8>(ip) >> 4) == 6) return route6(vnet, len, ingress);
    return drop(bad);
  }
  const ihl = headerLength(ip);
  const proto = protocol(ip);
  if (isFragment(ip)) return slow(R_FRAGMENT);
  const l4 = ip + <usize>ihl;
  const l4len = totalLength(ip) - ihl;
  if (proto != PROTO_TCP && proto != PROTO_UDP && proto != PROTO_ICMP) return slow(R_UNSUPPORTED);
  if (!l4HeaderOk(l4, l4len, proto)) return drop(R_BAD_L4_HEADER);
  if (!vnetOk(vnet, ihl, proto)) return drop(R_BAD_VNET_HDR);
  const partial = (<u32>load<u8>(vnet + VN_FLAGS) & VNET_F_NEEDS_CSUM) != 0;

  let sport: u32 = 0, dport: u32 = 0;
  if (proto == PROTO_ICMP) {
    const k = kind(icmpType(l4));
    if (k == KIND_ERROR) return icmpError(ip, l4, l4len, ingress);
    if (k == KIND_REQUEST) sport = queryId(l4);
    else if (k == KIND_REPLY) dport = queryId(l4);
    else return slow(R_UNSUPPORTED);
  } else {
    sport = <u32>bswap<u16>(load<u16>(l4 + TCP_SRC_PORT));
    dport = <u32>bswap<u16>(load<u16>(l4 + TCP_DST_PORT));
  }
  const src = srcAddr(ip), dst = dstAddr(ip);
  const segs = segments(vnet, l4, l4len, proto);
  let bytes = <f64>totalLength(ip);
  if (segs > 1) bytes += <f64>((segs - 1) * (ihl + l4HeaderLength(l4, proto)));

  const fromWan = ingress == IN_WAN;
  let idx = fromWan ? -1 : lookupLan(<u32>proto, src, sport, dst, dport);
  if (idx >= 0) {
    const e = entryAddress(<u32>idx);
    const wanAddr = load<u32>(e + E_WAN_ADDR), wanPort = <u32>load<u16>(e + E_WAN_PORT);
    rewriteEndTtl(ip, l4, l4len, proto, END_SRC, wanAddr, wanPort, partial, 1);
    finishTcp(e, l4, proto, true, partial);
    touch(e + E_LAST_SEEN);
    account(e, E_BYTES_OUT, E_PKTS_OUT, segs, bytes);
    count(true, segs, bytes);
    // Hairpin (RFC 4787 REQ-9): addressed to a public address of ours, so it comes back in.
    if (dst == wanAddr && proto != PROTO_ICMP) hairpin(ip, l4, l4len, proto, wanAddr, wanPort, dst, dport, partial, segs, bytes);
    return helped(e, idx);
  }
  idx = lookupWan(<u32>proto, src, sport, dst, dport);
  if (idx >= 0 && !fromWan && (<u32>load<u8>(entryAddress(<u32>idx) + E_STATE) & ES_FIXED) == 0) idx = -1;
  if (idx >= 0) {
    const e = entryAddress(<u32>idx);
    rewriteEndTtl(ip, l4, l4len, proto, END_DST, load<u32>(e + E_LAN_ADDR), <u32>load<u16>(e + E_LAN_PORT), partial, 1);
    finishTcp(e, l4, proto, false, partial);
    touch(e + E_LAST_SEEN);
    account(e, E_BYTES_IN, E_PKTS_IN, segs, bytes);
    count(false, segs, bytes);
    return helped(e, idx);
  }
  return slow(R_NO_MAPPING);
}

// A translated packet of a flow with an application helper goes on to the slow path.
@inline function helped(e: usize, idx: i32): u32 {
  if ((<u32>load<u8>(e + E_STATE) & ES_ALG) != 0) return slow(R_ALG);
  return forward(idx);
}

// The second half of a hairpinned packet: now from our public end, it is translated inbound.
function hairpin(ip: usize, l4: usize, l4len: i32, proto: i32, src: u32, sport: u32, dst: u32, dport: u32, partial: bool, segs: i32, bytes: f64): void {
  const idx = lookupWan(<u32>proto, src, sport, dst, dport);
  if (idx < 0) return;
  const e = entryAddress(<u32>idx);
  rewriteEnd(ip, l4, l4len, proto, END_DST, load<u32>(e + E_LAN_ADDR), <u32>load<u16>(e + E_LAN_PORT), partial);
  finishTcp(e, l4, proto, false, partial);
  touch(e + E_LAST_SEEN);
  account(e, E_BYTES_IN, E_PKTS_IN, segs, bytes);
}

@inline function finishTcp(e: usize, l4: usize, proto: i32, outbound: bool, partial: bool): void {
  if (proto != PROTO_TCP) return;
  const flags = <u32>load<u8>(l4 + TCP_FLAGS);
  trackTcp(e + E_STATE, flags, outbound);
  if ((flags & TCP_SYN) != 0) {
    const mss = load<u32>(tableBase() + T_MSS_CLAMP);
    if (mss != 0) clampMss(l4, mss, partial);
  }
}

// An ICMP error about a translated flow: translate the embedded packet back, then the outer header.
// An error from the WAN is about a packet we sent out; one from inside about one we delivered.
function icmpError(ip: usize, l4: usize, l4len: i32, ingress: u32): u32 {
  if (!checksumOk(l4, l4len)) return drop(R_BAD_ICMP);
  const emb = l4 + 8;
  const embIhl = embeddedHeaderLength(emb, l4len - 8);
  if (embIhl == 0) return drop(R_BAD_ICMP);
  if ((fragField(emb) & IPV4_FRAG_OFFSET_MASK) != 0) return slow(R_FRAGMENT); // no ports in it
  const eproto = protocol(emb);
  const el4 = emb + <usize>embIhl;
  const el4Avail = l4len - 8 - embIhl;
  let esport: u32 = 0, edport: u32 = 0;
  if (eproto == PROTO_ICMP) {
    const k = kind(icmpType(el4));
    if (k == KIND_REQUEST) esport = queryId(el4);
    else if (k == KIND_REPLY) edport = queryId(el4);
    else return slow(R_UNSUPPORTED); // an error about an error is never sent (RFC 1812)
  } else if (eproto == PROTO_TCP || eproto == PROTO_UDP) {
    esport = <u32>bswap<u16>(load<u16>(el4 + TCP_SRC_PORT));
    edport = <u32>bswap<u16>(load<u16>(el4 + TCP_DST_PORT));
  } else return slow(R_UNSUPPORTED);
  const esrc = srcAddr(emb), edst = dstAddr(emb);
  const bytes = <f64>(totalLength(ip));

  // Coming in: the embedded packet is one we sent out, from our public end.
  if (ingress == IN_WAN) {
    const idx = lookupWan(<u32>eproto, edst, edport, esrc, esport);
    if (idx < 0) return slow(R_NO_MAPPING);
    const e = entryAddress(<u32>idx);
    const lanAddr = load<u32>(e + E_LAN_ADDR);
    rewriteEnd(emb, el4, el4Avail, eproto, END_SRC, lanAddr, <u32>load<u16>(e + E_LAN_PORT), false);
    rewriteAddr(ip, END_DST, lanAddr);
    recomputeChecksum(l4, l4len);
    adjustTtl(ip, 1);
    count(false, 1, bytes);
    return forward(idx);
  }
  // Going out: the embedded packet is one we delivered to the LAN host.
  const idx = lookupLan(<u32>eproto, edst, edport, esrc, esport);
  if (idx >= 0) {
    const e = entryAddress(<u32>idx);
    const wanAddr = load<u32>(e + E_WAN_ADDR);
    rewriteEnd(emb, el4, el4Avail, eproto, END_DST, wanAddr, <u32>load<u16>(e + E_WAN_PORT), false);
    rewriteAddr(ip, END_SRC, wanAddr);
    recomputeChecksum(l4, l4len);
    adjustTtl(ip, 1);
    count(true, 1, bytes);
    return forward(idx);
  }
  return slow(R_NO_MAPPING);
}

// Processes `n` descriptors at `desc`, all read from one ingress (IN_INSIDE or IN_WAN);
// returns how many went to the slow path.
export function processBatch(desc: usize, n: i32, stats: usize, ingress: u32): i32 {
  let slowCount = 0;
  for (let k = 0; k < n; k++) {
    const d = desc + <usize>k * D_SIZE;
    const v = translate(<usize>load<u32>(d + D_OFFSET), <i32>load<u32>(d + D_LENGTH), ingress);
    store<u32>(d + D_VERDICT, v);
    const reason = lastReason();
    store<u32>(d + D_REASON, reason);
    if (v == V_SLOW) slowCount++;
    else if (v == V_DROP) addStat(stats, S_DROPS + <i32>reason, 1);
  }
  flushCounts(stats);
  addStat(stats, S_SLOW, <f64>slowCount);
  addStat(stats, S_BATCHES, 1);
  return slowCount;
}
