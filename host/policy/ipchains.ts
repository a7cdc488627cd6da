// Parser for ipchains command lines (the seed's rc.ipmasq): `[/sbin/]ipchains -P forward DENY`,
// `ipchains -A forward -s 192.168.0.0/24 -j MASQ`, ... A bad line refuses the whole file with
// file:line:column and a reason. Options are a table: adding one is adding a row.
import { parsePrefix } from "../net/addr";
import { Policy, Rule, Target, POLICY_TARGETS } from "./rules";

export class ConfigError extends Error {
  constructor(readonly file: string, readonly line: number, readonly column: number, readonly reason: string) {
    super(`${file}:${line}:${column}: ${reason}`);
  }
}

interface Token { text: string; column: number }

function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) {
    if (m[0].startsWith("#")) break;
    out.push({ text: m[0], column: m.index + 1 });
  }
  return out;
}

const PROTOCOLS: Record<string, number> = { all: 0, tcp: 6, udp: 17, icmp: 1 };
const TARGETS: Target[] = ["ACCEPT", "DENY", "REJECT", "MASQ"];
const BUILTIN_CHAINS = ["input", "forward", "output"];

function fail(file: string, line: number, t: Token | undefined, reason: string, eol: number): never {
  throw new ConfigError(file, line, t ? t.column : eol, reason);
}

// "[!]addr[/mask] [[!]port[:port]]" — the port part is the next token if it is a port spec.
function parseAddrSpec(file: string, line: number, toks: Token[], i: number, negate: boolean, eol: number) {
  const t = toks[i];
  if (!t) fail(file, line, undefined, "address expected", eol);
  let prefix;
  try {
    prefix = t.text === "0/0" || t.text === "any" ? { addr: 0, bits: 0 } : parsePrefix(t.text);
  } catch (e) {
    fail(file, line, t, (e as Error).message, eol);
  }
  let portMin = 0, portMax = 65535, portNegate = false, used = 1;
  let p = toks[i + 1];
  if (p && p.text === "!" && toks[i + 2] && /^\d/.test(toks[i + 2].text)) { portNegate = true; p = toks[i + 2]; used++; }
  if (p && /^\d+(:\d*)?$|^:\d+$/.test(p.text)) {
    const [a, b] = p.text.split(":");
    portMin = a === "" ? 0 : Number(a);
    portMax = b === undefined ? portMin : b === "" ? 65535 : Number(b);
    if (portMin > 65535 || portMax > 65535 || portMin > portMax) fail(file, line, p, `bad port range ${p.text}`, eol);
    used++;
  }
  return { match: { prefix, negate, portMin, portMax, portNegate }, used };
}

export function parseIpchainsLine(file: string, lineNo: number, text: string, policy: Policy): void {
  const toks = tokenize(text);
  const eol = text.length + 1;
  if (toks.length === 0) return;
  let i = 0;
  if (/^(\/sbin\/|\/usr\/sbin\/)?ipchains$/.test(toks[0].text)) i++;
  const cmd = toks[i];
  if (!cmd) fail(file, lineNo, undefined, "ipchains command expected", eol);
  if (cmd.text === "-P") {
    const chain = toks[i + 1], target = toks[i + 2];
    if (!chain || !BUILTIN_CHAINS.includes(chain.text)) fail(file, lineNo, chain, "-P needs a built-in chain: input, forward or output", eol);
    if (!target || !POLICY_TARGETS.includes(target.text as Target)) fail(file, lineNo, target, "-P needs a policy: ACCEPT, DENY or REJECT", eol);
    if (toks[i + 3]) fail(file, lineNo, toks[i + 3], `unexpected "${toks[i + 3].text}"`, eol);
    if (chain.text === "forward") policy.forward = target.text as Target;
    return;
  }
  if (cmd.text !== "-A") fail(file, lineNo, cmd, `unknown or unsupported command "${cmd.text}" (expected -P or -A)`, eol);
  const chain = toks[i + 1];
  if (!chain || chain.text.startsWith("-")) fail(file, lineNo, chain, "-A needs a chain name", eol);
  const rule: Partial<Rule> = { chain: chain.text, proto: 0, where: `${file}:${lineNo}` };
  i += 2;
  let negate = false;
  while (i < toks.length) {
    const t = toks[i];
    if (t.text === "!") { negate = true; i++; continue; }
    const arg = toks[i + 1];
    switch (t.text) {
      case "-s": case "--source": case "-d": case "--destination": {
        const { match, used } = parseAddrSpec(file, lineNo, toks, i + 1, negate, eol);
        if (t.text === "-s" || t.text === "--source") rule.src = match; else rule.dst = match;
        i += 1 + used;
        break;
      }
      case "-p": case "--protocol": {
        if (!arg) fail(file, lineNo, undefined, "-p needs a protocol", eol);
        const p = PROTOCOLS[arg.text.toLowerCase()] ?? (/^\d+$/.test(arg.text) && Number(arg.text) < 256 ? Number(arg.text) : undefined);
        if (p === undefined) fail(file, lineNo, arg, `unknown protocol "${arg.text}" (tcp, udp, icmp, all or a number)`, eol);
        rule.proto = p;
        i += 2;
        break;
      }
      case "-i": case "--interface": {
        if (!arg) fail(file, lineNo, undefined, "-i needs an interface name", eol);
        rule.iface = { name: arg.text.replace(/\+$/, ""), wildcard: arg.text.endsWith("+"), negate };
        i += 2;
        break;
      }
      case "-j": case "--jump": {
        if (!arg) fail(file, lineNo, undefined, "-j needs a target", eol);
        if (!TARGETS.includes(arg.text as Target)) fail(file, lineNo, arg, `unknown target "${arg.text}" (ACCEPT, DENY, REJECT or MASQ)`, eol);
        rule.target = arg.text as Target;
        i += 2;
        break;
      }
      case "-y": case "--syn":
        rule.syn = !negate;
        i += 1;
        break;
      case "-l": case "--log":
        i += 1;
        break;
      default:
        fail(file, lineNo, t, `unknown option "${t.text}"`, eol);
    }
    negate = false;
  }
  if (!rule.target) fail(file, lineNo, undefined, "rule has no target (-j)", eol);
  if (rule.target === "MASQ" && rule.chain !== "forward") fail(file, lineNo, chain, "MASQ is only valid in the forward chain", eol);
  policy.rules.push(rule as Rule);
}

export function parseIpchains(file: string, text: string): Policy {
  const policy: Policy = { forward: "ACCEPT", rules: [] };
  text.split("\n").forEach((line, n) => parseIpchainsLine(file, n + 1, line, policy));
  return policy;
}
