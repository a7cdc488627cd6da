// IPv6 addresses as 16 bytes (network order) and prefixes: parsed from any RFC 4291 2.2 text
// form, written as RFC 5952 says (lower case, the longest run of zero words as "::").

export function parseAddr6(s: string): Uint8Array {
  const bad = (): never => {
    throw new Error(`not an IPv6 address: ${s}`);
  };
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length > 45) bad();
  let text = s;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(2).map(Number);
    if (b.some((x) => x > 255)) bad();
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    text = v4[1].endsWith("::") ? v4[1] : v4[1].slice(0, -1);
  } else if (text.includes(".")) bad();
  const halves = text.split("::");
  if (halves.length > 2) bad();
  const words = (h: string): number[] =>
    h === ""
      ? []
      : h.split(":").map((w) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(w)) bad();
          return Number.parseInt(w, 16);
        });
  const head = words(halves[0]);
  const rest = halves.length === 2 ? words(halves[1]) : [];
  const have = head.length + rest.length + tail.length;
  if (halves.length === 1 ? have !== 8 : have > 7) bad();
  const all = [...head, ...new Array(8 - have).fill(0), ...rest, ...tail];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 255;
  });
  return out;
}

export function isAddr6(s: string): boolean {
  try {
    parseAddr6(s);
    return true;
  } catch {
    return false;
  }
}

export function formatAddr6(a: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((a[2 * i] << 8) | a[2 * i + 1]);
  // the longest run of two or more zero words (the first of equals) becomes "::"
  let best = -1,
    bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

// A prefix: its first 16 bytes (the bits past `bits` zero) and its length. Plain numbers, so a
// policy that holds one crosses to the workers as JSON.
export interface Prefix6 {
  bytes: number[];
  bits: number;
}

export function parsePrefix6(s: string): Prefix6 {
  const [a, m] = s.split("/");
  const addr = parseAddr6(a);
  let bits = 128;
  if (m !== undefined) {
    if (!/^\d{1,3}$/.test(m) || Number(m) > 128) throw new Error(`prefix length /${m} is not 0..128`);
    bits = Number(m);
  }
  return { bytes: [...maskBytes(addr, bits)], bits };
}

function maskBytes(a: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    out[i] = a[i] & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export function inPrefix6(a: Uint8Array, p: Prefix6): boolean {
  const m = maskBytes(a, p.bits);
  for (let i = 0; i < 16; i++) if (m[i] !== p.bytes[i]) return false;
  return true;
}

export function formatPrefix6(p: Prefix6): string {
  return `${formatAddr6(Uint8Array.from(p.bytes))}/${p.bits}`;
}
