// The public ports the table may hand out, as a count and the j-th port, so that a random start
// and a linear walk (RFC 6056 algorithm 1) cover a plain range and a MAP-E port set alike.
// A MAP-E CE may use only its PSID's ports (RFC 7597 5.1): for A from 1 (0 when the offset a is
// 0) to 2^a - 1, the 2^m ports (A << (16 - a)) | (PSID << m) | j, m = 16 - a - k.
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
