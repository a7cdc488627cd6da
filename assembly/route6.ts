// The IPv6 fast path: routed, not translated (RFC 6092 simple security). A packet of a known
// flow is forwarded with its hop limit given back (the kernel takes one on the way into the TUN
// and one on the way out: the gateway counts as one hop); its ICMPv6 errors pass if they are
// about a known flow (RFC 4890). Anything else goes to the slow path, which decides by policy.
// With NPTv6 (npt6.ts) a flow is known by its inside address: a destination from the WAN is
// mapped in before the lookup, a source leaving by the WAN mapped out after it. With NAT66
// (nat66.ts) a masqueraded flow leaves as the WAN's address and its public port, and what comes
// back to that address is found by the public port.
import { validate6, walk6, scope6, upperOffset, upperProtocol, payloadLength, icmp6Sum } from "./ipv6";
import { lookup6, lookupWan6, entry6Address } from "./table6";
import { isMasqAddress, masqAddress, rewriteEnd6, icmp6Checksum, setAddress6 } from "./nat66";
import { npt6Count, npt6FromWan, npt6Out, npt6Inside, NPT_REFUSED } from "./npt6";
import { l4HeaderOk, l4HeaderLength } from "./l4";
import { drop, slow, forward } from "./verdict";
import { count } from "./counters";
import { segments, trackTcp, touch, account } from "./flow";
import {
  IPV6_HOP_LIMIT, IPV6_SRC, IPV6_DST, IPV6_HEADER, TCP_SRC_PORT, TCP_DST_PORT, TCP_FLAGS, TCP_CHECKSUM,
  UDP_CHECKSUM, ICMP_TYPE, ICMP_ID, ICMP_HEADER, ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY, ICMPV6_ERROR_MAX,
  ICMPV6_ROUTER_SOLICIT, ICMPV6_REDIRECT,
} from "./wire";
import {
  R_NONE, R_BAD_L4_HEADER, R_BAD_ICMP, R_FRAGMENT, R_BAD_VNET_HDR, R_UNSUPPORTED, R_NO_MAPPING, R_LINK_SCOPE, R_NPT, R_ALG, ES_ALG,
  VNET_HDR_LEN, VN_FLAGS, VN_GSO_TYPE, VN_CSUM_START, VN_CSUM_OFFSET, VNET_F_NEEDS_CSUM, VNET_GSO_NONE,
  VNET_GSO_TCPV6, VNET_GSO_UDP_L4, VNET_GSO_ECN, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6, IN_WAN,
  F6_STATE, F6_LAST_SEEN, F6_BYTES_OUT, F6_BYTES_IN, F6_PKTS_OUT, F6_PKTS_IN, F6_LAN_ADDR, F6_LAN_PORT, F6_WAN_PORT,
  END_SRC, END_DST,
} from "./layout";

// Offload metadata must describe this packet (as vnetOk for IPv4).
function vnetOk6(vnet: usize, l4At: i32, proto: i32): bool {
  const gso = <u32>load<u8>(vnet + VN_GSO_TYPE) & ~VNET_GSO_ECN;
  if (gso != VNET_GSO_NONE) {
    if (gso == VNET_GSO_TCPV6) { if (proto != PROTO_TCP) return false; }
    else if (gso == VNET_GSO_UDP_L4) { if (proto != PROTO_UDP) return false; }
    else return false;
  }
  if ((<u32>load<u8>(vnet + VN_FLAGS) & VNET_F_NEEDS_CSUM) != 0) {
    if (<i32>load<u16>(vnet + VN_CSUM_START) != l4At) return false;
    const off = <i32>load<u16>(vnet + VN_CSUM_OFFSET);
    if (proto == PROTO_TCP) return off == TCP_CHECKSUM;
    if (proto == PROTO_UDP) return off == UDP_CHECKSUM;
    return false;
  }
  return true;
}

// The ICMPv6 checksum covers a pseudo-header (RFC 4443 2.3, RFC 8200 8.1): both addresses, the
// message's length and next header 58, summed in memory order as checksum.ts does.
function icmp6ChecksumOk(ip: usize, icmp: usize, len: i32): bool {
  return icmp6Sum(ip, icmp, len) == 0xffff;
}

// The hop limit the kernel will take again on the way out (validate6 saw it above 0); 255 stays
// (the kernel took one on the way in: only a packet written by hand arrives so).
@inline function giveHopBack(ip: usize): void {
  const hop = load<u8>(ip + IPV6_HOP_LIMIT);
  if (hop != 255) store<u8>(ip + IPV6_HOP_LIMIT, hop + 1);
}

// The packet's ports as a flow sees them (ICMPv6 echo: the identifier at the asker's end), or
// false when it has none the fast path knows.
let sport: u32 = 0, dport: u32 = 0;
function ports(l4: usize, proto: i32): bool {
  if (proto == PROTO_ICMPV6) {
    const type = <u32>load<u8>(l4 + ICMP_TYPE);
    const id = <u32>bswap<u16>(load<u16>(l4 + ICMP_ID));
    if (type == ICMPV6_ECHO_REQUEST) { sport = id; dport = 0; return true; }
    if (type == ICMPV6_ECHO_REPLY) { sport = 0; dport = id; return true; }
    return false;
  }
  sport = <u32>bswap<u16>(load<u16>(l4 + TCP_SRC_PORT));
  dport = <u32>bswap<u16>(load<u16>(l4 + TCP_DST_PORT));
  return true;
}

// One IPv6 packet of `len` bytes (after the virtio header at `vnet`), from `ingress`.
export function route6(vnet: usize, len: i32, ingress: u32): u32 {
  const ip = vnet + VNET_HDR_LEN;
  let r = validate6(ip, len, true);
  if (r != R_NONE) return drop(r);
  r = scope6(ip);
  if (r != R_NONE) return drop(r);
  const total = IPV6_HEADER + payloadLength(ip);
  r = walk6(ip, total);
  if (r == R_FRAGMENT || r == R_UNSUPPORTED) return slow(r);
  if (r != R_NONE) return drop(r); // a chain cut short, a routing header of type 0
  const at = upperOffset(), proto = upperProtocol();
  const l4 = ip + <usize>at;
  const l4len = total - at;
  if (proto != PROTO_TCP && proto != PROTO_UDP && proto != PROTO_ICMPV6) return slow(R_UNSUPPORTED);
  if (proto == PROTO_ICMPV6) {
    if (l4len < ICMP_HEADER) return drop(R_BAD_L4_HEADER);
    const type = <i32>load<u8>(l4 + ICMP_TYPE);
    if (type <= ICMPV6_ERROR_MAX) return icmp6Error(ip, l4, l4len, ingress);
    if (type >= ICMPV6_ROUTER_SOLICIT && type <= ICMPV6_REDIRECT) return drop(R_LINK_SCOPE);
  } else if (!l4HeaderOk(l4, l4len, proto)) return drop(R_BAD_L4_HEADER);
  if (!vnetOk6(vnet, at, proto)) return drop(R_BAD_VNET_HDR);
  if (!ports(l4, proto)) return slow(R_UNSUPPORTED);

  // From the WAN the LAN end is the destination; from inside, the source (or, for a flow
  // between two inside networks, the destination of its replies).
  const src = ip + IPV6_SRC, dst = ip + IPV6_DST;
  let outbound = ingress != IN_WAN;
  const partial = (<u32>load<u8>(vnet + VN_FLAGS) & VNET_F_NEEDS_CSUM) != 0;
  let idx: i32;
  if (!outbound && isMasqAddress(dst)) {
    // NAT66: back to the masquerade address, the flow of its public port; then to its LAN end
    idx = lookupWan6(<u32>proto, dport, src, sport);
    if (idx < 0) return slow(R_NO_MAPPING);
    const e = entry6Address(<u32>idx);
    rewriteEnd6(ip, l4, l4len, proto, END_DST, e + F6_LAN_ADDR, <u32>load<u16>(e + F6_LAN_PORT), partial);
  } else {
    let mappedIn = false;
    if (npt6Count != 0 && !outbound) {
      const k = npt6FromWan(dst);
      if (k == NPT_REFUSED) return drop(R_NPT);
      mappedIn = k >= 0;
    }
    idx = outbound ? lookup6(<u32>proto, src, sport, dst, dport) : lookup6(<u32>proto, dst, dport, src, sport);
    if (idx < 0 && outbound) {
      idx = lookup6(<u32>proto, dst, dport, src, sport);
      outbound = false;
    }
    if (idx < 0) {
      if (mappedIn) npt6Out(dst); // the slow path sees the packet as it came
      return slow(R_NO_MAPPING);
    }
    if (npt6Count != 0 && ingress != IN_WAN && !npt6Inside(dst) && npt6Out(src) == NPT_REFUSED) return drop(R_NPT);
    const wanPort = <u32>load<u16>(entry6Address(<u32>idx) + F6_WAN_PORT);
    if (wanPort != 0) {
      // a masqueraded LAN end is reached only by its public end
      if (ingress == IN_WAN) return drop(R_NO_MAPPING);
      if (outbound) {
        rewriteEnd6(ip, l4, l4len, proto, END_SRC, masqAddress(), wanPort, partial);
        // hairpin (RFC 4787 REQ-9): to a public port of ours, so it comes back in
        if (proto != PROTO_ICMPV6 && isMasqAddress(dst)) hairpin6(ip, l4, l4len, proto, wanPort, dport, partial);
      }
    }
  }
  const e = entry6Address(<u32>idx);
  const segs = proto == PROTO_ICMPV6 ? 1 : segments(vnet, l4, l4len, proto);
  let bytes = <f64>total;
  if (segs > 1) bytes += <f64>((segs - 1) * (at + l4HeaderLength(l4, proto)));
  if (proto == PROTO_TCP) trackTcp(e + F6_STATE, <u32>load<u8>(l4 + TCP_FLAGS), outbound);
  touch(e + F6_LAST_SEEN);
  if (outbound) account(e, F6_BYTES_OUT, F6_PKTS_OUT, segs, bytes);
  else account(e, F6_BYTES_IN, F6_PKTS_IN, segs, bytes);
  count(outbound, segs, bytes);
  giveHopBack(ip);
  // a NAT66 FTP control connection: its helper reads it, translated, on the slow path
  if ((<u32>load<u8>(e + F6_STATE) & ES_ALG) != 0) return slow(R_ALG);
  return forward(idx);
}

// The second half of a hairpinned packet, now from our public end: to the LAN end of the public
// port it was sent to (whose flow counts it in).
function hairpin6(ip: usize, l4: usize, l4len: i32, proto: i32, sport: u32, dport: u32, partial: bool): void {
  const idx = lookupWan6(<u32>proto, dport, ip + IPV6_SRC, sport);
  if (idx < 0) return;
  const e = entry6Address(<u32>idx);
  rewriteEnd6(ip, l4, l4len, proto, END_DST, e + F6_LAN_ADDR, <u32>load<u16>(e + F6_LAN_PORT), partial);
  if (proto == PROTO_TCP) trackTcp(e + F6_STATE, <u32>load<u8>(l4 + TCP_FLAGS), false);
  touch(e + F6_LAST_SEEN);
  account(e, F6_BYTES_IN, F6_PKTS_IN, 1, <f64>(IPV6_HEADER + payloadLength(ip)));
}

// An ICMPv6 error passes when it is about a known flow: the packet embedded in it is one the
// flow sent, addressed back to its sender. Those that match no flow are dropped (RFC 6092 REC-10).
function icmp6Error(ip: usize, l4: usize, l4len: i32, ingress: u32): u32 {
  if (!icmp6ChecksumOk(ip, l4, l4len)) return drop(R_BAD_ICMP);
  const emb = l4 + ICMP_HEADER;
  const avail = l4len - ICMP_HEADER;
  if (validate6(emb, avail, false) != R_NONE) return drop(R_BAD_ICMP);
  if (walk6(emb, avail) != R_NONE) return drop(R_NO_MAPPING); // no ports to match a flow by
  const eproto = upperProtocol(), el4 = emb + <usize>upperOffset();
  if (upperOffset() + 8 > avail) return drop(R_BAD_ICMP);
  if (eproto != PROTO_TCP && eproto != PROTO_UDP && eproto != PROTO_ICMPV6) return drop(R_NO_MAPPING);
  if (!ports(el4, eproto)) return drop(R_NO_MAPPING); // about an error: never answered (RFC 4443 2.4)
  const esrc = emb + IPV6_SRC, edst = emb + IPV6_DST;
  const fromWan = ingress == IN_WAN;
  // NPTv6: from the WAN the error and the packet it quotes carry the LAN end's outside address
  if (npt6Count != 0 && fromWan && (npt6FromWan(ip + IPV6_DST) == NPT_REFUSED || npt6FromWan(esrc) == NPT_REFUSED))
    return drop(R_NPT);
  // The error goes back to the embedded packet's sender.
  const back = load<u64>(ip + IPV6_DST) == load<u64>(esrc) && load<u64>(ip + IPV6_DST + 8) == load<u64>(esrc + 8);
  if (!back) return drop(R_NO_MAPPING);
  const el4Avail = avail - upperOffset();
  if (fromWan && isMasqAddress(esrc)) {
    // NAT66: about a packet a masqueraded flow sent from its public end: the quote and the
    // error go back to its LAN end
    const idx = lookupWan6(<u32>eproto, sport, edst, dport);
    if (idx < 0) return slow(R_NO_MAPPING); // about the gateway's own: the kernel's
    const e = entry6Address(<u32>idx);
    rewriteEnd6(emb, el4, el4Avail, eproto, END_SRC, e + F6_LAN_ADDR, <u32>load<u16>(e + F6_LAN_PORT), false);
    setAddress6(ip, END_DST, e + F6_LAN_ADDR);
    icmp6Checksum(ip, l4, l4len);
    count(false, 1, <f64>(IPV6_HEADER + payloadLength(ip)));
    giveHopBack(ip);
    return forward(idx);
  }
  // From the WAN it is about a packet the LAN end sent; from inside, about one it received.
  const idx = fromWan ? lookup6(<u32>eproto, esrc, sport, edst, dport) : lookup6(<u32>eproto, edst, dport, esrc, sport);
  if (idx < 0) return drop(R_NO_MAPPING);
  const wanPort = <u32>load<u16>(entry6Address(<u32>idx) + F6_WAN_PORT);
  if (wanPort != 0) {
    if (fromWan) return drop(R_NO_MAPPING); // a masqueraded LAN end is reached only by its public end
    // from inside, about a packet a masqueraded flow delivered: it leaves as the public end
    rewriteEnd6(emb, el4, el4Avail, eproto, END_DST, masqAddress(), wanPort, false);
    setAddress6(ip, END_SRC, masqAddress());
    icmp6Checksum(ip, l4, l4len);
  }
  // from inside, leaving by the WAN: the LAN end's outside address, in the error and in the quote
  if (npt6Count != 0 && !fromWan && !npt6Inside(ip + IPV6_DST) && npt6Inside(ip + IPV6_SRC))
    if (npt6Out(ip + IPV6_SRC) == NPT_REFUSED || npt6Out(edst) == NPT_REFUSED) return drop(R_NPT);
  const bytes = <f64>(IPV6_HEADER + payloadLength(ip));
  count(!fromWan, 1, bytes);
  giveHopBack(ip);
  return forward(idx);
}
