// Header rewrites with incremental checksum updates: the TypeScript twin of assembly/rewrite.ts.
import { replace16, replace32, delta16, delta32, applyDelta, applyDeltaToSum } from "./checksum";
import { IPV4_SRC, IPV4_DST, IPV4_CHECKSUM, IPV4_TTL, TCP_DATA_OFFSET, TCP_CHECKSUM } from "../../assembly/wire";
import { checksumOffset, portOffset } from "./l4";
import { mem, le16, leAddr, setLe16, setLe32, bswap16, bswap32 } from "./memory";
import * as L from "../../assembly/layout";

export function rewriteAddr(ip: number, end: number, addr: number): void {
  const at = ip + (end === L.END_SRC ? IPV4_SRC : IPV4_DST);
  const old = leAddr(at);
  const now = bswap32(addr);
  setLe32(at, now);
  setLe16(ip + IPV4_CHECKSUM, replace32(le16(ip + IPV4_CHECKSUM), old, now));
}

export function rewriteEnd(
  ip: number,
  l4: number,
  l4Avail: number,
  proto: number,
  end: number,
  addr: number,
  port: number,
  partial: boolean,
): void {
  rewriteEndTtl(ip, l4, l4Avail, proto, end, addr, port, partial, 0);
}

export function rewriteEndTtl(
  ip: number,
  l4: number,
  l4Avail: number,
  proto: number,
  end: number,
  addr: number,
  port: number,
  partial: boolean,
  ttlInc: number,
): void {
  const addrAt = ip + (end === L.END_SRC ? IPV4_SRC : IPV4_DST);
  const oldAddr = leAddr(addrAt);
  const newAddr = bswap32(addr);
  setLe32(addrAt, newAddr);
  const addrDelta = delta32(oldAddr, newAddr);
  let ipDelta = addrDelta;
  if (ttlInc !== 0) {
    const old = le16(ip + IPV4_TTL);
    const now = ttlWord(old, ttlInc);
    if (now !== old) {
      setLe16(ip + IPV4_TTL, now);
      ipDelta += delta16(old, now);
    }
  }
  setLe16(ip + IPV4_CHECKSUM, applyDelta(le16(ip + IPV4_CHECKSUM), ipDelta));

  const portAt = l4 + portOffset(proto, end);
  const newPort = bswap16(port & 0xffff);
  let portDelta = 0;
  const hasPort = portAt - l4 + 2 <= l4Avail;
  if (hasPort) {
    portDelta = delta16(le16(portAt), newPort);
    setLe16(portAt, newPort);
  }
  const csOff = checksumOffset(proto);
  if (csOff < 0 || csOff + 2 > l4Avail) return;
  const csAt = l4 + csOff;
  const cs = le16(csAt);
  if (proto === L.PROTO_ICMP) {
    if (hasPort) setLe16(csAt, applyDelta(cs, portDelta));
    return;
  }
  if (partial) {
    setLe16(csAt, applyDeltaToSum(cs, addrDelta));
    return;
  }
  if (proto === L.PROTO_UDP && cs === 0) return;
  let now = applyDelta(cs, addrDelta + portDelta);
  if (proto === L.PROTO_UDP && now === 0) now = 0xffff;
  setLe16(csAt, now);
}

// The TTL/protocol word (memory order: TTL in the low byte) with `delta` added to the TTL, kept
// within 1..255.
function ttlWord(old: number, delta: number): number {
  let ttl = (old & 0xff) + delta;
  if (ttl > 255) ttl = 255;
  if (ttl < 1) ttl = 1;
  return (old & 0xff00) | ttl;
}

export function adjustTtl(ip: number, delta: number): void {
  const old = le16(ip + IPV4_TTL);
  const now = ttlWord(old, delta);
  if (now === old) return;
  setLe16(ip + IPV4_TTL, now);
  setLe16(ip + IPV4_CHECKSUM, replace16(le16(ip + IPV4_CHECKSUM), old, now));
}

export function clampMss(l4: number, mss: number, partial: boolean): boolean {
  const u8 = mem.u8;
  const optEnd = l4 + ((u8[l4 + TCP_DATA_OFFSET] >> 4) << 2);
  let p = l4 + 20;
  while (p < optEnd) {
    const kind = u8[p];
    if (kind === 0) break;
    if (kind === 1) {
      p++;
      continue;
    }
    if (p + 1 >= optEnd) break;
    const olen = u8[p + 1];
    if (olen < 2 || p + olen > optEnd) break;
    if (kind === 2 && olen === 4) {
      const cur = (u8[p + 2] << 8) | u8[p + 3];
      if (cur <= mss) return false;
      const at = p + 2;
      const first = at - ((at - l4) & 1);
      const words = first === at ? 1 : 2;
      const old0 = le16(first);
      const old1 = words === 2 ? le16(first + 2) : 0;
      u8[at] = (mss >>> 8) & 0xff;
      u8[at + 1] = mss & 0xff;
      if (!partial) {
        let cs = le16(l4 + TCP_CHECKSUM);
        cs = replace16(cs, old0, le16(first));
        if (words === 2) cs = replace16(cs, old1, le16(first + 2));
        setLe16(l4 + TCP_CHECKSUM, cs);
      }
      return true;
    }
    p += olen;
  }
  return false;
}
