// Header rewrites with incremental checksum updates: address and port (or ICMP query id) of one
// end, TTL, TCP MSS.
import { replace16, replace32, delta16, delta32, applyDelta, applyDeltaToSum } from "./checksum";
import { IPV4_SRC, IPV4_DST, IPV4_CHECKSUM, IPV4_TTL, TCP_DATA_OFFSET, TCP_CHECKSUM } from "./wire";
import { checksumOffset, portOffset } from "./l4";
import { PROTO_ICMP, PROTO_UDP, END_SRC } from "./layout";

// Rewrites the address and port of one end of the packet at `ip`, whose L4 header is at `l4` with
// `l4Avail` bytes present (an ICMP error's embedded packet may be cut short: fields past the end
// are left alone). `partial`: the L4 checksum field holds the pseudo-header sum of a NEEDS_CSUM
// packet, so only the address (part of the pseudo-header) moves it, and it is never complemented.
export function rewriteEnd(ip: usize, l4: usize, l4Avail: i32, proto: i32, end: i32,
                           addr: u32, port: u32, partial: bool): void {
  rewriteEndTtl(ip, l4, l4Avail, proto, end, addr, port, partial, 0);
}

// The same, also adding `ttlInc` to the TTL: the fast path's form, one fold for the IP checksum.
export function rewriteEndTtl(ip: usize, l4: usize, l4Avail: i32, proto: i32, end: i32,
                              addr: u32, port: u32, partial: bool, ttlInc: i32): void {
  const addrAt = ip + (end == END_SRC ? IPV4_SRC : IPV4_DST);
  const oldAddr = load<u32>(addrAt);
  const newAddr = bswap<u32>(addr);
  store<u32>(addrAt, newAddr);
  const addrDelta = delta32(oldAddr, newAddr);
  let ipDelta = addrDelta;
  if (ttlInc != 0) {
    const old = <u32>load<u16>(ip + IPV4_TTL);
    const now = ttlWord(old, ttlInc);
    if (now != old) { store<u16>(ip + IPV4_TTL, <u16>now); ipDelta += delta16(old, now); }
  }
  store<u16>(ip + IPV4_CHECKSUM, <u16>applyDelta(<u32>load<u16>(ip + IPV4_CHECKSUM), ipDelta));

  const portAt = l4 + portOffset(proto, end);
  const newPort = <u32>bswap<u16>(<u16>port);
  let portDelta: u32 = 0;
  const hasPort = <i32>(portAt - l4) + 2 <= l4Avail;
  if (hasPort) {
    portDelta = delta16(<u32>load<u16>(portAt), newPort);
    store<u16>(portAt, <u16>newPort);
  }
  const csOff = checksumOffset(proto);
  if (csOff < 0 || csOff + 2 > l4Avail) return;
  const csAt = l4 + <usize>csOff;
  const cs = <u32>load<u16>(csAt);
  if (proto == PROTO_ICMP) {
    // No pseudo-header: only the id is covered.
    if (hasPort) store<u16>(csAt, <u16>applyDelta(cs, portDelta));
    return;
  }
  if (partial) {
    store<u16>(csAt, <u16>applyDeltaToSum(cs, addrDelta));
    return;
  }
  if (proto == PROTO_UDP && cs == 0) return; // no checksum was sent: none is made up
  let now = applyDelta(cs, addrDelta + portDelta);
  if (proto == PROTO_UDP && now == 0) now = 0xffff; // RFC 768: a computed zero is sent as all ones
  store<u16>(csAt, <u16>now);
}

// Rewrites one address of the IP header alone (an ICMP error's outer header: the ICMP checksum
// has no pseudo-header, so only the IP header checksum moves).
export function rewriteAddr(ip: usize, end: i32, addr: u32): void {
  const at = ip + (end == END_SRC ? IPV4_SRC : IPV4_DST);
  const old = load<u32>(at);
  const now = bswap<u32>(addr);
  store<u32>(at, now);
  store<u16>(ip + IPV4_CHECKSUM, <u16>replace32(<u32>load<u16>(ip + IPV4_CHECKSUM), old, now));
}

// Adds `delta` to the TTL (clamped to 1..255), keeping the header checksum right.
// The TTL/protocol word (memory order: TTL in the low byte) with `delta` added to the TTL, kept
// within 1..255.
@inline function ttlWord(old: u32, delta: i32): u32 {
  let ttl = <i32>(old & 0xff) + delta;
  if (ttl > 255) ttl = 255;
  if (ttl < 1) ttl = 1;
  return (old & 0xff00) | <u32>ttl;
}

export function adjustTtl(ip: usize, delta: i32): void {
  const old = <u32>load<u16>(ip + IPV4_TTL);
  const now = ttlWord(old, delta);
  if (now == old) return;
  store<u16>(ip + IPV4_TTL, <u16>now);
  store<u16>(ip + IPV4_CHECKSUM, <u16>replace16(<u32>load<u16>(ip + IPV4_CHECKSUM), old, now));
}

// Lowers the MSS option of a TCP SYN to `mss` if it is larger. The option may sit at an odd
// offset, so the checksum is updated over the aligned words that cover it.
// Returns true if the packet changed.
export function clampMss(l4: usize, mss: u32, partial: bool): bool {
  const optEnd = l4 + <usize>((<i32>load<u8>(l4 + TCP_DATA_OFFSET) >> 4) << 2);
  let p = l4 + 20;
  while (p < optEnd) {
    const kind = load<u8>(p);
    if (kind == 0) break; // end of options
    if (kind == 1) { p++; continue; } // no-op
    if (p + 1 >= optEnd) break;
    const olen = <usize>load<u8>(p + 1);
    if (olen < 2 || p + olen > optEnd) break;
    if (kind == 2 && olen == 4) {
      const cur = <u32>bswap<u16>(load<u16>(p + 2));
      if (cur <= mss) return false;
      const at = p + 2;
      const first = at - ((at - l4) & 1); // aligned word that holds the first MSS byte
      const words = first == at ? 1 : 2;
      const old0 = <u32>load<u16>(first);
      const old1 = words == 2 ? <u32>load<u16>(first + 2) : 0;
      store<u16>(at, bswap<u16>(<u16>mss));
      if (!partial) {
        let cs = <u32>load<u16>(l4 + TCP_CHECKSUM);
        cs = replace16(cs, old0, <u32>load<u16>(first));
        if (words == 2) cs = replace16(cs, old1, <u32>load<u16>(first + 2));
        store<u16>(l4 + TCP_CHECKSUM, <u16>cs);
      }
      return true;
    }
    p += olen;
  }
  return false;
}
