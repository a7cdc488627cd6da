// "Always defragment": fragments are reassembled before translation (the first fragment alone
// holds the ports, and later ones none). Bounded so that it is no DoS hole: at most
// MAX_DATAGRAMS datagrams and MAX_BYTES held per worker, each for at most TIMEOUT_SECONDS;
// overlapping fragments drop their whole datagram (RFC 5722's rule, and the teardrop defence).
import {
  IPV4_VER_IHL,
  IPV4_TOTAL_LENGTH,
  IPV4_ID,
  IPV4_FRAG,
  IPV4_PROTO,
  IPV4_SRC,
  IPV4_DST,
  IPV4_CHECKSUM,
} from "../net/wire";

const IPV4_FRAG_MF = 0x2000; // more fragments
const FRAG_OFFSET = 0x1fff; // in 8-byte units

export const MAX_DATAGRAMS = 64;
export const MAX_BYTES = 2 * 1024 * 1024;
export const TIMEOUT_SECONDS = 30;

interface Part {
  off: number;
  data: Uint8Array;
}
interface Pending {
  parts: Part[];
  header?: Uint8Array;
  total: number;
  bytes: number;
  deadline: number;
}

export type FragmentResult =
  | { kind: "held" } // more fragments to come
  | { kind: "complete"; datagram: Uint8Array } // the whole IPv4 datagram, header fixed up
  | { kind: "refused"; why: "overlap" | "limit" | "bad" };

export class Reassembler {
  private pending = new Map<string, Pending>();
  private held = 0;
  expired = 0;

  // `pkt` is one IPv4 fragment (header included); `now` in seconds.
  add(pkt: Uint8Array, now: number): FragmentResult {
    this.expire(now);
    const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
    const ihl = (pkt[IPV4_VER_IHL] & 15) * 4;
    const frag = dv.getUint16(IPV4_FRAG);
    const off = (frag & FRAG_OFFSET) * 8;
    const more = (frag & IPV4_FRAG_MF) !== 0;
    const data = pkt.subarray(ihl, dv.getUint16(IPV4_TOTAL_LENGTH));
    if (more && data.length % 8 !== 0) return { kind: "refused", why: "bad" };
    // a datagram is known by protocol, addresses and identification (RFC 791)
    const key = `${pkt[IPV4_PROTO]}:${pkt.subarray(IPV4_SRC, IPV4_DST + 4).join(".")}:${dv.getUint16(IPV4_ID)}`;
    let p = this.pending.get(key);
    if (!p) {
      if (this.pending.size >= MAX_DATAGRAMS) return { kind: "refused", why: "limit" };
      p = { parts: [], total: -1, bytes: 0, deadline: now + TIMEOUT_SECONDS };
      this.pending.set(key, p);
    }
    const end = off + data.length;
    if (
      p.parts.some((q) => off < q.off + q.data.length && q.off < end) ||
      (p.total >= 0 && (end > p.total || (!more && end !== p.total)))
    ) {
      this.forget(key, p);
      return { kind: "refused", why: "overlap" };
    }
    if (this.held + data.length > MAX_BYTES) {
      this.forget(key, p);
      return { kind: "refused", why: "limit" };
    }
    p.parts.push({ off, data: Uint8Array.from(data) });
    p.bytes += data.length;
    this.held += data.length;
    if (off === 0) p.header = Uint8Array.from(pkt.subarray(0, ihl));
    if (!more) p.total = end;
    if (!p.header || p.total < 0 || p.bytes !== p.total) return { kind: "held" };
    // complete: no overlaps and the sizes add up, so the parts tile [0, total) exactly
    this.forget(key, p);
    const h = p.header;
    const out = new Uint8Array(h.length + p.total);
    out.set(h);
    for (const q of p.parts) out.set(q.data, h.length + q.off);
    const o = new DataView(out.buffer);
    o.setUint16(IPV4_TOTAL_LENGTH, out.length);
    o.setUint16(IPV4_FRAG, 0); // whole again, and DF clear: the kernel may fragment it for the next link
    o.setUint16(IPV4_CHECKSUM, 0);
    let sum = 0;
    for (let i = 0; i < h.length; i += 2) sum += o.getUint16(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    o.setUint16(IPV4_CHECKSUM, ~sum & 0xffff);
    return { kind: "complete", datagram: out };
  }

  private forget(key: string, p: Pending): void {
    this.held -= p.bytes;
    this.pending.delete(key);
  }

  private expire(now: number): void {
    for (const [key, p] of this.pending) {
      if (p.deadline <= now) {
        this.forget(key, p);
        this.expired++;
      }
    }
  }

  get datagrams(): number {
    return this.pending.size;
  }
  get bytesHeld(): number {
    return this.held;
  }
}
