// Writes a policy back as the command lines that make it (`ipmasq save`).
import { protoName } from "../net/protocols";
import type { Policy } from "./rules";
import { formatAddr, formatPrefix } from "../net/addr";

export function policyLines(p: Policy): string[] {
  const lines = ["# written by ipmasq save"];
  for (const c of Object.values(p.chains)) if (!c.policy) lines.push(`ipchains -N ${c.name}`);
  for (const c of Object.values(p.chains)) if (c.policy) lines.push(`ipchains -P ${c.name} ${c.policy}`);
  for (const c of Object.values(p.chains)) for (const r of c.rules) lines.push(`ipchains -A ${c.name} ${r.text}`);
  if (p.masqTimeouts) lines.push(`ipchains -M -S ${p.masqTimeouts.tcp} ${p.masqTimeouts.tcpFin} ${p.masqTimeouts.udp}`);
  for (const f of p.portfw) {
    lines.push(
      `ipmasqadm portfw -a -P ${protoName(f.proto)} -L ${formatAddr(f.publicAddr)} ${f.publicPort} -R ${formatAddr(f.addr)} ${f.port} -p ${f.pref}`,
    );
  }
  for (const r of p.upnp ?? []) {
    lines.push(
      `upnp ${r.allow ? "allow" : "deny"} ${r.ext[0]}-${r.ext[1]} ${formatPrefix(r.client)} ${r.int[0]}-${r.int[1]}`,
    );
  }
  return lines;
}
