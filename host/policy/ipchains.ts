// ipchains and ipmasqadm command lines (the seed's rc.ipmasq), parsed and applied to a Policy.
// The same code reads the config file and the live `ipmasq ipchains ...` commands. A bad line
// raises ConfigError with file:line:column and a reason; callers apply a whole file to a copy, so
// nothing is applied unless every line is right.
import { parsePrefix, parseAddr, type Prefix } from "../net/addr";
import { parsePrefix6, type Prefix6 } from "../net/addr6";
import {
  type Policy,
  type Rule,
  type AddrMatch,
  type Verdict,
  BUILTIN_CHAINS,
  POLICY_TARGETS,
  SPECIAL_TARGETS,
  type PortForward,
} from "./rules";
import { MAX_COUNTERS } from "./limits";
import { protoNumber } from "../net/protocols";

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}:${column}: ${reason}`);
  }
}

// A word of a line, with the column it starts at; `quote` says how it was quoted in the file
// (a shell variable is expanded in "…" and bare words, not in '…').
export interface Token {
  text: string;
  column: number;
  quote?: "double" | "single";
}

export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) {
    if (m[3]?.startsWith("#")) break;
    out.push({
      text: m[1] ?? m[2] ?? m[3],
      column: m.index + 1,
      ...(m[1] !== undefined ? { quote: "double" as const } : m[2] !== undefined ? { quote: "single" as const } : {}),
    });
  }
  return out;
}

export const ICMP_TYPES: Record<string, number> = {
  "echo-reply": 0,
  pong: 0,
  "destination-unreachable": 3,
  "source-quench": 4,
  redirect: 5,
  "echo-request": 8,
  ping: 8,
  "router-advertisement": 9,
  "router-solicitation": 10,
  "time-exceeded": 11,
  "parameter-problem": 12,
  "timestamp-request": 13,
  "timestamp-reply": 14,
  "address-mask-request": 17,
  "address-mask-reply": 18,
};

// RFC minimums for the -M -S timeouts (RFC 5382 REQ-5, RFC 4787 REQ-5): lower values are raised.
export const MIN_TIMEOUTS = { tcp: 7440, tcpFin: 240, udp: 120 };

export interface CommandResult {
  list?: { chain?: string; masq: boolean };
  zero?: boolean;
  warnings: string[];
}

class Cursor {
  i = 0;
  constructor(
    readonly toks: Token[],
    readonly file: string,
    readonly line: number,
    readonly eol: number,
  ) {}
  peek(k = 0): Token | undefined {
    return this.toks[this.i + k];
  }
  next(): Token | undefined {
    return this.toks[this.i++];
  }
  fail(t: Token | undefined, reason: string): never {
    throw new ConfigError(this.file, this.line, t ? t.column : this.eol, reason);
  }
  need(what: string): Token {
    const t = this.next();
    if (!t) this.fail(undefined, `${what} expected`);
    return t;
  }
  done(): void {
    const t = this.peek();
    if (t) this.fail(t, `unexpected "${t.text}"`);
  }
}

function parsePortSpec(c: Cursor, icmp: boolean): { min: number; max: number; negate: boolean } | undefined {
  let negate = false;
  let t = c.peek();
  if (t?.text === "!" && c.peek(1) && /^[\d:]|^[a-z]/.test(c.peek(1)!.text) && !c.peek(1)!.text.startsWith("-")) {
    negate = true;
    t = c.peek(1);
  }
  if (!t) return undefined;
  if (icmp && ICMP_TYPES[t.text] !== undefined) {
    if (negate) c.next();
    c.next();
    return { min: ICMP_TYPES[t.text], max: ICMP_TYPES[t.text], negate };
  }
  if (!/^\d+(:\d*)?$|^:\d+$/.test(t.text)) return undefined;
  if (negate) c.next();
  c.next();
  const [a, b] = t.text.split(":");
  const min = a === "" ? 0 : Number(a);
  const max = b === undefined ? min : b === "" ? 65535 : Number(b);
  if (min > 65535 || max > 65535 || min > max) c.fail(t, `bad port range ${t.text}`);
  return { min, max, negate };
}

function parseAddrMatch(c: Cursor, negate: boolean, icmp: boolean): AddrMatch {
  let t = c.need("address");
  if (t.text === "!") {
    negate = !negate;
    t = c.need("address");
  }
  let prefix: Prefix = { addr: 0, bits: 0 };
  let prefix6: Prefix6 | undefined; // an IPv6 address or prefix: the rule is for IPv6 packets only
  try {
    if (t.text.includes(":")) prefix6 = parsePrefix6(t.text);
    else if (t.text !== "0/0" && t.text !== "any") prefix = parsePrefix(t.text);
  } catch (e) {
    c.fail(t, (e as Error).message);
  }
  const ports = parsePortSpec(c, icmp);
  return {
    prefix,
    ...(prefix6 ? { prefix6 } : {}),
    negate,
    portMin: ports?.min ?? 0,
    portMax: ports?.max ?? 65535,
    portNegate: ports?.negate ?? false,
  };
}

// A rule specification: everything after "-A chain".
function parseRuleSpec(c: Cursor, p: Policy, chain: string): Rule {
  const start = c.peek();
  const rule: Rule = { proto: 0, protoNegate: false, log: false, target: "", redirectPort: 0, counter: -1, text: "" };
  let negate = false;
  while (c.peek()) {
    const t = c.next()!;
    if (t.text === "!") {
      negate = true;
      continue;
    }
    switch (t.text) {
      case "-p":
      case "--protocol": {
        let a = c.need("protocol");
        if (a.text === "!") {
          negate = !negate;
          a = c.need("protocol");
        }
        const proto =
          protoNumber(a.text) ?? (/^\d+$/.test(a.text) && Number(a.text) < 256 ? Number(a.text) : undefined);
        if (proto === undefined) c.fail(a, `unknown protocol "${a.text}" (tcp, udp, icmp, all or a number)`);
        rule.proto = proto;
        rule.protoNegate = negate;
        break;
      }
      case "-s":
      case "--source":
        rule.src = parseAddrMatch(c, negate, true);
        break;
      case "-d":
      case "--destination":
        rule.dst = parseAddrMatch(c, negate, false);
        break;
      case "--icmp-type": {
        const a = c.need("ICMP type");
        const type = ICMP_TYPES[a.text] ?? (/^\d+$/.test(a.text) ? Number(a.text) : undefined);
        if (type === undefined || type > 255) c.fail(a, `unknown ICMP type "${a.text}"`);
        rule.src ??= { prefix: { addr: 0, bits: 0 }, negate: false, portMin: 0, portMax: 65535, portNegate: false };
        rule.src.portMin = type;
        rule.src.portMax = type;
        rule.src.portNegate = negate;
        break;
      }
      case "--sport":
      case "--source-port":
      case "--dport":
      case "--destination-port": {
        const ports = parsePortSpec(c, rule.proto === 1);
        if (!ports) c.fail(c.peek(), `${t.text} needs a port or range`);
        const key = t.text.startsWith("--s") ? "src" : "dst";
        rule[key] ??= { prefix: { addr: 0, bits: 0 }, negate: false, portMin: 0, portMax: 65535, portNegate: false };
        rule[key]!.portMin = ports.min;
        rule[key]!.portMax = ports.max;
        rule[key]!.portNegate = ports.negate !== negate;
        break;
      }
      case "-i":
      case "--interface": {
        let a = c.need("interface name");
        if (a.text === "!") {
          negate = !negate;
          a = c.need("interface name");
        } // ipchains(8): -i [!] name
        rule.iface = { name: a.text.replace(/\+$/, ""), wildcard: a.text.endsWith("+"), negate };
        break;
      }
      case "-j":
      case "--jump": {
        const a = c.need("target");
        const special = (SPECIAL_TARGETS as readonly string[]).includes(a.text);
        if (!special && !(a.text in p.chains))
          c.fail(
            a,
            `unknown target "${a.text}" (ACCEPT, DENY, REJECT, MASQ, REDIRECT, RETURN or a user chain made with -N)`,
          );
        if (!special && p.chains[a.text].policy) c.fail(a, `cannot jump to the built-in chain ${a.text}`);
        if (!special && reaches(p, a.text, chain)) c.fail(a, `jumping to ${a.text} would make a loop back to ${chain}`);
        rule.target = a.text;
        if (a.text === "REDIRECT" && c.peek() && /^\d+$/.test(c.peek()!.text)) {
          const port = c.next()!;
          if (Number(port.text) < 1 || Number(port.text) > 65535) c.fail(port, `bad port ${port.text}`);
          rule.redirectPort = Number(port.text);
        }
        if (a.text === "MASQ" && chain !== "forward" && p.chains[chain].policy)
          c.fail(a, "MASQ is only valid in the forward chain (or a chain it jumps to)");
        if (a.text === "REDIRECT" && chain !== "input" && p.chains[chain].policy)
          c.fail(a, "REDIRECT is only valid in the input chain (or a chain it jumps to)");
        break;
      }
      case "-y":
      case "--syn":
        rule.syn = !negate;
        break;
      case "-f":
      case "--fragment":
        rule.fragment = !negate;
        break;
      case "-l":
      case "--log":
        rule.log = true;
        break;
      case "-b":
      case "--bidirectional":
        c.fail(t, "-b (bidirectional rules) is not supported: write the two rules");
        break;
      default:
        c.fail(t, `unknown option "${t.text}"`);
    }
    negate = false;
  }
  if (negate) c.fail(undefined, '"!" must come before an option');
  if (rule.syn !== undefined && rule.proto !== 6) c.fail(start, "-y needs -p tcp");
  for (const m of [rule.src, rule.dst]) {
    if (m && (m.portMin !== 0 || m.portMax !== 65535) && ![1, 6, 17].includes(rule.proto))
      c.fail(start, "ports and ICMP types need -p tcp, udp or icmp");
  }
  rule.text = start
    ? c.toks
        .slice(c.toks.indexOf(start))
        .map((x) => x.text)
        .join(" ")
    : "";
  return rule;
}

// Does chain `from` (a user chain) lead, through jumps, to `to`?
function reaches(p: Policy, from: string, to: string, seen = new Set<string>()): boolean {
  if (from === to) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  return (p.chains[from]?.rules ?? []).some((r) => r.target in p.chains && reaches(p, r.target, to, seen));
}

function chainArg(c: Cursor, p: Policy, required: boolean): string | undefined {
  const t = c.peek();
  if (!t || t.text.startsWith("-")) {
    if (required) c.fail(t, "chain name expected");
    return undefined;
  }
  c.next();
  if (!(t.text in p.chains))
    c.fail(t, `no chain named "${t.text}" (built-in: input, forward, output; make others with -N)`);
  return t.text;
}

function ruleNumber(c: Cursor, chain: string, p: Policy, allowEnd: boolean): number {
  const t = c.need("rule number");
  const n = Number(t.text);
  const max = p.chains[chain].rules.length + (allowEnd ? 1 : 0);
  if (!/^\d+$/.test(t.text) || n < 1 || n > max) c.fail(t, `rule number must be 1..${max} in chain ${chain}`);
  return n - 1;
}

// Each rule gets a free slot of the shared counters (see shared-policy.ts).

function addCounter(p: Policy, r: Rule, c: Cursor): Rule {
  const used = new Set<number>();
  for (const ch of Object.values(p.chains)) {
    used.add(ch.policyCounter);
    for (const x of ch.rules) used.add(x.counter);
  }
  let slot = 0;
  while (used.has(slot)) slot++;
  if (slot >= MAX_COUNTERS)
    c.fail(c.toks[0], `more than ${MAX_COUNTERS} rules (and chain policies): this one is refused`);
  r.counter = slot;
  return r;
}

export function runIpchains(p: Policy, toks: Token[], file: string, line: number, eol: number): CommandResult {
  const c = new Cursor(toks, file, line, eol);
  const res: CommandResult = { warnings: [] };
  const cmd = c.need("ipchains command");
  switch (cmd.text) {
    case "-A":
    case "--append": {
      const chain = chainArg(c, p, true)!;
      p.chains[chain].rules.push(addCounter(p, parseRuleSpec(c, p, chain), c));
      break;
    }
    case "-I":
    case "--insert": {
      const chain = chainArg(c, p, true)!;
      const at = c.peek() && /^\d+$/.test(c.peek()!.text) ? ruleNumber(c, chain, p, true) : 0;
      p.chains[chain].rules.splice(at, 0, addCounter(p, parseRuleSpec(c, p, chain), c));
      break;
    }
    case "-R":
    case "--replace": {
      const chain = chainArg(c, p, true)!;
      const at = ruleNumber(c, chain, p, false);
      const r = parseRuleSpec(c, p, chain);
      r.counter = p.chains[chain].rules[at].counter;
      p.chains[chain].rules[at] = r;
      break;
    }
    case "-D":
    case "--delete": {
      const chain = chainArg(c, p, true)!;
      const rules = p.chains[chain].rules;
      if (c.peek() && /^\d+$/.test(c.peek()!.text)) {
        rules.splice(ruleNumber(c, chain, p, false), 1);
        c.done();
        break;
      }
      const spec = c.peek();
      const r = parseRuleSpec(c, p, chain);
      const at = rules.findIndex((x) => x.text === r.text);
      if (at < 0) c.fail(spec, `no rule "${r.text}" in chain ${chain}`);
      rules.splice(at, 1);
      break;
    }
    case "-F":
    case "--flush": {
      const chain = chainArg(c, p, false);
      c.done();
      for (const ch of chain ? [p.chains[chain]] : Object.values(p.chains)) ch.rules = [];
      break;
    }
    case "-N":
    case "--new-chain": {
      const t = c.need("chain name");
      if (t.text in p.chains) c.fail(t, `chain ${t.text} exists`);
      if (!/^[A-Za-z0-9_.-]{1,8}$/.test(t.text) || (SPECIAL_TARGETS as readonly string[]).includes(t.text))
        c.fail(t, "a chain name is 1-8 letters, digits, _ . - and not a target name");
      c.done();
      p.chains[t.text] = { name: t.text, rules: [], policyCounter: -1 };
      break;
    }
    case "-X":
    case "--delete-chain": {
      const chain = chainArg(c, p, false);
      c.done();
      const victims = chain ? [chain] : Object.keys(p.chains).filter((n) => !p.chains[n].policy);
      for (const v of victims) {
        if (p.chains[v].policy) c.fail(toks[1], `cannot delete the built-in chain ${v}`);
        if (p.chains[v].rules.length) c.fail(toks[1], `chain ${v} is not empty (flush it with -F first)`);
        const user = Object.values(p.chains).find((ch) => ch.rules.some((r) => r.target === v));
        if (user) c.fail(toks[1], `chain ${v} is used by a rule in ${user.name}`);
        delete p.chains[v];
      }
      break;
    }
    case "-Z":
    case "--zero": {
      chainArg(c, p, false);
      c.done();
      res.zero = true;
      break;
    }
    case "-P":
    case "--policy": {
      const t = c.need("chain name");
      if (!(BUILTIN_CHAINS as readonly string[]).includes(t.text))
        c.fail(t, "-P needs a built-in chain: input, forward or output");
      const target = c.need("policy");
      if (!(POLICY_TARGETS as readonly string[]).includes(target.text))
        c.fail(target, "a policy is ACCEPT, DENY or REJECT");
      c.done();
      p.chains[t.text].policy = target.text as Verdict;
      break;
    }
    case "-M":
    case "--masquerading": {
      const sub = c.need("-S or -L");
      if (sub.text === "-L" || sub.text === "--list") {
        res.list = { masq: true };
        while (c.peek() && ["-n", "-v", "--numeric", "--verbose"].includes(c.peek()!.text)) c.next();
        c.done();
        break;
      }
      if (sub.text !== "-S" && sub.text !== "--set") c.fail(sub, "-M takes -S tcp tcpfin udp, or -L");
      const vals = [c.need("tcp timeout"), c.need("tcpfin timeout"), c.need("udp timeout")];
      for (const v of vals)
        if (!/^\d+$/.test(v.text)) c.fail(v, "timeouts are whole seconds (0 keeps the current value)");
      c.done();
      const [tcp, tcpFin, udp] = vals.map((v) => Number(v.text));
      const raised = (name: string, v: number, min: number): number => {
        if (v !== 0 && v < min)
          res.warnings.push(`${file}:${line}: ${name} timeout ${v}s is below the RFC minimum; using ${min}s`);
        return v === 0 ? 0 : Math.max(v, min);
      };
      p.masqTimeouts = {
        tcp: raised("tcp", tcp, MIN_TIMEOUTS.tcp),
        tcpFin: raised("tcpfin", tcpFin, MIN_TIMEOUTS.tcpFin),
        udp: raised("udp", udp, MIN_TIMEOUTS.udp),
      };
      break;
    }
    case "-L":
    case "--list": {
      const chain = chainArg(c, p, false);
      while (c.peek() && ["-n", "-v", "-x", "--numeric", "--verbose", "--exact"].includes(c.peek()!.text)) c.next();
      c.done();
      res.list = { chain, masq: false };
      break;
    }
    default:
      c.fail(cmd, `unknown or unsupported command "${cmd.text}" (-A -I -D -R -F -N -X -Z -P -M -L)`);
  }
  return res;
}

// ipmasqadm portfw -a -P tcp|udp -L addr port -R addr port [-p pref] | -d -P proto -L addr port | -f | -l
export function runPortfw(p: Policy, toks: Token[], file: string, line: number, eol: number): CommandResult {
  const c = new Cursor(toks, file, line, eol);
  const res: CommandResult = { warnings: [] };
  const op = c.need("-a, -d, -f or -l");
  if (op.text === "-f") {
    c.done();
    p.portfw = [];
    return res;
  }
  if (op.text === "-l") {
    while (c.peek()?.text === "-n") c.next();
    c.done();
    res.list = { chain: "portfw", masq: false };
    return res;
  }
  if (op.text !== "-a" && op.text !== "-d") c.fail(op, "portfw takes -a, -d, -f or -l");
  const f: Partial<PortForward> = { pref: 10 };
  while (c.peek()) {
    const t = c.next()!;
    const addrPort = (): [number, number] => {
      const a = c.need("address"),
        port = c.need("port");
      let addr = 0;
      try {
        addr = parseAddr(a.text);
      } catch (e) {
        c.fail(a, (e as Error).message);
      }
      if (!/^\d+$/.test(port.text) || Number(port.text) < 1 || Number(port.text) > 65535)
        c.fail(port, `bad port "${port.text}"`);
      return [addr, Number(port.text)];
    };
    switch (t.text) {
      case "-P": {
        const a = c.need("protocol");
        if (a.text !== "tcp" && a.text !== "udp") c.fail(a, "portfw protocol is tcp or udp");
        f.proto = protoNumber(a.text)!;
        break;
      }
      case "-L":
        [f.publicAddr, f.publicPort] = addrPort();
        break;
      case "-R":
        [f.addr, f.port] = addrPort();
        break;
      case "-p": {
        const a = c.need("preference");
        if (!/^\d+$/.test(a.text)) c.fail(a, "preference is a number");
        f.pref = Number(a.text);
        break;
      }
      default:
        c.fail(t, `unknown portfw option "${t.text}"`);
    }
  }
  if (f.proto === undefined) c.fail(undefined, "portfw needs -P tcp|udp");
  if (f.publicPort === undefined) c.fail(undefined, "portfw needs -L addr port");
  if (op.text === "-a") {
    if (f.port === undefined) c.fail(undefined, "portfw -a needs -R addr port");
    if (
      p.portfw.some(
        (x) =>
          x.proto === f.proto &&
          x.publicAddr === f.publicAddr &&
          x.publicPort === f.publicPort &&
          x.addr === f.addr &&
          x.port === f.port,
      )
    )
      c.fail(op, "this port forward exists");
    p.portfw.push(f as PortForward);
  } else {
    const before = p.portfw.length;
    p.portfw = p.portfw.filter(
      (x) =>
        !(
          x.proto === f.proto &&
          x.publicAddr === f.publicAddr &&
          x.publicPort === f.publicPort &&
          (f.addr === undefined || (x.addr === f.addr && x.port === f.port))
        ),
    );
    if (p.portfw.length === before) c.fail(op, "no such port forward");
  }
  return res;
}
