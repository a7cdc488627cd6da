// Finding the WAN and LAN interfaces and addresses, as the seed's setup implies: the WAN is the
// interface of the default route, the LAN the one whose subnet holds the masqueraded network.
import { ipJson } from "./ip";
import { parseAddr, Prefix, inPrefix, formatPrefix, maskOf } from "../net/addr";

export interface Iface { name: string; index: number; mtu: number; addrs: Array<{ addr: number; bits: number }> }

interface IpAddrJson { ifname: string; ifindex: number; mtu: number; addr_info?: Array<{ family: string; local: string; prefixlen: number }> }

export function listInterfaces(): Iface[] {
  return ipJson<IpAddrJson[]>("addr", "show").map((l) => ({
    name: l.ifname, index: l.ifindex, mtu: l.mtu,
    addrs: (l.addr_info ?? []).filter((a) => a.family === "inet").map((a) => ({ addr: parseAddr(a.local), bits: a.prefixlen })),
  }));
}

export function defaultRouteInterface(): string | undefined {
  const routes = ipJson<Array<{ dev?: string }>>("-4", "route", "show", "default");
  return routes.find((r) => r.dev)?.dev;
}

export interface Sides { wan: Iface; lan: Iface; publicAddr: number; lanAddr: number }

export function findSides(masqSources: Prefix[], wanName?: string, lanName?: string): Sides {
  const all = listInterfaces();
  const byName = (n: string): Iface => {
    const i = all.find((x) => x.name === n);
    if (!i) throw new Error(`interface ${n} does not exist (have: ${all.map((x) => x.name).join(", ")})`);
    return i;
  };
  const wName = wanName ?? defaultRouteInterface();
  if (!wName) throw new Error("no default route: cannot tell which interface is the WAN (add a default route or pass --wan IF)");
  const wan = byName(wName);
  if (wan.addrs.length === 0) throw new Error(`WAN interface ${wan.name} has no IPv4 address to masquerade as`);
  let lan: Iface | undefined;
  if (lanName) lan = byName(lanName);
  else {
    // the masqueraded network and the interface's subnet overlap: one holds the other
    const overlaps = (a: { addr: number; bits: number }, p: Prefix): boolean =>
      inPrefix(a.addr, p) || inPrefix(p.addr, { addr: (a.addr & maskOf(a.bits)) >>> 0, bits: a.bits });
    lan = all.find((i) => i.name !== wan.name && i.addrs.some((a) => masqSources.some((p) => overlaps(a, p))));
    if (!lan) throw new Error(`no interface has an address in the masqueraded network${masqSources.length > 1 ? "s" : ""} ${masqSources.map(formatPrefix).join(", ") || "(no MASQ rule with -s)"}: pass --lan IF`);
  }
  if (lan.addrs.length === 0) throw new Error(`LAN interface ${lan.name} has no IPv4 address`);
  return { wan, lan, publicAddr: wan.addrs[0].addr, lanAddr: lan.addrs[0].addr };
}
