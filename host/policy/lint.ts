// What `check` says about a rule file that parses but is probably not what was meant. Kept apart
// from the parser (which decides what is legal), as pf's parse.y keeps its meaning checks: rules
// that can never match, port forwards to no LAN, a masqueraded network no interface here holds.
import { type Policy, type Rule, type AddrMatch, masqSources } from "./rules";
import { PROTO_ALL } from "../net/protocols";
import { type Prefix, inPrefix, formatAddr, formatPrefix, maskOf } from "../net/addr";
import { type Iface, lanInterfaces } from "../kernel/interfaces";
import { type Prefix6, inPrefix6, parseAddr6, parsePrefix6 } from "../net/addr6";

const UNIQUE_LOCAL = parsePrefix6("fc00::/7");
const isUniqueLocal = (a: string): boolean => inPrefix6(parseAddr6(a), UNIQUE_LOCAL);

const TERMINAL = new Set(["ACCEPT", "DENY", "REJECT", "MASQ", "REDIRECT"]);

const contains = (outer: Prefix, inner: Prefix): boolean => outer.bits <= inner.bits && inPrefix(inner.addr, outer);
const contains6 = (outer: Prefix6, inner: Prefix6): boolean =>
  outer.bits <= inner.bits && inPrefix6(Uint8Array.from(inner.bytes), outer);

// Every packet `b` matches, `a` matches too (judged conservatively: only plain conditions).
function covers(a: AddrMatch | undefined, b: AddrMatch | undefined): boolean {
  if (!a) return true;
  if (a.negate || a.portNegate || a.portMin !== 0 || a.portMax !== 65535) return false;
  if (b === undefined || b.negate) return false;
  // an IPv6 prefix covers IPv6 prefixes only; an IPv4 one (0/0 aside) IPv4 ones only
  if (a.prefix6) return b.prefix6 !== undefined && contains6(a.prefix6, b.prefix6);
  if (b.prefix6) return a.prefix.bits === 0;
  return contains(a.prefix, b.prefix);
}

function shadows(a: Rule, b: Rule): boolean {
  if (!TERMINAL.has(a.target) || a.iface || a.syn !== undefined || a.fragment !== undefined) return false;
  const proto = (a.proto === PROTO_ALL && !a.protoNegate) || (a.proto === b.proto && a.protoNegate === b.protoNegate);
  return proto && covers(a.src, b.src) && covers(a.dst, b.dst);
}

// `interfaces`: this namespace's, when known (check may run elsewhere than the gateway); `ipv6`:
// whether the kernel here has IPv6 on.
export function lintPolicy(p: Policy, interfaces?: Iface[], ipv6 = false): string[] {
  const out: string[] = [];
  for (const chain of Object.values(p.chains)) {
    chain.rules.forEach((b, i) => {
      const j = chain.rules.slice(0, i).findIndex((a) => shadows(a, b));
      if (j >= 0)
        out.push(
          `chain ${chain.name}, rule ${i + 1} ("${b.text}") can never match: rule ${j + 1} ("${chain.rules[j].text}") decides every packet it would`,
        );
    });
  }
  const nets = masqSources(p);
  const masq = Object.values(p.chains).some((c) => c.rules.some((r) => r.target === "MASQ"));
  if (masq && nets.length === 0)
    out.push("no MASQ rule names its network with -s: `run` cannot tell the LAN interface without --lan IF");
  for (const f of p.portfw) {
    if (nets.length > 0 && !nets.some((n) => inPrefix(f.addr, n)))
      out.push(
        `the port forward to ${formatAddr(f.addr)}:${f.port} leads outside every masqueraded network (${nets.map(formatPrefix).join(", ")})`,
      );
  }
  if (interfaces && nets.length > 0) {
    const held = nets.filter((n) =>
      interfaces.some((i) =>
        i.addrs.some(
          (a) => inPrefix(a.addr, n) || contains({ addr: (a.addr & maskOf(a.bits)) >>> 0, bits: a.bits }, n),
        ),
      ),
    );
    if (held.length === 0)
      out.push(
        `no interface here has an address in ${nets.map(formatPrefix).join(", ")}: \`run\` on this machine would not find the LAN (pass --lan IF, or check on the gateway)`,
      );
    if (ipv6)
      for (const i of lanInterfaces(interfaces, nets, undefined))
        if (!i.addrs6.some((a) => !isUniqueLocal(a.addr)))
          out.push(
            `the LAN interface ${i.name} has no global IPv6 prefix: its hosts get no IPv6 path out (docs/ipv6.md: a prefix delegated by the ISP)`,
          );
  }
  return out;
}
