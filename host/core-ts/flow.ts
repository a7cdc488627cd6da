// What the fast path keeps up to date in a flow entry: the TypeScript twin of assembly/flow.ts.
import * as L from "../../assembly/layout";
import { TCP_SYN, TCP_FIN, TCP_RST, TCP_ACK } from "../../assembly/wire";
import { l4HeaderLength } from "./l4";
import { tableBase } from "./table";
import { mem, le16, le32 } from "./memory";
import { add } from "./counters";

// The packets on the wire a GSO super-packet stands for (see assembly/batch.ts).
export function segments(vnet: number, l4: number, l4len: number, proto: number): number {
  const size = le16(vnet + L.VN_GSO_SIZE);
  if ((mem.u8[vnet + L.VN_GSO_TYPE] & ~L.VNET_GSO_ECN) === L.VNET_GSO_NONE || size === 0) return 1;
  const payload = l4len - l4HeaderLength(l4, proto);
  return payload <= size ? 1 : ((payload + size - 1) / size) | 0;
}

// `at`: the entry's state byte (E_STATE, or F6_STATE of an IPv6 flow).
export function trackTcp(at: number, flags: number, outbound: boolean): void {
  const u8 = mem.u8;
  const old = u8[at];
  let st = old;
  if (flags & TCP_RST) st |= L.TS_RST;
  if (flags & TCP_SYN) st |= outbound ? L.TS_SYN_OUT : L.TS_SYN_IN;
  if (flags & TCP_FIN) st |= outbound ? L.TS_FIN_OUT : L.TS_FIN_IN;
  if ((flags & (TCP_SYN | TCP_ACK)) === TCP_ACK && (st & (L.TS_SYN_OUT | L.TS_SYN_IN)) === (L.TS_SYN_OUT | L.TS_SYN_IN))
    st |= L.TS_ESTABLISHED;
  if (st !== old) u8[at] = st;
}

// `at`: the entry's last-seen field (E_LAST_SEEN, or F6_LAST_SEEN).
export function touch(at: number): void {
  const now = le32(tableBase() + L.T_NOW);
  if (le32(at) !== now) mem.dv.setUint32(at, now, true);
}

// The flow's own counters, one direction: what per-host accounting folds in when the flow ends.
export function account(e: number, bytesAt: number, pktsAt: number, packets: number, bytes: number): void {
  add(e + bytesAt, bytes);
  add(e + pktsAt, packets);
}
