// IPv4 addresses as numbers (10.0.0.1 = 0x0a000001) and CIDR prefixes.
export function parseAddr(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) throw new Error(`not an IPv4 address: ${s}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new Error(`not an IPv4 address: ${s}`);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatAddr(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export interface Prefix {
  addr: number;
  bits: number;
}

export function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

// "192.168.0.0/24", "192.168.0.0/255.255.255.0" or a bare address (/32).
export function parsePrefix(s: string): Prefix {
  const [a, m] = s.split("/");
  const addr = parseAddr(a);
  let bits = 32;
  if (m !== undefined) {
    if (/^\d+$/.test(m)) {
      bits = Number(m);
      if (bits > 32) throw new Error(`prefix length /${m} is more than 32`);
    } else {
      const mask = parseAddr(m);
      bits = 32 - Math.log2((~mask >>> 0) + 1);
      if (!Number.isInteger(bits) || maskOf(bits) !== mask) throw new Error(`not a netmask: ${m}`);
    }
  }
  return { addr: (addr & maskOf(bits)) >>> 0, bits };
}

export function inPrefix(a: number, p: Prefix): boolean {
  return (a & maskOf(p.bits)) >>> 0 === p.addr;
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddr(p.addr)}/${p.bits}`;
}
