// The `ip rule`s that follow the network and the policy (prefs 10-16 and 200 of wiring.ts): which
// packets each ingress interface sends into its own TUN device. Computed from scratch each time
// something changes; Wiring.syncRules adds and removes only the difference.
import type { Policy } from "../policy/rules";
import { formatAddr } from "../net/addr";
import { protoName, PROTO_ALL } from "../net/protocols";
import * as L from "../../assembly/layout";
import { type IngressDevice, PREF_WAN_FIRST, PREF_PORTFW, PREF_REDIRECT, PREF_ALL } from "./wiring";

export interface RuleInputs {
  base: { tun: string; table: number };
  devices: IngressDevice[];
  wan?: string; // the WAN interface, while it has an address
  publicAddr: number; // the WAN's address, or its last one while waiting (0 before the first)
  natRanges: string[]; // "MIN-MAX" of the NAT ports
  policy: Policy;
  mappedPorts?: Array<{ proto: number; port: number }>; // UPnP mappings outside the NAT ranges
  ipv6?: boolean; // the namespace has IPv6: its rules too
  masqAddr6?: string; // NAT66's address (the WAN's), or its last one while the WAN has none
  wanOnLink6?: string[]; // the WAN's on-link IPv6 prefixes (its addresses' prefixes shorter than /128)
}

export function dynamicRules(x: RuleInputs): string[][] {
  const rules: string[][] = [];
  const tableOf = (d: IngressDevice): string => String(d.table);
  const wanDev = x.devices.find((d) => d.iface === x.wan);
  if (wanDev && x.publicAddr) {
    const pub = formatAddr(x.publicAddr);
    let pref = PREF_WAN_FIRST;
    for (const range of x.natRanges) {
      for (const proto of ["tcp", "udp"]) {
        rules.push([
          "pref",
          String(pref),
          "iif",
          wanDev.iface,
          "ipproto",
          proto,
          "dport",
          range,
          "lookup",
          tableOf(wanDev),
        ]);
        // from inside only hairpinned flows' replies use the public address and NAT ports
        for (const d of x.devices) {
          if (d !== wanDev)
            rules.push([
              "pref",
              String(pref),
              "iif",
              d.iface,
              "to",
              pub,
              "ipproto",
              proto,
              "dport",
              range,
              "lookup",
              tableOf(d),
            ]);
        }
        pref++;
      }
    }
    rules.push(["pref", String(pref), "iif", wanDev.iface, "ipproto", "icmp", "lookup", tableOf(wanDev)]);
    // UDP fragments carry no ports, so no dport rule matches them: all UDP to the public
    // address comes through ipmasq, which reassembles, and hands the gateway's own back
    rules.push(["pref", String(pref), "iif", wanDev.iface, "to", pub, "ipproto", "udp", "lookup", tableOf(wanDev)]);
  }
  // port-forwarded ports, and ports mapped outside the NAT ranges, are steered into the TUN from
  // every interface (hairpin included)
  for (const f of [...x.policy.portfw.map((p) => ({ proto: p.proto, port: p.publicPort })), ...(x.mappedPorts ?? [])]) {
    for (const d of x.devices)
      rules.push([
        "pref",
        String(PREF_PORTFW),
        "iif",
        d.iface,
        "ipproto",
        protoName(f.proto),
        "dport",
        String(f.port),
        "lookup",
        tableOf(d),
      ]);
  }
  // a redirect target's replies, sent by the gateway itself, go to the base device
  for (const c of Object.values(x.policy.chains)) {
    for (const r of c.rules) {
      if (r.target !== "REDIRECT") continue;
      const port = r.redirectPort || (r.dst && r.dst.portMin === r.dst.portMax ? r.dst.portMin : 0);
      if (!port) continue;
      for (const proto of r.proto === PROTO_ALL
        ? [protoName(L.PROTO_TCP), protoName(L.PROTO_UDP)]
        : r.proto === L.PROTO_TCP || r.proto === L.PROTO_UDP
          ? [protoName(r.proto)]
          : []) {
        rules.push([
          "pref",
          String(PREF_REDIRECT),
          "iif",
          "lo",
          "ipproto",
          proto,
          "sport",
          String(port),
          "lookup",
          String(x.base.table),
        ]);
      }
    }
  }
  // NAT66: what comes back to the WAN's IPv6 address at a NAT port, and its ICMPv6 (echo replies,
  // errors: those not about a masqueraded flow ipmasq hands back to the kernel). Neighbour
  // discovery stays the kernel's: it comes from link-local addresses, or from the WAN's on-link
  // neighbours (an ip rule cannot tell ICMPv6 types apart: their echo replies and errors are the
  // kernel's too, docs/ipv6.md)
  if (x.ipv6 && wanDev && x.masqAddr6) {
    for (const from of ["fe80::/10", ...(x.wanOnLink6 ?? [])])
      rules.push([
        "-6",
        "pref",
        String(PREF_WAN_FIRST - 1),
        "iif",
        wanDev.iface,
        "from",
        from,
        "ipproto",
        "ipv6-icmp",
        "lookup",
        "local",
      ]);
    let pref = PREF_WAN_FIRST;
    for (const range of x.natRanges) {
      // (from inside: hairpinned flows)
      for (const proto of ["tcp", "udp"])
        for (const d of x.devices)
          rules.push([
            "-6",
            "pref",
            String(pref),
            "iif",
            d.iface,
            "to",
            x.masqAddr6,
            "ipproto",
            proto,
            "dport",
            range,
            "lookup",
            tableOf(d),
          ]);
      pref++;
    }
    // and all its ICMPv6 and UDP: UDP fragments carry no ports a rule can match (the kernel's rule
    // lookup sees a fragment's protocol, not its ports), so ipmasq translates a datagram's first
    // fragment and lets the rest through its gate, and hands the gateway's own back
    for (const proto of ["ipv6-icmp", "udp"])
      rules.push([
        "-6",
        "pref",
        String(pref),
        "iif",
        wanDev.iface,
        "to",
        x.masqAddr6,
        "ipproto",
        proto,
        "lookup",
        tableOf(wanDev),
      ]);
  }
  for (const d of x.devices) rules.push(["pref", String(PREF_ALL), "iif", d.iface, "lookup", tableOf(d)]);
  // IPv6 (routed, no NAT ports): everything an interface forwards goes into its device
  if (x.ipv6)
    for (const d of x.devices) rules.push(["-6", "pref", String(PREF_ALL), "iif", d.iface, "lookup", tableOf(d)]);
  const seen = new Set<string>();
  return rules.filter((r) => {
    const k = r.join(" ");
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
