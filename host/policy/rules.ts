// The policy in the form the slow path evaluates: chains of rules, ipchains semantics (first
// match decides; a user chain is entered and left by RETURN or by running off its end; a built-in
// chain's end applies its policy), plus the port forwards of ipmasqadm.
// Evaluation is per new flow, never per packet: established flows ride the connection table.
import { type Prefix, inPrefix } from "../net/addr";
import { type Prefix6, inPrefix6 } from "../net/addr6";
import { PROTO_ALL } from "../net/protocols";
import * as L from "../../assembly/layout";
import type { UpnpRule } from "./upnp-rules";

export type Verdict = "ACCEPT" | "DENY" | "REJECT" | "MASQ" | "REDIRECT";
export const BUILTIN_CHAINS = ["input", "forward", "output"] as const;
export const POLICY_TARGETS = ["ACCEPT", "DENY", "REJECT"] as const;
export const SPECIAL_TARGETS = ["ACCEPT", "DENY", "REJECT", "MASQ", "REDIRECT", "RETURN"] as const;

export interface AddrMatch {
  prefix: Prefix; // 0.0.0.0/0 when prefix6 is set
  prefix6?: Prefix6; // an IPv6 address or prefix: the rule is for IPv6 packets only
  negate: boolean;
  portMin: number;
  portMax: number;
  portNegate: boolean;
}

export interface Rule {
  proto: number; // PROTO_ALL or an IP protocol number
  protoNegate: boolean;
  src?: AddrMatch;
  dst?: AddrMatch;
  iface?: { name: string; wildcard: boolean; negate: boolean };
  syn?: boolean; // -y (true) / ! -y (false)
  fragment?: boolean; // -f (true) / ! -f (false)
  log: boolean;
  target: string; // a special target, a user chain, or "" (count only)
  redirectPort: number; // REDIRECT [port]; 0: keep the destination port
  counter: number; // slot of this rule's packet/byte counters
  text: string; // the rule as written, for listings and save
}

export interface Chain {
  name: string;
  policy?: Verdict;
  rules: Rule[];
  policyCounter: number;
}

export interface PortForward {
  proto: number;
  publicAddr: number;
  publicPort: number;
  addr: number;
  port: number;
  pref: number;
}

// ipchains -M -S: masquerading timeouts in seconds (0: unchanged)
export interface MasqTimeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

export interface Policy {
  chains: Record<string, Chain>;
  portfw: PortForward[];
  masqTimeouts?: MasqTimeouts;
  upnp?: UpnpRule[]; // `upnp allow|deny` lines: who may map what through UPnP IGD
}

export function emptyPolicy(): Policy {
  const chains: Record<string, Chain> = {};
  let n = 0;
  for (const name of BUILTIN_CHAINS) chains[name] = { name, policy: "ACCEPT", rules: [], policyCounter: n++ };
  return { chains, portfw: [] };
}

export interface PacketKey {
  proto: number;
  src: number;
  sport: number;
  dst: number;
  dport: number;
  syn: boolean;
  fragment: boolean;
  icmpType: number;
  iface: string;
  src6?: Uint8Array; // an IPv6 packet's addresses (src and dst are 0 then); proto ICMP stands for ICMPv6
  dst6?: Uint8Array;
}

// Is the packet's address in the match's network? An IPv6 prefix matches IPv6 packets only, an
// IPv4 prefix IPv4 packets only; "anywhere" (0/0) both families.
function addrIn(m: AddrMatch, addr: number, addr6: Uint8Array | undefined): boolean {
  if (m.prefix6) return addr6 !== undefined && inPrefix6(addr6, m.prefix6) !== m.negate;
  if (addr6 !== undefined) return m.prefix.bits === 0 && !m.negate;
  return inPrefix(addr, m.prefix) !== m.negate;
}

function addrMatches(m: AddrMatch | undefined, addr: number | Uint8Array, port: number, k: PacketKey): boolean {
  if (!m) return true;
  if (typeof addr === "number" ? !addrIn(m, addr, undefined) : !addrIn(m, 0, addr)) return false;
  if (m.portMin === 0 && m.portMax === 65535) return true;
  if (k.fragment) return false; // no ports in a later fragment
  // ipchains: for ICMP the "port" of -s is the ICMP type (the -d code is not matched here)
  const value = k.proto === L.PROTO_ICMP ? k.icmpType : port;
  if (k.proto !== L.PROTO_TCP && k.proto !== L.PROTO_UDP && k.proto !== L.PROTO_ICMP) return false;
  return (value >= m.portMin && value <= m.portMax) !== m.portNegate;
}

export function ruleMatches(r: Rule, k: PacketKey): boolean {
  if (r.proto !== PROTO_ALL && (r.proto === k.proto) === r.protoNegate) return false;
  if (!addrMatches(r.src, k.src6 ?? k.src, k.sport, k)) return false;
  if (r.dst && k.proto === L.PROTO_ICMP) {
    if (!addrIn(r.dst, k.dst, k.dst6)) return false;
  } else if (!addrMatches(r.dst, k.dst6 ?? k.dst, k.dport, k)) return false;
  if (r.iface) {
    const hit = r.iface.wildcard ? k.iface.startsWith(r.iface.name) : k.iface === r.iface.name;
    if (hit === r.iface.negate) return false;
  }
  if (r.syn !== undefined && (k.proto !== L.PROTO_TCP || r.syn !== k.syn)) return false;
  if (r.fragment !== undefined && r.fragment !== k.fragment) return false;
  return true;
}

export interface Decision {
  verdict: Verdict;
  byPolicy: boolean; // no rule decided: the chain's policy did
  redirectPort: number;
  counter: number;
  log: boolean;
  rule: string;
}

// Walks a built-in chain the way ipchains does. `count` is told which counter decided.
export function evaluate(p: Policy, chain: (typeof BUILTIN_CHAINS)[number], k: PacketKey): Decision {
  const stack: Array<{ chain: Chain; next: number }> = [{ chain: p.chains[chain], next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const rules = frame.chain.rules;
    let jumped = false;
    while (frame.next < rules.length) {
      const r = rules[frame.next++];
      if (!ruleMatches(r, k)) continue;
      if (r.target === "") continue; // counting rule
      if (r.target === "RETURN") {
        frame.next = rules.length;
        break;
      }
      const user = p.chains[r.target];
      if (user && !user.policy) {
        if (stack.length > 32) break; // loops are refused when made; this is a last guard
        stack.push({ chain: user, next: 0 });
        jumped = true;
        break;
      }
      return {
        verdict: r.target as Verdict,
        byPolicy: false,
        redirectPort: r.redirectPort,
        counter: r.counter,
        log: r.log,
        rule: `${frame.chain.name} ${r.text}`,
      };
    }
    if (jumped) continue;
    stack.pop();
    if (stack.length === 0) {
      const c = p.chains[chain];
      return {
        verdict: c.policy ?? "ACCEPT",
        byPolicy: true,
        redirectPort: 0,
        counter: c.policyCounter,
        log: false,
        rule: `${chain} policy`,
      };
    }
  }
  const c = p.chains[chain];
  return {
    verdict: c.policy ?? "ACCEPT",
    byPolicy: true,
    redirectPort: 0,
    counter: c.policyCounter,
    log: false,
    rule: `${chain} policy`,
  };
}

// The networks that some forward rule masquerades: how the LAN interface is found.
export function masqSources(p: Policy): Prefix[] {
  const out: Prefix[] = [];
  for (const c of Object.values(p.chains)) {
    for (const r of c.rules)
      if (r.target === "MASQ" && r.src && !r.src.negate && !r.src.prefix6) out.push(r.src.prefix);
  }
  return out;
}

// The IPv6 networks masqueraded by NAT66: MASQ rules with an IPv6 source.
export function masqSources6(p: Policy): Prefix6[] {
  const out: Prefix6[] = [];
  for (const c of Object.values(p.chains)) {
    for (const r of c.rules) if (r.target === "MASQ" && r.src?.prefix6 && !r.src.negate) out.push(r.src.prefix6);
  }
  return out;
}

export function findPortForward(p: Policy, proto: number, addr: number, port: number): PortForward | undefined {
  let best: PortForward | undefined;
  for (const f of p.portfw) {
    if (f.proto === proto && f.publicPort === port && (f.publicAddr === addr || f.publicAddr === 0)) {
      if (!best || f.pref < best.pref) best = f;
    }
  }
  return best;
}
