// What the kernel says about this namespace's network: interfaces with their addresses, and
// the main routing table (for the WAN, reverse-path checks and the egress interface of -i rules).
import { ipJson } from "./ip";
import type { Route } from "../net/routes";
import { parseAddr, parsePrefix, type Prefix, inPrefix, maskOf } from "../net/addr";

export interface Iface {
  name: string;
  index: number;
  mtu: number;
  up: boolean;
  kind: string;
  addrs: Array<{ addr: number; bits: number }>;
  addrs6: Array<{ addr: string; bits: number }>; // global and unique-local IPv6 addresses (not link-local)
}
export interface NetState {
  interfaces: Iface[];
  routes: Route[];
  defaultDev?: string;
}

interface IpAddrJson {
  ifname: string;
  ifindex: number;
  mtu: number;
  flags?: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }>;
}

export function listInterfaces(): Iface[] {
  return ipJson<IpAddrJson[]>("-d", "addr", "show").map((l) => ({
    name: l.ifname,
    index: l.ifindex,
    mtu: l.mtu,
    up: (l.flags ?? []).includes("UP"),
    kind: l.linkinfo?.info_kind ?? "",
    addrs: (l.addr_info ?? [])
      .filter((a) => a.family === "inet")
      .map((a) => ({ addr: parseAddr(a.local), bits: a.prefixlen })),
    addrs6: (l.addr_info ?? [])
      .filter((a) => a.family === "inet6" && a.scope === "global")
      .map((a) => ({ addr: a.local, bits: a.prefixlen })),
  }));
}

// The main table's unicast routes, longest prefix first; the default route's device.
export function mainRoutes(): { routes: Route[]; defaultDev?: string } {
  const rows = ipJson<Array<{ dst: string; dev?: string; type?: string }>>("-4", "route", "show", "table", "main");
  const routes: Route[] = [];
  let defaultDev: string | undefined;
  for (const r of rows) {
    if (!r.dev || (r.type && r.type !== "unicast")) continue;
    if (r.dst === "default") {
      defaultDev ??= r.dev;
      routes.push({ addr: 0, bits: 0, dev: r.dev });
      continue;
    }
    const p = parsePrefix(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
    routes.push({ addr: p.addr, bits: p.bits, dev: r.dev });
  }
  routes.sort((a, b) => b.bits - a.bits);
  return { routes, defaultDev };
}

export function readNetwork(): NetState {
  return { interfaces: listInterfaces(), ...mainRoutes() };
}

// The interface a packet to `addr` leaves by (longest prefix match), undefined without a route.
// The LAN interfaces: `--lan IF`, or every interface (not the WAN) whose subnet overlaps a
// masqueraded network (one holds the other).
export function lanInterfaces(all: Iface[], masqSources: Prefix[], wan: string | undefined, lanName?: string): Iface[] {
  if (lanName) return all.filter((i) => i.name === lanName);
  const overlaps = (a: { addr: number; bits: number }, p: Prefix): boolean =>
    inPrefix(a.addr, p) || inPrefix(p.addr, { addr: (a.addr & maskOf(a.bits)) >>> 0, bits: a.bits });
  return all.filter((i) => i.name !== wan && i.addrs.some((a) => masqSources.some((p) => overlaps(a, p))));
}
