// The IPv6 fast path: the TypeScript twin of assembly/route6.ts, same verdicts, same bytes.
import * as L from "../../assembly/layout";
import * as W from "../../assembly/wire";
import { validate6, walk6, scope6, upperOffset, upperProtocol, payloadLength, icmp6Sum } from "./ipv6";
import { lookup6, lookupWan6, entry6Address } from "./table6";
import { isMasqAddress, masqAddress, rewriteEnd6, icmp6Checksum, setAddress6 } from "./nat66";
import { npt6Count, npt6FromWan, npt6Out, npt6Inside, NPT_REFUSED } from "./npt6";
import { l4HeaderOk, l4HeaderLength } from "./l4";
import { drop, slow, forward } from "./verdict";
import { count } from "./counters";
import { segments, trackTcp, touch, account } from "./flow";
import { mem, le16, le32, be16 } from "./memory";

function vnetOk6(vnet: number, l4At: number, proto: number): boolean {
  const u8 = mem.u8;
  const gso = u8[vnet + L.VN_GSO_TYPE] & ~L.VNET_GSO_ECN;
  if (gso !== L.VNET_GSO_NONE) {
    if (gso === L.VNET_GSO_TCPV6) {
      if (proto !== L.PROTO_TCP) return false;
    } else if (gso === L.VNET_GSO_UDP_L4) {
      if (proto !== L.PROTO_UDP) return false;
    } else return false;
  }
  if ((u8[vnet + L.VN_FLAGS] & L.VNET_F_NEEDS_CSUM) !== 0) {
    if (le16(vnet + L.VN_CSUM_START) !== l4At) return false;
    const off = le16(vnet + L.VN_CSUM_OFFSET);
    if (proto === L.PROTO_TCP) return off === W.TCP_CHECKSUM;
    if (proto === L.PROTO_UDP) return off === W.UDP_CHECKSUM;
    return false;
  }
  return true;
}

function icmp6ChecksumOk(ip: number, icmp: number, len: number): boolean {
  return icmp6Sum(ip, icmp, len) === 0xffff;
}

const giveHopBack = (ip: number): void => {
  if (mem.u8[ip + W.IPV6_HOP_LIMIT] !== 255) mem.u8[ip + W.IPV6_HOP_LIMIT]++;
};

let sport = 0,
  dport = 0;
function ports(l4: number, proto: number): boolean {
  if (proto === L.PROTO_ICMPV6) {
    const type = mem.u8[l4 + W.ICMP_TYPE];
    const id = be16(l4 + W.ICMP_ID);
    if (type === W.ICMPV6_ECHO_REQUEST) {
      sport = id;
      dport = 0;
      return true;
    }
    if (type === W.ICMPV6_ECHO_REPLY) {
      sport = 0;
      dport = id;
      return true;
    }
    return false;
  }
  sport = be16(l4 + W.TCP_SRC_PORT);
  dport = be16(l4 + W.TCP_DST_PORT);
  return true;
}

export function route6(vnet: number, len: number, ingress: number): number {
  const ip = vnet + L.VNET_HDR_LEN;
  let r = validate6(ip, len, true);
  if (r !== L.R_NONE) return drop(r);
  r = scope6(ip);
  if (r !== L.R_NONE) return drop(r);
  const total = W.IPV6_HEADER + payloadLength(ip);
  r = walk6(ip, total);
  if (r === L.R_FRAGMENT || r === L.R_UNSUPPORTED) return slow(r);
  if (r !== L.R_NONE) return drop(r);
  const at = upperOffset(),
    proto = upperProtocol();
  const l4 = ip + at;
  const l4len = total - at;
  if (proto !== L.PROTO_TCP && proto !== L.PROTO_UDP && proto !== L.PROTO_ICMPV6) return slow(L.R_UNSUPPORTED);
  if (proto === L.PROTO_ICMPV6) {
    if (l4len < W.ICMP_HEADER) return drop(L.R_BAD_L4_HEADER);
    const type = mem.u8[l4 + W.ICMP_TYPE];
    if (type <= W.ICMPV6_ERROR_MAX) return icmp6Error(ip, l4, l4len, ingress);
    if (type >= W.ICMPV6_ROUTER_SOLICIT && type <= W.ICMPV6_REDIRECT) return drop(L.R_LINK_SCOPE);
  } else if (!l4HeaderOk(l4, l4len, proto)) return drop(L.R_BAD_L4_HEADER);
  if (!vnetOk6(vnet, at, proto)) return drop(L.R_BAD_VNET_HDR);
  if (!ports(l4, proto)) return slow(L.R_UNSUPPORTED);

  const src = ip + W.IPV6_SRC,
    dst = ip + W.IPV6_DST;
  let outbound = ingress !== L.IN_WAN;
  const partial = (mem.u8[vnet + L.VN_FLAGS] & L.VNET_F_NEEDS_CSUM) !== 0;
  let idx: number;
  if (!outbound && isMasqAddress(dst)) {
    idx = lookupWan6(proto, dport, src, sport);
    if (idx < 0) return slow(L.R_NO_MAPPING);
    const e = entry6Address(idx);
    rewriteEnd6(ip, l4, l4len, proto, L.END_DST, e + L.F6_LAN_ADDR, le16(e + L.F6_LAN_PORT), partial);
  } else {
    let mappedIn = false;
    if (npt6Count() !== 0 && !outbound) {
      const k = npt6FromWan(dst);
      if (k === NPT_REFUSED) return drop(L.R_NPT);
      mappedIn = k >= 0;
    }
    idx = outbound ? lookup6(proto, src, sport, dst, dport) : lookup6(proto, dst, dport, src, sport);
    if (idx < 0 && outbound) {
      idx = lookup6(proto, dst, dport, src, sport);
      outbound = false;
    }
    if (idx < 0) {
      if (mappedIn) npt6Out(dst);
      return slow(L.R_NO_MAPPING);
    }
    if (npt6Count() !== 0 && ingress !== L.IN_WAN && !npt6Inside(dst) && npt6Out(src) === NPT_REFUSED)
      return drop(L.R_NPT);
    const wanPort = le16(entry6Address(idx) + L.F6_WAN_PORT);
    if (wanPort !== 0) {
      if (ingress === L.IN_WAN) return drop(L.R_NO_MAPPING);
      if (outbound) {
        rewriteEnd6(ip, l4, l4len, proto, L.END_SRC, masqAddress(), wanPort, partial);
        if (proto !== L.PROTO_ICMPV6 && isMasqAddress(dst)) hairpin6(ip, l4, l4len, proto, wanPort, dport, partial);
      }
    }
  }
  const e = entry6Address(idx);
  const segs = proto === L.PROTO_ICMPV6 ? 1 : segments(vnet, l4, l4len, proto);
  let bytes = total;
  if (segs > 1) bytes += (segs - 1) * (at + l4HeaderLength(l4, proto));
  if (proto === L.PROTO_TCP) trackTcp(e + L.F6_STATE, mem.u8[l4 + W.TCP_FLAGS], outbound);
  touch(e + L.F6_LAST_SEEN);
  if (outbound) account(e, L.F6_BYTES_OUT, L.F6_PKTS_OUT, segs, bytes);
  else account(e, L.F6_BYTES_IN, L.F6_PKTS_IN, segs, bytes);
  count(outbound, segs, bytes);
  giveHopBack(ip);
  if ((mem.u8[e + L.F6_STATE] & L.ES_ALG) !== 0) return slow(L.R_ALG);
  return forward(idx);
}

function hairpin6(
  ip: number,
  l4: number,
  l4len: number,
  proto: number,
  sport: number,
  dport: number,
  partial: boolean,
): void {
  const idx = lookupWan6(proto, dport, ip + W.IPV6_SRC, sport);
  if (idx < 0) return;
  const e = entry6Address(idx);
  rewriteEnd6(ip, l4, l4len, proto, L.END_DST, e + L.F6_LAN_ADDR, le16(e + L.F6_LAN_PORT), partial);
  if (proto === L.PROTO_TCP) trackTcp(e + L.F6_STATE, mem.u8[l4 + W.TCP_FLAGS], false);
  touch(e + L.F6_LAST_SEEN);
  account(e, L.F6_BYTES_IN, L.F6_PKTS_IN, 1, W.IPV6_HEADER + payloadLength(ip));
}

function icmp6Error(ip: number, l4: number, l4len: number, ingress: number): number {
  if (!icmp6ChecksumOk(ip, l4, l4len)) return drop(L.R_BAD_ICMP);
  const emb = l4 + W.ICMP_HEADER;
  const avail = l4len - W.ICMP_HEADER;
  if (validate6(emb, avail, false) !== L.R_NONE) return drop(L.R_BAD_ICMP);
  if (walk6(emb, avail) !== L.R_NONE) return drop(L.R_NO_MAPPING);
  const eproto = upperProtocol(),
    el4 = emb + upperOffset();
  if (upperOffset() + 8 > avail) return drop(L.R_BAD_ICMP);
  if (eproto !== L.PROTO_TCP && eproto !== L.PROTO_UDP && eproto !== L.PROTO_ICMPV6) return drop(L.R_NO_MAPPING);
  if (!ports(el4, eproto)) return drop(L.R_NO_MAPPING);
  const esrc = emb + W.IPV6_SRC,
    edst = emb + W.IPV6_DST;
  const fromWan = ingress === L.IN_WAN;
  if (
    npt6Count() !== 0 &&
    fromWan &&
    (npt6FromWan(ip + W.IPV6_DST) === NPT_REFUSED || npt6FromWan(esrc) === NPT_REFUSED)
  )
    return drop(L.R_NPT);
  const d = ip + W.IPV6_DST;
  const back =
    le32(d) === le32(esrc) &&
    le32(d + 4) === le32(esrc + 4) &&
    le32(d + 8) === le32(esrc + 8) &&
    le32(d + 12) === le32(esrc + 12);
  if (!back) return drop(L.R_NO_MAPPING);
  const el4Avail = avail - upperOffset();
  if (fromWan && isMasqAddress(esrc)) {
    const idx = lookupWan6(eproto, sport, edst, dport);
    if (idx < 0) return slow(L.R_NO_MAPPING);
    const e = entry6Address(idx);
    rewriteEnd6(emb, el4, el4Avail, eproto, L.END_SRC, e + L.F6_LAN_ADDR, le16(e + L.F6_LAN_PORT), false);
    setAddress6(ip, L.END_DST, e + L.F6_LAN_ADDR);
    icmp6Checksum(ip, l4, l4len);
    count(false, 1, W.IPV6_HEADER + payloadLength(ip));
    giveHopBack(ip);
    return forward(idx);
  }
  const idx = fromWan ? lookup6(eproto, esrc, sport, edst, dport) : lookup6(eproto, edst, dport, esrc, sport);
  if (idx < 0) return drop(L.R_NO_MAPPING);
  const wanPort = le16(entry6Address(idx) + L.F6_WAN_PORT);
  if (wanPort !== 0) {
    if (fromWan) return drop(L.R_NO_MAPPING);
    rewriteEnd6(emb, el4, el4Avail, eproto, L.END_DST, masqAddress(), wanPort, false);
    setAddress6(ip, L.END_SRC, masqAddress());
    icmp6Checksum(ip, l4, l4len);
  }
  if (npt6Count() !== 0 && !fromWan && !npt6Inside(ip + W.IPV6_DST) && npt6Inside(ip + W.IPV6_SRC))
    if (npt6Out(ip + W.IPV6_SRC) === NPT_REFUSED || npt6Out(edst) === NPT_REFUSED) return drop(L.R_NPT);
  count(!fromWan, 1, W.IPV6_HEADER + payloadLength(ip));
  giveHopBack(ip);
  return forward(idx);
}
