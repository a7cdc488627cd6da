// "Always defragment": fragments are reassembled before translation (the first fragment alone
// holds the ports, and later ones none). Bounded so that it is no DoS hole: at most
// MAX_DATAGRAMS datagrams and MAX_BYTES held per worker, each for at most TIMEOUT_SECONDS;
// overlapping fragments drop their whole datagram (RFC 5722's rule, and the teardrop defence).

export const MAX_DATAGRAMS = 64;
export const MAX_BYTES = 2 * 1024 * 1024;
export const TIMEOUT_SECONDS = 30;

interface Part { off: number; data: Uint8Array }
interface Pending { parts: Part[]; header?: Uint8Array; total: number; bytes: number; deadline: number }

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
    const ihl = (pkt[0] & 15) * 4;
    const totalLen = (pkt[2] << 8) | pkt[3];
    const frag = (pkt[6] << 8) | pkt[7];
    const off = (frag & 0x1fff) * 8;
    const more = (frag & 0x2000) !== 0;
    const data = pkt.subarray(ihl, totalLen);
    if (more && data.length % 8 !== 0) return { kind: "refused", why: "bad" };
    const key = `${pkt[9]}:${pkt.subarray(12, 20).join(".")}:${(pkt[4] << 8) | pkt[5]}`;
    let p = this.pending.get(key);
    if (!p) {
      if (this.pending.size >= MAX_DATAGRAMS) return { kind: "refused", why: "limit" };
      p = { parts: [], total: -1, bytes: 0, deadline: now + TIMEOUT_SECONDS };
      this.pending.set(key, p);
    }
    const end = off + data.length;
    if (p.parts.some((q) => off < q.off + q.data.length && q.off < end) || (p.total >= 0 && (end > p.total || (!more && end !== p.total)))) {
      this.forget(key, p);
      return { kind: "refused", why: "overlap" };
    }
    if (this.held + data.length > MAX_BYTES) { this.forget(key, p); return { kind: "refused", why: "limit" }; }
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
    const len = out.length;
    out[2] = len >> 8; out[3] = len & 255;
    out[6] = 0; out[7] = 0; // whole again, and DF clear: the kernel may fragment it for the next link
    out[10] = 0; out[11] = 0;
    let sum = 0;
    for (let i = 0; i < h.length; i += 2) sum += (out[i] << 8) | out[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const c = ~sum & 0xffff;
    out[10] = c >> 8; out[11] = c & 255;
    return { kind: "complete", datagram: out };
  }

  private forget(key: string, p: Pending): void {
    this.held -= p.bytes;
    this.pending.delete(key);
  }

  private expire(now: number): void {
    for (const [key, p] of this.pending) {
      if (p.deadline <= now) { this.forget(key, p); this.expired++; }
    }
  }

  get datagrams(): number { return this.pending.size; }
  get bytesHeld(): number { return this.held; }
}
