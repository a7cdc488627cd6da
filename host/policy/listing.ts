// `ipchains -L [-n] [-v]` and `ipmasqadm portfw -l` output, as the old tools printed them, and JSON.
import { protoName, PROTO_ALL } from "../net/protocols";
import type { Policy, Rule, AddrMatch } from "./rules";
import type { SharedPolicy } from "./shared-policy";
import { formatAddr, formatPrefix } from "../net/addr";
import { formatAddr6, formatPrefix6 } from "../net/addr6";

function addr(m: AddrMatch | undefined, numeric: boolean): string {
  if (m?.prefix6)
    return `${m.negate ? "!" : ""}${m.prefix6.bits === 128 ? formatAddr6(Uint8Array.from(m.prefix6.bytes)) : formatPrefix6(m.prefix6)}`;
  if (!m || m.prefix.bits === 0) return `${m?.negate ? "!" : ""}${numeric ? "0.0.0.0/0" : "anywhere"}`;
  return `${m.negate ? "!" : ""}${m.prefix.bits === 32 ? formatAddr(m.prefix.addr) : formatPrefix(m.prefix)}`;
}
function ports(m: AddrMatch | undefined): string {
  if (!m || (m.portMin === 0 && m.portMax === 65535)) return "any";
  return `${m.portNegate ? "!" : ""}${m.portMin === m.portMax ? m.portMin : `${m.portMin}:${m.portMax}`}`;
}
function opt(r: Rule): string {
  return [r.syn === true ? "y" : r.syn === false ? "!y" : "-", r.fragment ? "f" : "-", r.log ? "l" : "-"]
    .join("")
    .padEnd(6, "-");
}

export interface RuleJson {
  chain: string;
  num: number;
  target: string;
  proto: string;
  source: string;
  destination: string;
  ports: string;
  iface: string;
  packets: number;
  bytes: number;
  text: string;
}

export function rulesJson(
  p: Policy,
  s: SharedPolicy,
  chain?: string,
): Array<{ chain: string; policy?: string; packets: number; bytes: number; rules: RuleJson[] }> {
  return Object.values(p.chains)
    .filter((c) => !chain || c.name === chain)
    .map((c) => ({
      chain: c.name,
      policy: c.policy,
      packets: s.packets(c.policyCounter),
      bytes: s.bytes(c.policyCounter),
      rules: c.rules.map((r, i) => ({
        chain: c.name,
        num: i + 1,
        target: r.target || "-",
        proto: `${r.protoNegate ? "!" : ""}${protoName(r.proto)}`,
        source: addr(r.src, true),
        destination: addr(r.dst, true),
        ports:
          r.proto === PROTO_ALL
            ? "n/a"
            : `${ports(r.src)} -> ${ports(r.dst)}${r.target === "REDIRECT" && r.redirectPort ? ` => ${r.redirectPort}` : ""}`,
        iface: r.iface ? `${r.iface.negate ? "!" : ""}${r.iface.name}${r.iface.wildcard ? "+" : ""}` : "-",
        packets: s.packets(r.counter),
        bytes: s.bytes(r.counter),
        text: r.text,
      })),
    }));
}

export function formatRules(
  p: Policy,
  s: SharedPolicy,
  o: { chain?: string; numeric: boolean; verbose: boolean },
): string {
  const out: string[] = [];
  for (const c of rulesJson(p, s, o.chain)) {
    const head = c.policy
      ? `Chain ${c.chain} (policy ${c.policy}${o.verbose ? `: ${c.packets} packets, ${c.bytes} bytes` : ""}):`
      : `Chain ${c.chain} (refcnt 1):`;
    out.push(head);
    out.push(
      `${o.verbose ? " pkts bytes " : ""}target     prot opt     ${o.verbose ? "ifname     " : ""}source                destination           ports`,
    );
    for (const r of c.rules) {
      const rule = p.chains[c.chain].rules[r.num - 1];
      const cols = [
        r.target.padEnd(10),
        r.proto.padEnd(4),
        opt(rule),
        ...(o.verbose ? [r.iface.padEnd(10)] : []),
        (o.numeric ? r.source : r.source.replace("0.0.0.0/0", "anywhere")).padEnd(21),
        (o.numeric ? r.destination : r.destination.replace("0.0.0.0/0", "anywhere")).padEnd(21),
        r.ports,
      ];
      out.push(
        `${o.verbose ? `${String(r.packets).padStart(5)} ${String(r.bytes).padStart(5)} ` : ""}${cols.join(" ")}`,
      );
    }
  }
  return `${out.join("\n")}\n`;
}

// A mapping a LAN application asked for (NAT-PMP, PCP, UPnP): listed beside the port forwards.
export interface DynamicForward {
  proto: number;
  publicAddr: number;
  port: number;
  lanAddr: number;
  lanPort: number;
  expiresIn: number;
  by: string;
}

export interface PortfwRow {
  prot: string;
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  pref: number;
  dynamic?: string;
  expiresIn?: number;
}

export function portfwJson(p: Policy, dynamic: DynamicForward[] = []): PortfwRow[] {
  return [
    ...p.portfw.map((f) => ({
      prot: protoName(f.proto),
      localAddr: formatAddr(f.publicAddr),
      localPort: f.publicPort,
      remoteAddr: formatAddr(f.addr),
      remotePort: f.port,
      pref: f.pref,
    })),
    ...dynamic.map((d) => ({
      prot: protoName(d.proto),
      localAddr: formatAddr(d.publicAddr),
      localPort: d.port,
      remoteAddr: formatAddr(d.lanAddr),
      remotePort: d.lanPort,
      pref: 0,
      dynamic: d.by || "dynamic",
      expiresIn: d.expiresIn,
    })),
  ];
}

// ipmasqadm's columns; a dynamic mapping says who made it and when it expires at the end.
export function formatPortfw(p: Policy, dynamic: DynamicForward[] = []): string {
  const rows = portfwJson(p, dynamic);
  return `${[
    "prot localaddr            rediraddr               lport    rport  pcnt  pref",
    ...rows.map(
      (r) =>
        `${r.prot.toUpperCase().padEnd(4)} ${r.localAddr.padEnd(20)} ${r.remoteAddr.padEnd(23)} ${String(r.localPort).padStart(5)} ${String(r.remotePort).padStart(8)} ${"0".padStart(5)} ${String(r.pref).padStart(5)}${r.dynamic ? `  dynamic (${r.dynamic}, ${r.expiresIn}s)` : ""}`,
    ),
  ].join("\n")}\n`;
}
