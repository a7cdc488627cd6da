// NAT66 in the IPv6 fast path: the TypeScript twin of assembly/nat66.ts.
import { delta32, delta16, applyDelta, applyDeltaToSum } from "./checksum";
import { icmp6Sum } from "./ipv6";
import * as L from "../../assembly/layout";
import * as W from "../../assembly/wire";
import { mem, le16, le32, setLe16, setLe32, bswap16 } from "./memory";

let masqAt = 0;

export function setNat66(tableBase: number): void {
  masqAt = tableBase + L.T6_MASQ_ADDR;
}

export const masqAddress = (): number => masqAt;

export function isMasqAddress(a: number): boolean {
  const w0 = le32(masqAt),
    w1 = le32(masqAt + 4),
    w2 = le32(masqAt + 8),
    w3 = le32(masqAt + 12);
  if ((w0 | w1 | w2 | w3) === 0) return false;
  return le32(a) === w0 && le32(a + 4) === w1 && le32(a + 8) === w2 && le32(a + 12) === w3;
}

const checksumAt = (proto: number): number =>
  proto === L.PROTO_TCP ? W.TCP_CHECKSUM : proto === L.PROTO_UDP ? W.UDP_CHECKSUM : W.ICMP_CHECKSUM;

export function rewriteEnd6(
  ip: number,
  l4: number,
  l4Avail: number,
  proto: number,
  end: number,
  addr: number,
  port: number,
  partial: boolean,
): void {
  const at = ip + (end === L.END_SRC ? W.IPV6_SRC : W.IPV6_DST);
  let addrDelta = 0;
  for (let k = 0; k < 16; k += 4) {
    const now = le32(addr + k);
    addrDelta += delta32(le32(at + k), now);
    setLe32(at + k, now);
  }
  const portAt = l4 + (proto === L.PROTO_ICMPV6 ? W.ICMP_ID : end === L.END_SRC ? W.TCP_SRC_PORT : W.TCP_DST_PORT);
  let portDelta = 0;
  if (portAt - l4 + 2 <= l4Avail) {
    const now = bswap16(port & 0xffff);
    portDelta = delta16(le16(portAt), now);
    setLe16(portAt, now);
  }
  const cs = checksumAt(proto);
  if (cs + 2 > l4Avail) return;
  const csAt = l4 + cs;
  const old = le16(csAt);
  if (partial) {
    setLe16(csAt, applyDeltaToSum(old, addrDelta));
    return;
  }
  if (proto === L.PROTO_UDP && old === 0) return;
  let now = applyDelta(old, addrDelta + portDelta);
  if (proto === L.PROTO_UDP && now === 0) now = 0xffff;
  setLe16(csAt, now);
}

export function icmp6Checksum(ip: number, icmp: number, len: number): void {
  setLe16(icmp + W.ICMP_CHECKSUM, 0);
  setLe16(icmp + W.ICMP_CHECKSUM, ~icmp6Sum(ip, icmp, len) & 0xffff);
}

export function setAddress6(ip: number, end: number, from: number): void {
  const at = ip + (end === L.END_SRC ? W.IPV6_SRC : W.IPV6_DST);
  mem.u8.copyWithin(at, from, from + 16);
}
