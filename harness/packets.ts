// A small, independent packet builder and checker for tests (plain big-endian byte arithmetic,
// sharing no code with the cores).
export function checksum(b: Uint8Array, start = 0, end = b.length, initial = 0): number {
  let s = initial;
  for (let i = start; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if ((end - start) & 1) s += b[end - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s; // folded sum, not complemented
}

const ip4 = (a: string): number[] => a.split(".").map(Number);

export function pseudoSum(src: number[], dst: number[], proto: number, len: number): number {
  return checksum(Uint8Array.from([...src, ...dst, 0, proto, len >> 8, len & 255]));
}

export interface IpOpts {
  src: string;
  dst: string;
  proto: number;
  ttl?: number;
  id?: number;
  frag?: number;
  options?: number[];
}

export function ipv4(o: IpOpts, l4: Uint8Array): Uint8Array {
  const opts = o.options ?? [];
  const ihl = 20 + opts.length;
  const b = new Uint8Array(ihl + l4.length);
  b[0] = 0x40 | (ihl >> 2);
  b[1] = 0;
  b[2] = b.length >> 8;
  b[3] = b.length & 255;
  b[4] = ((o.id ?? 1) >> 8) & 255;
  b[5] = (o.id ?? 1) & 255;
  b[6] = ((o.frag ?? 0) >> 8) & 255;
  b[7] = (o.frag ?? 0) & 255;
  b[8] = o.ttl ?? 64;
  b[9] = o.proto;
  b.set(ip4(o.src), 12);
  b.set(ip4(o.dst), 16);
  b.set(opts, 20);
  const c = ~checksum(b, 0, ihl) & 0xffff;
  b[10] = c >> 8;
  b[11] = c & 255;
  b.set(l4, ihl);
  return b;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 255;
  b[at + 1] = v & 255;
}

export function tcp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  flags: number,
  payload: Uint8Array,
  options: number[] = [],
): Uint8Array {
  const hl = 20 + options.length;
  const b = new Uint8Array(hl + payload.length);
  put16(b, 0, sport);
  put16(b, 2, dport);
  b[4] = 0;
  b[5] = 0;
  b[6] = 0;
  b[7] = 1;
  b[12] = (hl >> 2) << 4;
  b[13] = flags;
  put16(b, 14, 65535);
  b.set(options, 20);
  b.set(payload, hl);
  put16(b, 16, ~checksum(b, 0, b.length, pseudoSum(ip4(src), ip4(dst), 6, b.length)) & 0xffff);
  return b;
}

export function udp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
  withChecksum = true,
): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  put16(b, 0, sport);
  put16(b, 2, dport);
  put16(b, 4, b.length);
  b.set(payload, 8);
  if (withChecksum) {
    let c = ~checksum(b, 0, b.length, pseudoSum(ip4(src), ip4(dst), 17, b.length)) & 0xffff;
    if (c === 0) c = 0xffff;
    put16(b, 6, c);
  }
  return b;
}

export function icmp(type: number, code: number, rest: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  b[0] = type;
  b[1] = code;
  b[4] = (rest >>> 24) & 255;
  b[5] = (rest >>> 16) & 255;
  b[6] = (rest >>> 8) & 255;
  b[7] = rest & 255;
  b.set(payload, 8);
  put16(b, 2, ~checksum(b) & 0xffff);
  return b;
}

// Turns a TCP/UDP packet into what the kernel hands over with NEEDS_CSUM: the checksum field holds
// the pseudo-header sum. Returns [virtio_net_hdr, packet].
export function withPartialChecksum(pkt: Uint8Array, gso = 0, gsoSize = 0): Uint8Array {
  const ihl = (pkt[0] & 15) * 4;
  const proto = pkt[9];
  const off = proto === 6 ? 16 : 6;
  const p = Uint8Array.from(pkt);
  const ps = pseudoSum([...p.subarray(12, 16)], [...p.subarray(16, 20)], proto, p.length - ihl);
  put16(p, ihl + off, ps);
  const v = new Uint8Array(10);
  v[0] = 1;
  v[1] = gso;
  v[4] = gsoSize & 255;
  v[5] = gsoSize >> 8;
  v[6] = ihl;
  v[7] = 0;
  v[8] = off;
  v[9] = 0;
  return concat(v, p);
}

export const plainVnet = (): Uint8Array => new Uint8Array(10);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Full recomputation of every checksum of a translated packet (vnet header + IPv4).
// Returns a description of the first wrong one, or "" when all are right.
export function verifyChecksums(buf: Uint8Array): string {
  const partial = (buf[0] & 1) !== 0;
  const p = buf.subarray(10);
  const ihl = (p[0] & 15) * 4;
  if (checksum(p, 0, ihl) !== 0xffff) return "ip header";
  const total = (p[2] << 8) | p[3];
  const frag = ((p[6] << 8) | p[7]) & 0x3fff;
  if (frag) return "";
  const proto = p[9];
  const l4 = p.subarray(ihl, total);
  const src = [...p.subarray(12, 16)],
    dst = [...p.subarray(16, 20)];
  if (proto === 6 || proto === 17) {
    const off = proto === 6 ? 16 : 6;
    const field = (l4[off] << 8) | l4[off + 1];
    const ps = pseudoSum(src, dst, proto, l4.length);
    if (partial) return field === ps ? "" : "partial pseudo-header sum";
    if (proto === 17 && field === 0) return "";
    return checksum(l4, 0, l4.length, ps) === 0xffff ? "" : proto === 6 ? "tcp" : "udp";
  }
  if (proto === 1) {
    if (checksum(l4) !== 0xffff) return "icmp";
    const type = l4[0];
    if ((type === 3 || type === 11 || type === 12) && l4.length >= 28) {
      const e = l4.subarray(8);
      const eihl = (e[0] & 15) * 4;
      if (e.length >= eihl && checksum(e, 0, eihl) !== 0xffff) return "embedded ip header";
    }
  }
  return "";
}
