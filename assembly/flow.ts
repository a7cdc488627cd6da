// What the fast path keeps up to date in a flow's entry, for both families: TCP facts, when it
// was last seen, its counters; and how many wire packets a GSO super-packet stands for.
import { l4HeaderLength } from "./l4";
import { tableBase } from "./table";
import {
  VN_GSO_TYPE, VN_GSO_SIZE, VNET_GSO_ECN, VNET_GSO_NONE, T_NOW,
  TS_SYN_OUT, TS_SYN_IN, TS_ESTABLISHED, TS_FIN_OUT, TS_FIN_IN, TS_RST,
} from "./layout";
import { TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK } from "./wire";

// The packets on the wire a GSO super-packet stands for: its payload cut in gso_size pieces, each
// with a copy of the headers. The counters count those.
export function segments(vnet: usize, l4: usize, l4len: i32, proto: i32): i32 {
  const size = <i32>load<u16>(vnet + VN_GSO_SIZE);
  if ((<u32>load<u8>(vnet + VN_GSO_TYPE) & ~VNET_GSO_ECN) == VNET_GSO_NONE || size == 0) return 1;
  const payload = l4len - l4HeaderLength(l4, proto);
  return payload <= size ? 1 : (payload + size - 1) / size;
}

// TCP facts that choose the timeout (RFC 5382); stored only when they change. `at`: the entry's
// state byte (E_STATE, or F6_STATE of an IPv6 flow).
export function trackTcp(at: usize, flags: u32, outbound: bool): void {
  const old = <u32>load<u8>(at);
  let st = old;
  if ((flags & TCP_RST) != 0) st |= TS_RST;
  if ((flags & TCP_SYN) != 0) st |= outbound ? TS_SYN_OUT : TS_SYN_IN;
  if ((flags & TCP_FIN) != 0) st |= outbound ? TS_FIN_OUT : TS_FIN_IN;
  if ((flags & (TCP_SYN | TCP_ACK)) == TCP_ACK && (st & (TS_SYN_OUT | TS_SYN_IN)) == (TS_SYN_OUT | TS_SYN_IN)) st |= TS_ESTABLISHED;
  if (st != old) store<u8>(at, <u8>st);
}

// `at`: the entry's last-seen field (E_LAST_SEEN, or F6_LAST_SEEN).
@inline export function touch(at: usize): void {
  const now = load<u32>(tableBase() + T_NOW);
  if (load<u32>(at) != now) store<u32>(at, now);
}

// The flow's own counters, one direction: what per-host accounting folds in when the flow ends.
@inline export function account(e: usize, bytesAt: usize, pktsAt: usize, packets: i32, bytes: f64): void {
  store<f64>(e + bytesAt, load<f64>(e + bytesAt) + bytes);
  store<f64>(e + pktsAt, load<f64>(e + pktsAt) + <f64>packets);
}

