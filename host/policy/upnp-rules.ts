// The rule language's `upnp` lines: who may map what through UPnP IGD, as miniupnpd's
// permission lines in ipmasq.conf:
//   upnp allow|deny EXT_PORTS ADDR[/BITS] INT_PORTS       e.g. upnp allow 1024-65535 192.168.0.0/24 1024-65535
// After the lines comes the default, which allows ports 1024 and up on both sides: ports below
// 1024 are refused unless a line allows them (host/portmap/upnp/permissions.ts decides with them).
import { type Prefix, parsePrefix } from "../net/addr";

export interface UpnpRule {
  allow: boolean;
  ext: [number, number];
  client: Prefix;
  int: [number, number];
}

export const DEFAULT_UPNP_RULES: UpnpRule[] = [
  { allow: true, ext: [1024, 65535], client: { addr: 0, bits: 0 }, int: [1024, 65535] },
];

function ports(s: string): [number, number] | undefined {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) return undefined;
  const lo = Number(m[1]),
    hi = Number(m[2] ?? m[1]);
  return lo <= hi && hi <= 65535 ? [lo, hi] : undefined;
}

// The rule a line's words (after "upnp") say, or why not: [rule] or [undefined, word index, reason].
export function parseUpnpRule(words: string[]): { rule?: UpnpRule; at: number; why?: string } {
  if (words[0] !== "allow" && words[0] !== "deny") return { at: 0, why: "upnp wants allow or deny" };
  if (words.length !== 4)
    return { at: Math.min(words.length, 4), why: "upnp allow|deny EXT_PORTS ADDR/BITS INT_PORTS" };
  const ext = ports(words[1]);
  if (!ext) return { at: 1, why: `not a port or port range: "${words[1]}"` };
  let client: Prefix;
  try {
    client = parsePrefix(words[2]);
  } catch {
    return { at: 2, why: `not an address or network: "${words[2]}"` };
  }
  const int = ports(words[3]);
  if (!int) return { at: 3, why: `not a port or port range: "${words[3]}"` };
  return { rule: { allow: words[0] === "allow", ext, client, int }, at: 0 };
}
