// The public ports the table may hand out, as a count and the j-th port, so that a random start
// and a linear walk (RFC 6056 algorithm 1) cover a plain range and a MAP-E port set alike.
// A MAP-E CE may use only its PSID's ports (RFC 7597 5.1): for A from 1 (0 when the offset a is
// 0) to 2^a - 1, the 2^m ports (A << (16 - a)) | (PSID << m) | j, m = 16 - a - k.
import * as L from "../../assembly/layout";

export interface PortSpace {
  count: number;
  at(j: number): number;
  has(port: number): boolean;
}

export const portRange = (min: number, max: number): PortSpace => ({
  count: max - min + 1,
  at: (j) => min + j,
  has: (p) => p >= min && p <= max,
});

// A PSID's port set, but for its first `reserved` blocks (the gateway's own sockets use them).
export function psidPorts(psid: number, k: number, a: number, reserved = 0): PortSpace {
  const m = 16 - a - k;
  const first = (a === 0 ? 0 : 1) + reserved;
  const blocks = 2 ** a - first;
  const at = (j: number): number => ((first + Math.floor(j / 2 ** m)) << (16 - a)) | (psid << m) | (j % 2 ** m);
  // port 0 is nobody's: with a = 0 the first block starts there
  const skip0 = first === 0 && psid === 0 ? 1 : 0;
  return {
    count: Math.max(0, blocks * 2 ** m - skip0),
    at: (j) => at(j + skip0),
    has: (p) => p > 0 && p <= 65535 && (p >>> m) % 2 ** k === psid && p >>> (16 - a) >= first,
  };
}

// The NAT's ports for a LAN port: any identifier for ICMP, one below 1024 for a port below 1024
// (RFC 4787 REQ-3), else the NAT range [min, max].
export function natPorts(icmp: boolean, lanPort: number, min: number, max: number): PortSpace {
  return icmp ? portRange(1, 65535) : lanPort < 1024 ? portRange(L.LOW_PORT_MIN, L.LOW_PORT_MAX) : portRange(min, max);
}

// Picks a free port of a space (RFC 6056 algorithm 1): `want` if it is in it and free (port
// preservation), else from a random start on. A full space is scanned at most once a second (a
// LAN host spraying new flows at it would otherwise cost a walk of it, under the lock, per packet).
export class PortPicker {
  private readonly exhaustedAt = new Map<number, number>(); // (proto, first port) -> `now` it was found full

  pick(proto: number, space: PortSpace, want: number, now: number, isFree: (port: number) => boolean): number {
    if (want >= 1 && space.has(want) && isFree(want)) return want;
    const key = proto * 65536 + space.at(0);
    if (this.exhaustedAt.get(key) === now) return -1;
    const n = space.count;
    const start = Math.floor(Math.random() * n);
    for (let k = 0; k < n; k++) {
      const port = space.at((start + k) % n);
      if (isFree(port)) return port;
    }
    this.exhaustedAt.set(key, now);
    return -1;
  }
}
