// The forward policy in the form the slow path evaluates: compiled once, no strings per packet.
// Semantics follow ipchains: rules in order, first match decides, else the chain policy.
import { Prefix, inPrefix } from "../net/addr";

export type Target = "ACCEPT" | "DENY" | "REJECT" | "MASQ";
export const POLICY_TARGETS: Target[] = ["ACCEPT", "DENY", "REJECT"];

export interface AddrMatch { prefix: Prefix; negate: boolean; portMin: number; portMax: number; portNegate: boolean }

export interface Rule {
  chain: string;
  proto: number; // 0: all
  src?: AddrMatch;
  dst?: AddrMatch;
  iface?: { name: string; wildcard: boolean; negate: boolean };
  syn?: boolean; // -y (true) / ! -y (false)
  target: Target;
  where: string; // file:line, for listings and errors
}

export interface Policy { forward: Target; rules: Rule[] }

export interface FlowKey { proto: number; src: number; sport: number; dst: number; dport: number; syn: boolean; iface: string }

function addrMatches(m: AddrMatch | undefined, addr: number, port: number, proto: number): boolean {
  if (!m) return true;
  if (inPrefix(addr, m.prefix) === m.negate) return false;
  if (m.portMin === 0 && m.portMax === 65535) return true;
  if (proto !== 6 && proto !== 17 && proto !== 1) return false;
  const inRange = port >= m.portMin && port <= m.portMax;
  return inRange !== m.portNegate;
}

function ifaceMatches(r: Rule, iface: string): boolean {
  if (!r.iface) return true;
  const hit = r.iface.wildcard ? iface.startsWith(r.iface.name) : iface === r.iface.name;
  return hit !== r.iface.negate;
}

export function evaluate(p: Policy, k: FlowKey): Target {
  for (const r of p.rules) {
    if (r.chain !== "forward") continue;
    if (r.proto !== 0 && r.proto !== k.proto) continue;
    if (!addrMatches(r.src, k.src, k.sport, k.proto)) continue;
    if (!addrMatches(r.dst, k.dst, k.dport, k.proto)) continue;
    if (!ifaceMatches(r, k.iface)) continue;
    if (r.syn !== undefined && (k.proto !== 6 || r.syn !== k.syn)) continue;
    return r.target;
  }
  return p.forward;
}

// The networks that some forward rule masquerades: how the LAN interface is found.
export function masqSources(p: Policy): Prefix[] {
  return p.rules.filter((r) => r.chain === "forward" && r.target === "MASQ" && r.src && !r.src.negate).map((r) => r.src!.prefix);
}
