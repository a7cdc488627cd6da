// NAT66 in the IPv6 fast path (RFC 6092's firewall with the IPv4 NAT's masquerade, for a line that
// gives one address and no prefix): a masqueraded flow leaves as the WAN's address (T6_MASQ_ADDR)
// and its public port (F6_WAN_PORT), and what comes back to that address and port is found by the
// NAT66 index (table6.ts lookupWan6) and given its LAN end again. IPv6 has no header checksum: an
// address is covered only by the transport's pseudo-header, so the transport checksum takes the
// address's and the port's difference (RFC 1624), as IPv4's rewrite does.
import { delta32, delta16, applyDelta, applyDeltaToSum } from "./checksum";
import { icmp6Sum } from "./ipv6";
import { T6_MASQ_ADDR, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6, END_SRC } from "./layout";
import { IPV6_SRC, IPV6_DST, TCP_SRC_PORT, TCP_DST_PORT, TCP_CHECKSUM, UDP_CHECKSUM, ICMP_ID, ICMP_CHECKSUM } from "./wire";

let masqAt: usize = 0;

export function setNat66(tableBase: usize): void {
  masqAt = tableBase + T6_MASQ_ADDR;
}

// The address NAT66 masquerades as (16 bytes), all zero while there is none.
export function masqAddress(): usize { return masqAt; }

// Is NAT66 on, and is `a` its address? (The host writes the address when the WAN's changes.)
export function isMasqAddress(a: usize): bool {
  const hi = load<u64>(masqAt), lo = load<u64>(masqAt + 8);
  return (hi | lo) != 0 && load<u64>(a) == hi && load<u64>(a + 8) == lo;
}

@inline function checksumAt(proto: i32): i32 {
  if (proto == PROTO_TCP) return <i32>TCP_CHECKSUM;
  if (proto == PROTO_UDP) return <i32>UDP_CHECKSUM;
  return <i32>ICMP_CHECKSUM; // ICMPv6: its checksum has a pseudo-header too (RFC 4443 2.3)
}

// Rewrites one end (address at `addr`, port or echo identifier `port`) of the IPv6 packet at `ip`,
// whose upper-layer header is at `l4` with `l4Avail` bytes present (an ICMPv6 error's quote may be
// cut short: fields past the end are left alone). `partial`: a NEEDS_CSUM packet, whose checksum
// field holds the pseudo-header sum: only the address moves it, uncomplemented.
export function rewriteEnd6(ip: usize, l4: usize, l4Avail: i32, proto: i32, end: i32, addr: usize, port: u32, partial: bool): void {
  const at = ip + (end == END_SRC ? IPV6_SRC : IPV6_DST);
  let addrDelta: u32 = 0;
  for (let k: usize = 0; k < 16; k += 4) {
    const now = load<u32>(addr + k);
    addrDelta += delta32(load<u32>(at + k), now);
    store<u32>(at + k, now);
  }
  const portAt = l4 + (proto == PROTO_ICMPV6 ? ICMP_ID : end == END_SRC ? TCP_SRC_PORT : TCP_DST_PORT);
  let portDelta: u32 = 0;
  if (<i32>(portAt - l4) + 2 <= l4Avail) {
    const now = <u32>bswap<u16>(<u16>port);
    portDelta = delta16(<u32>load<u16>(portAt), now);
    store<u16>(portAt, <u16>now);
  }
  const cs = checksumAt(proto);
  if (cs + 2 > l4Avail) return;
  const csAt = l4 + <usize>cs;
  const old = <u32>load<u16>(csAt);
  if (partial) { store<u16>(csAt, <u16>applyDeltaToSum(old, addrDelta)); return; }
  if (proto == PROTO_UDP && old == 0) return; // none was sent (not valid in IPv6): none is made up
  let now = applyDelta(old, addrDelta + portDelta);
  if (proto == PROTO_UDP && now == 0) now = 0xffff; // a computed zero is sent as all ones
  store<u16>(csAt, <u16>now);
}

// The ICMPv6 checksum of a message of `len` bytes at `icmp` after its packet's addresses or
// quote changed (an error about a masqueraded flow): computed again over the pseudo-header.
export function icmp6Checksum(ip: usize, icmp: usize, len: i32): void {
  store<u16>(icmp + ICMP_CHECKSUM, 0);
  store<u16>(icmp + ICMP_CHECKSUM, <u16>(~icmp6Sum(ip, icmp, len) & 0xffff));
}

// Copies the 16-byte address at `from` into the packet's source or destination.
export function setAddress6(ip: usize, end: i32, from: usize): void {
  const at = ip + (end == END_SRC ? IPV6_SRC : IPV6_DST);
  store<u64>(at, load<u64>(from));
  store<u64>(at + 8, load<u64>(from + 8));
}
